"""Executes a notebook through a Jupyter Server that runs in --gateway-url
mode in front of netssm kernel: the kernel is started over the front
server's REST API and driven over the front server's websocket, so every
message crosses jupyter_server's gateway code unmodified.

usage: /usr/bin/python3 front_client.py URL TOKEN NOTEBOOK.ipynb
prints one JSON object: {"kernel": model, "cells": [{"reply": ..., "outputs": [...]}]}
"""
import asyncio
import json
import sys
import uuid
from datetime import datetime, timezone

from tornado import httpclient, ioloop, websocket
import nbformat


def msg(msg_type, content):
    return {
        "header": {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": SESSION,
                   "username": "test", "version": "5.3",
                   "date": datetime.now(timezone.utc).isoformat()},
        "parent_header": {}, "metadata": {}, "content": content, "channel": "shell", "buffers": [],
    }


SESSION = uuid.uuid4().hex


async def reader(ws, queue):
    while True:
        raw = await ws.read_message()
        await queue.put(raw)
        if raw is None:
            return


async def request(ws, queue, m, timeout=None):
    await ws.write_message(json.dumps(m))
    reply, outputs, idle = None, [], False
    while reply is None or not idle:
        raw = await asyncio.wait_for(queue.get(), timeout)
        if raw is None:
            raise SystemExit("websocket closed while waiting for %s" % m["header"]["msg_type"])
        r = json.loads(raw)
        if r.get("parent_header", {}).get("msg_id") != m["header"]["msg_id"]:
            continue
        t = r["header"]["msg_type"]
        if t.endswith("_reply"):
            reply = r["content"]
        elif t == "status":
            idle = r["content"]["execution_state"] == "idle"
        else:
            outputs.append({"type": t, "content": r["content"]})
    return reply, outputs


async def main(url, token, path):
    nb = nbformat.read(path, as_version=4)
    http = httpclient.AsyncHTTPClient()
    hdr = {"Authorization": "token " + token}
    resp = await http.fetch(url + "/api/kernels", method="POST", headers=hdr,
                            body=json.dumps({"name": "netssm"}))
    model = json.loads(resp.body)
    kid = model["id"]
    ws = await websocket.websocket_connect(
        httpclient.HTTPRequest(url.replace("http", "ws", 1) + "/api/kernels/%s/channels" % kid, headers=hdr))
    queue = asyncio.Queue()
    asyncio.ensure_future(reader(ws, queue))
    # jupyter_server 1.23 drops messages that arrive before its own
    # websocket to the gateway is open, so, like JupyterLab, retry
    # kernel_info until the kernel answers.
    for attempt in range(60):
        try:
            info, _ = await request(ws, queue, msg("kernel_info_request", {}), timeout=1)
            break
        except asyncio.TimeoutError:
            continue
    else:
        raise SystemExit("no kernel_info_reply through the front server")
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        reply, outputs = await request(ws, queue, msg("execute_request", {
            "code": cell.source, "silent": False, "store_history": True,
            "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}))
        cells.append({"reply": reply, "outputs": outputs})
        if reply["status"] != "ok":
            break
    ws.close()
    listed = json.loads((await http.fetch(url + "/api/kernels", headers=hdr)).body)
    await http.fetch(url + "/api/kernels/" + kid, method="DELETE", headers=hdr)
    after = json.loads((await http.fetch(url + "/api/kernels", headers=hdr)).body)
    print(json.dumps({"kernel": model, "info": info, "cells": cells,
                      "listed": [k["id"] for k in listed], "after": [k["id"] for k in after]}))


if __name__ == "__main__":
    ioloop.IOLoop.current().run_sync(lambda: main(*sys.argv[1:4]), timeout=float(__import__("os").environ.get("FRONT_TIMEOUT", "120")))
