// Drives a netssm kernel server with the unmodified @jupyterlab/services
// client (the client library of JupyterLab and Notebook 7) on Node with ws.
//
// Input: the JSON in $NETSSM_DRIVER:
//   {"baseUrl": "http://127.0.0.1:PORT", "token": "T", "framing": "v1"|"legacy",
//    "steps": [{"op": "execute", "code": "..."},
//              {"op": "interrupt", "code": "...", "afterMs": 300},
//              {"op": "restart"}, {"op": "session", "code": "..."}, {"op": "shutdown"}]}
// "legacy" hides the v1 subprotocol from the server, which makes the client
// fall back to JSON frames exactly as it does with servers that do not echo it.
// Output: one JSON object on stdout with what the client saw, for the Go test
// to check. Exit status 1 on any client error.
'use strict';
const { KernelManager, SessionManager, KernelSpecAPI, ServerConnection } = require('@jupyterlab/services');
const WS = require('ws');

class LegacyWS extends WS {
  constructor(url, protocols, options) {
    super(url, [], options);
  }
}

// The client logs to the console; keep stdout for the result.
for (const k of ['log', 'debug', 'info', 'warn']) console[k] = (...a) => console.error(...a);

const cfg = JSON.parse(process.env.NETSSM_DRIVER || '{}');
const guard = setTimeout(() => {
  console.error('driver: timed out');
  process.exit(2);
}, cfg.timeoutMs || 60000);

function summarize(msg) {
  const c = msg.content || {};
  const out = { type: msg.header.msg_type };
  if (c.name) out.name = c.name;
  if (c.text !== undefined) out.text = c.text;
  if (c.data) out.data = c.data;
  if (c.execution_state) out.state = c.execution_state;
  if (c.ename) out.ename = c.ename;
  if (c.evalue !== undefined) out.evalue = c.evalue;
  if (c.execution_count !== undefined) out.count = c.execution_count;
  return out;
}

async function execute(kernel, code, onStarted) {
  const future = kernel.requestExecute({ code, stop_on_error: true });
  const iopub = [];
  future.onIOPub = msg => {
    iopub.push(summarize(msg));
    if (onStarted && msg.header.msg_type === 'execute_input') onStarted();
  };
  const t0 = Date.now();
  const reply = await future.done.catch(e => e && e.content ? e : Promise.reject(e));
  return { iopub, reply: reply.content, ms: Date.now() - t0 };
}

async function main() {
  const settings = ServerConnection.makeSettings({
    baseUrl: cfg.baseUrl,
    wsUrl: cfg.baseUrl.replace(/^http/, 'ws'),
    token: cfg.token,
    appendToken: true,
    WebSocket: cfg.framing === 'legacy' ? LegacyWS : WS,
  });
  const result = { steps: [] };
  const specs = await KernelSpecAPI.getSpecs(settings);
  result.specs = { default: specs.default, names: Object.keys(specs.kernelspecs),
    display_name: specs.kernelspecs.netssm && specs.kernelspecs.netssm.display_name,
    language: specs.kernelspecs.netssm && specs.kernelspecs.netssm.language };

  const km = new KernelManager({ serverSettings: settings });
  const sm = new SessionManager({ serverSettings: settings, kernelManager: km });
  const kernel = await km.startNew({ name: 'netssm' });
  const info = await kernel.info;
  result.info = { protocol_version: info.protocol_version, language_info: info.language_info, implementation: info.implementation };
  result.protocol = kernel._ws ? kernel._ws.protocol : null;
  const statuses = [];
  kernel.statusChanged.connect((_, s) => statuses.push(s));

  for (const step of cfg.steps) {
    const r = { op: step.op };
    if (step.op === 'execute') {
      Object.assign(r, await execute(kernel, step.code));
    } else if (step.op === 'interrupt') {
      let started;
      const begun = new Promise(res => { started = res; });
      const p = execute(kernel, step.code, started);
      await begun;
      await new Promise(res => setTimeout(res, step.afterMs || 300));
      const t0 = Date.now();
      await kernel.interrupt();
      Object.assign(r, await p);
      r.interruptMs = Date.now() - t0;
    } else if (step.op === 'restart') {
      const t0 = Date.now();
      await kernel.restart();
      await kernel.info;
      r.ms = Date.now() - t0;
      r.status = kernel.status;
    } else if (step.op === 'session') {
      const session = await sm.startNew({ path: 'driver.ipynb', name: 'driver.ipynb', type: 'notebook', kernel: { name: 'netssm' } });
      r.sessionKernel = session.kernel.name;
      Object.assign(r, await execute(session.kernel, step.code));
      const listed = [];
      for (const s of await (await import('@jupyterlab/services')).SessionAPI.listRunning(settings)) listed.push(s.path);
      r.listed = listed;
      await session.shutdown();
    } else if (step.op === 'shutdown') {
      await kernel.shutdown();
      await km.refreshRunning();
      r.running = Array.from(km.running()).map(m => m.id);
      r.status = kernel.status;
    }
    result.steps.push(r);
  }
  result.statuses = statuses;
  km.dispose();
  sm.dispose();
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().then(() => {
  clearTimeout(guard);
  process.exit(0);
}, err => {
  console.error('driver:', err && err.stack || err);
  process.exit(1);
});
