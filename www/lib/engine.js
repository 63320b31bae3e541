// The engine: the site's larger wasm module (training, Grad-CAM, scoring, classical fitting, WebGPU),
// which only the page's workers load, never before the first answer. The page's own module (trunk's)
// classifies on the CPU; everything that needs autodiff or a GPU goes through a worker running
// worker.js with the engine. index.html names the engine's files (<meta name="fashionlab-engine">,
// written by .ci/engine.sh).

import { FromWorker, ToWorker } from "./protocol.js";

// The engine's glue and wasm URLs, resolved against the page.
function engineUrls() {
  const names = document.querySelector("meta[name='fashionlab-engine']")?.content?.split(" ") ?? [];
  if (names.length !== 2) return null;
  return { glue: new URL(names[0], document.baseURI).href, wasm: new URL(names[1], document.baseURI).href };
}

// Starts a worker running www/worker.js with the engine: {worker, ready}, `ready` resolving once the
// worker has loaded the module.
export function startWorker() {
  const urls = engineUrls();
  if (!urls) return { worker: null, ready: Promise.reject(new Error("this page names no engine module (index.html)")) };
  const worker = new Worker("worker.js", { type: "module" });
  const ready = new Promise((resolve, reject) => {
    worker.onmessage = (ev) => (ev.data.type === FromWorker.READY ? resolve() : reject(new Error(ev.data.message)));
    worker.onerror = (ev) => reject(new Error(ev.message || "the worker failed to start"));
  });
  worker.postMessage({ type: ToWorker.INIT, ...urls });
  return { worker, ready };
}

// One long-lived engine worker for the page's own requests: the backend (the header's choice),
// Grad-CAM and adversarial examples. `selectBackend(preference)` loads it the first time;
// `onBackend(report)` hears every backend it picks and `onLost(reason)` a lost GPU device, after which
// the worker is replaced by one on the CPU.
export function engineClient({ onBackend, onLost }) {
  let worker = null, loading = null, nextId = 1;
  const pending = new Map(); // id → {resolve, reject}
  const request = (message) => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    worker.postMessage({ ...message, id });
  });
  const fail = (error) => { for (const p of pending.values()) p.reject(error); pending.clear(); };
  const start = (preference) => {
    loading ??= (async () => {
      const started = startWorker();
      worker = started.worker;
      await started.ready;
      worker.onmessage = (ev) => {
        const m = ev.data, p = pending.get(m.id);
        if (m.type === FromWorker.DEVICE_LOST) {
          // Its GPU work can no longer finish: end this worker and go on with one on the CPU.
          const error = Object.assign(new Error(`the GPU device was lost (${m.message})`), { deviceLost: true });
          restart("flex");
          fail(error);
          onLost?.(m.message);
          return;
        }
        if (!p) return;
        pending.delete(m.id);
        if (m.type === FromWorker.ERROR) p.reject(new Error(m.message));
        else p.resolve(m);
      };
      worker.onerror = (ev) => { ev.preventDefault(); fail(new Error(ev.message || "the engine worker failed")); };
      return select(preference);
    })();
    loading.catch(() => { loading = null; worker?.terminate(); worker = null; });
    return loading;
  };
  const select = async (preference) => {
    const { report } = await request({ type: ToWorker.SELECT_BACKEND, backend: preference });
    onBackend?.(report);
    return report;
  };
  const restart = (preference) => {
    worker?.terminate();
    worker = null; loading = null;
    return start(preference);
  };
  return {
    // Whether the engine has loaded (requests made before wait for it).
    get ready() { return loading; },
    // Picks the backend; the first call loads the engine, which picks it on the way.
    async selectBackend(preference) {
      if (!loading) return start(preference);
      await loading;
      return select(preference);
    },
    // Grad-CAM of `pixels` (784) for `cls` by the deep model in `bytes`, kept in the worker under `key`.
    async gradCam(key, bytes, pixels, cls) {
      await (loading ?? Promise.reject(new Error("the engine has not been started")));
      return (await request({ type: ToWorker.EXPLAIN, key, bytes, pixels, class: cls })).cam;
    },
    // Adversarial examples against the deep model in `bytes` (kept under `key`): `pixels` (n × 784) of
    // classes `labels` perturbed by `config` ({method, epsilon, steps, seed}); resolves to n × 784 pixels.
    async attack(key, bytes, pixels, labels, config) {
      await (loading ?? Promise.reject(new Error("the engine has not been started")));
      return (await request({ type: ToWorker.ATTACK, key, bytes, pixels, labels, config })).pixels;
    },
  };
}
