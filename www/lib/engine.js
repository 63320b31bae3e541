// The engine: the site's larger wasm modules (training, Grad-CAM, scoring, classical fitting, WebGPU),
// which only the page's workers load, never before the first answer. The page's own module (trunk's)
// classifies on the CPU; everything that needs autodiff or a GPU goes through a worker running
// worker.js with an engine. There are two engines, each named in index.html by .ci/engine.sh:
//  - <meta name="fashionlab-engine">: WebGPU, or one thread on the CPU;
//  - <meta name="fashionlab-threads">: the CPU only, on a pool of threads (rayon on Web Workers sharing
//    the module's memory). Shared memory needs cross-origin isolation (COOP/COEP headers, from the
//    server or from sw.js), and a build made with nightly; without either, the page trains on one thread.

import { FromWorker, ToWorker } from "./protocol.js";

// A module's glue and wasm URLs, resolved against the page, from its <meta name="fashionlab-NAME">.
function moduleUrls(name) {
  const names = document.querySelector(`meta[name='fashionlab-${name}']`)?.content?.split(" ") ?? [];
  if (names.length !== 2) return null;
  return { glue: new URL(names[0], document.baseURI).href, wasm: new URL(names[1], document.baseURI).href };
}

// Whether CPU work can run on several threads here: {available, reason (when not), cores}.
export function threadSupport() {
  const cores = Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 64));
  if (!moduleUrls("threads")) return { available: false, reason: "this build has no threaded engine", cores };
  if (!self.crossOriginIsolated) {
    const later = "serviceWorker" in navigator ? "; the site's service worker isolates it from the next visit on" : "";
    return { available: false, reason: `the page is not cross-origin isolated, so the browser gives it no shared memory${later}`, cores };
  }
  return { available: true, reason: null, cores };
}

// The number of CPU threads the header asks the workers to use (0: the single-threaded engine).
export function cpuThreads() {
  return Number(document.body.dataset.threads || 0);
}

// The threads for a worker on `backend` (the header's pick, "wgpu" or "flex"): the header's count on the
// CPU, none (the WebGPU engine) otherwise.
export function threadsFor(backend) {
  return backend === "flex" ? cpuThreads() : 0;
}

// Starts a worker running www/worker.js with an engine: {worker, ready}, `ready` resolving once the
// worker has loaded the module. `threads` ≥ 2
// (CPU work only) takes the threaded engine with a pool of that many threads, where this page has it;
// otherwise the single-threaded engine, which on one thread is about 10% faster than the threaded engine
// with a pool of one (BENCHMARKS.md, "Threads in the page").
export function startWorker({ threads = 0 } = {}) {
  const pool = threads >= 2 && threadSupport().available ? threads : 0;
  const urls = moduleUrls("engine");
  if (!urls) return { worker: null, ready: Promise.reject(new Error("this page names no engine module (index.html)")) };
  const worker = new Worker("worker.js", { type: "module" });
  const ready = new Promise((resolve, reject) => {
    worker.onmessage = (ev) => (ev.data.type === FromWorker.READY ? resolve() : reject(new Error(ev.data.message)));
    worker.onerror = (ev) => reject(new Error(ev.message || "the worker failed to start"));
  });
  // The single-threaded engine is the fallback where the threaded one cannot load (offline before it was
  // ever used, or a browser that refuses its shared memory).
  const message = pool ? { ...moduleUrls("threads"), threads: pool, fallback: urls } : { ...urls, threads: 0 };
  worker.postMessage({ type: ToWorker.INIT, ...message });
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
