"""Interrupt, restart and shutdown of the netssm kernel through
jupyter_client's KernelManager (the code path of JupyterLab, jupyter
console and nbclient). Prints one JSON object with what happened; the Go
test TestLifecycle checks it. The kernelspec's interrupt_mode decides
whether interrupt_kernel() sends SIGINT or an interrupt_request.
"""

import json
import os
import sys
import time
from queue import Empty

from jupyter_client.manager import KernelManager

TIMEOUT = 30


def run(kc, code, timeout=TIMEOUT):
    """Execute code; return (reply content, iopub messages of this request)."""
    msg_id = kc.execute(code)
    return wait(kc, msg_id, timeout)


def wait(kc, msg_id, timeout=TIMEOUT):
    deadline = time.time() + timeout
    while True:
        reply = kc.get_shell_msg(timeout=max(0.1, deadline - time.time()))
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    outputs = []
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.time()))
        except Empty:
            break
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
        outputs.append(msg)
    return reply["content"], outputs


def result_text(outputs):
    for m in outputs:
        if m["msg_type"] == "execute_result":
            return m["content"]["data"].get("text/plain")
    return None


def main():
    name = os.environ.get("NETSSM_KERNEL_NAME", "netssm")
    res = {}
    km = KernelManager(kernel_name=name)
    km.start_kernel()
    res["interrupt_mode"] = km.kernel_spec.interrupt_mode
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=TIMEOUT)

    run(kc, "x := 41")
    msg_id = kc.execute("for {}")
    time.sleep(1.0)  # let the loop start
    t0 = time.time()
    km.interrupt_kernel()
    reply, outputs = wait(kc, msg_id, timeout=15)
    res["interrupt_seconds"] = round(time.time() - t0, 3)
    res["interrupt_status"] = reply["status"]
    res["interrupt_ename"] = reply.get("ename")
    reply, outputs = run(kc, "x + 1")
    res["after_interrupt"] = result_text(outputs)

    pid = km.provisioner.process.pid
    t0 = time.time()
    km.restart_kernel(now=False)
    kc.wait_for_ready(timeout=TIMEOUT)
    res["restart_seconds"] = round(time.time() - t0, 3)
    res["restart_new_process"] = km.provisioner.process.pid != pid
    reply, outputs = run(kc, "x")
    res["after_restart_status"] = reply["status"]
    reply, outputs = run(kc, "y := 2\ny * 21")
    res["after_restart_result"] = result_text(outputs)

    proc = km.provisioner.process
    t0 = time.time()
    km.shutdown_kernel(now=False)
    res["shutdown_seconds"] = round(time.time() - t0, 3)
    res["shutdown_exit_code"] = proc.returncode
    kc.stop_channels()
    print(json.dumps(res))


if __name__ == "__main__":
    sys.exit(main())
