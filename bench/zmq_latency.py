"""Round-trip latency of a kernel over ZMQ, measured with jupyter_client
(the client JupyterLab's server, nbclient and jupyter console use).

    /usr/bin/python3 bench/zmq_latency.py KERNEL_NAME [N]

For kernel_info, is_complete, complete and a trivial execute (until the
reply and the idle status), prints the median and 90th percentile in ms.
bench/zmq-latency.sh runs it for netssm and for ipykernel side by side.
"""

import statistics
import sys
import time
from queue import Empty

from jupyter_client.manager import start_new_kernel


def wait_idle(kc, msg_id):
    while True:
        msg = kc.get_iopub_msg(timeout=10)
        if (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
        ):
            return


def main():
    name = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    code = {"netssm": "1", "python3": "1"}.get(name, "1")
    km, kc = start_new_kernel(kernel_name=name)
    try:
        ops = {
            "kernel_info": lambda: kc.kernel_info(),
            "is_complete": lambda: kc.is_complete("x := 6*7" if name != "python3" else "x = 6*7"),
            "complete": lambda: kc.complete("strings.ToUp" if name != "python3" else "str.upp"),
            "execute": lambda: kc.execute(code),
        }
        if name != "python3":
            kc.execute_interactive('import "strings"', timeout=30)
        for op, send in ops.items():
            ts = []
            for i in range(n + 10):
                t = time.perf_counter()
                msg_id = send()
                while True:
                    reply = kc.get_shell_msg(timeout=10)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        break
                wait_idle(kc, msg_id)
                if i >= 10:  # warm-up
                    ts.append((time.perf_counter() - t) * 1000)
            ts.sort()
            print(
                "%-8s %-12s median %6.2f ms  p90 %6.2f ms  (n=%d)"
                % (name, op, statistics.median(ts), ts[int(len(ts) * 0.9)], n)
            )
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
