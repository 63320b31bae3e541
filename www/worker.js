// Fashion Lab worker: fits the classical models off the UI thread, with the same wasm module as the page.
//
// Messages in (from the page):
//   {type: "init", glue, wasm}                      URLs of the wasm-bindgen glue and the .wasm file
//   {type: "fit-classical", id, model, trainSize, dataset: {images, labels, split}}
//       images/labels: the IDX files (gzip or raw) of the dataset shown in the page; split: "train" or
//       "test" for official files (checksummed), null for the built-in sample.
// Messages out (to the page):
//   {type: "ready"}
//   {type: "progress", id, stage, fraction}
//   {type: "done", id, model, trainSize, accuracy, heldOut, fitSeconds, config, bytes}
//   {type: "error", id, message}
//   {type: "train-deep", id, model, backend, recipe, trainSize, dataset}
//       trains the CNN, ResNet or MLP one batch at a time with the same loop and recipe as the native CLI
//       (`recipe`: edits to the shipped recipe, as WebTrainer takes them); replies {type: "backend", id,
//       report}, {type: "recipe", id, recipe} (the recipe in use), then {type: "batch", id, progress} (at
//       most ~4 a second)
//       and {type: "epoch", id, record}, then {type: "trained", id, model, history, bytes}
//   {type: "pause", id} / {type: "resume", id} / {type: "stop", id}   between batches
//   {type: "device-lost", id, message}   this worker's WebGPU device was lost: its GPU work cannot finish,
//       the page ends the worker and goes on with the CPU
//   {type: "evaluate", id, bytes, backend, dataset}
//       scores a model file (.weights or .model, as modelFileKind reads it) on a dataset; replies
//       {type: "evaluated", id, family, kind, results} (results: the `test` shape of pretrained/*.json)
// A classical fit is synchronous in wasm: cancelling it is terminating the worker (the page starts a
// fresh one). Deep training yields between batches, so it can be paused and stopped (keeping the best
// epoch so far).

let wasm = null;

const post = (message, transfer = []) => self.postMessage(message, transfer);

// The WebGPU devices this worker opens (burn's wgpu backend asks through this API), watched for loss.
self.gpuDevices = [];
let currentId = null;
let gpuLost = null; // resolves with the reason once a device is lost
const gpuLostReason = new Promise((resolve) => { gpuLost = resolve; });
if (self.GPUAdapter?.prototype?.requestDevice) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    self.gpuDevices.push(device);
    device.lost.then((info) => gpuLost(info.message || info.reason || "no reason given"));
    return device;
  };
}
gpuLostReason.then((message) => post({ type: "device-lost", id: currentId, message }));

// An error from GPU work often arrives just before the device's loss is reported: wait a moment for it,
// so that the page hears "device lost" (and falls back) rather than a bare failure.
async function lostDevice() {
  if (!self.gpuDevices.length) return null;
  return Promise.race([gpuLostReason, new Promise((resolve) => setTimeout(() => resolve(null), 1000))]);
}

// The page's dataset from its IDX bytes: official files are checksummed, the built-in sample is not.
function datasetOf({ images, labels, split }) {
  if (!wasm) throw new Error("the worker has not loaded the wasm module yet");
  return split ? wasm.WebDataset.fromOfficial(split, images, labels) : wasm.WebDataset.fromIdx(images, labels, "dataset");
}

self.onmessage = async (event) => {
  const msg = event.data;
  if (msg.id !== undefined && msg.type !== "pause" && msg.type !== "resume" && msg.type !== "stop") currentId = msg.id;
  try {
    if (msg.type === "init") {
      wasm = await import(msg.glue);
      await wasm.default({ module_or_path: msg.wasm });
      post({ type: "ready" });
    } else if (msg.type === "fit-classical") {
      const dataset = datasetOf(msg.dataset);
      const progress = (p) => {
        post({ type: "progress", id: msg.id, stage: p.stage, fraction: p.fraction });
        return true;
      };
      const model = wasm.WebClassical.fit(msg.model, dataset, { train_size: msg.trainSize }, progress);
      const heldOut = dataset.heldOut(msg.trainSize);
      const scores = heldOut.length > 0 ? model.evaluate(heldOut) : null;
      const bytes = model.toBytes();
      post({
        type: "done", id: msg.id, model: msg.model, trainSize: msg.trainSize,
        accuracy: scores ? scores.accuracy : null, heldOut: heldOut.length,
        fitSeconds: model.fitSeconds, config: model.config(), bytes,
      }, [bytes.buffer]);
      model.free(); heldOut.free(); dataset.free();
    } else if (msg.type === "evaluate") {
      const dataset = datasetOf(msg.dataset);
      const { family, kind } = wasm.modelFileKind(msg.bytes);
      let results;
      if (family === "deep") {
        await wasm.selectBackend(msg.backend || "auto");
        const model = wasm.WebModel.fromBytes(msg.bytes);
        results = await model.evaluate(dataset);
        model.free();
      } else {
        const model = wasm.WebClassical.fromBytes(msg.bytes, kind);
        results = model.evaluate(dataset);
        model.free();
      }
      dataset.free();
      post({ type: "evaluated", id: msg.id, family, kind, results });
    } else if (msg.type === "train-deep") {
      await trainDeep(msg);
    } else if (msg.type === "pause" || msg.type === "resume" || msg.type === "stop") {
      control[msg.type === "resume" ? "paused" : msg.type === "pause" ? "paused" : "stopped"] = msg.type !== "resume";
      if (msg.type !== "pause" && control.wake) control.wake();
    }
  } catch (e) {
    if (await lostDevice()) return; // reported as "device-lost"
    post({ type: "error", id: msg.id, message: String(e && e.message ? e.message : e) });
  }
};

const control = { paused: false, stopped: false, wake: null };

async function trainDeep(msg) {
  Object.assign(control, { paused: false, stopped: false, wake: null });
  const all = datasetOf(msg.dataset);
  const report = await wasm.selectBackend(msg.backend || "auto");
  post({ type: "backend", id: msg.id, report });
  const dataset = msg.trainSize && msg.trainSize < all.length ? all.balanced(msg.trainSize) : all;
  const trainer = new wasm.WebTrainer(msg.model, dataset, { recipe: msg.recipe || {} });
  post({ type: "recipe", id: msg.id, recipe: trainer.recipe() });
  const history = [];
  let lastPost = 0, lastYield = performance.now();
  for (;;) {
    // A CPU step resolves without ever leaving the task, so pause/stop messages would wait until the end:
    // give the event loop a turn at least every 50 ms.
    if (performance.now() - lastYield > 50) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      lastYield = performance.now();
    }
    while (control.paused && !control.stopped) await new Promise((resolve) => { control.wake = resolve; });
    if (control.stopped) break;
    const step = await trainer.step();
    if (step.kind === "batch") {
      const now = performance.now();
      if (now - lastPost > 250) { post({ type: "batch", id: msg.id, progress: step.progress }); lastPost = now; }
    } else if (step.kind === "epoch") {
      history.push(step.record);
      post({ type: "epoch", id: msg.id, record: step.record });
    } else break;
  }
  const model = trainer.finish();
  const bytes = await model.toBytes();
  // wasm objects are freed here, not left to the garbage collector: each holds tensors (GPU buffers on
  // WebGPU), and back-to-back runs would otherwise pile them up (tests/e2e/load.mjs counts them).
  model.free();
  trainer.free();
  if (dataset !== all) dataset.free();
  all.free();
  post({ type: "trained", id: msg.id, model: msg.model, history, stopped: control.stopped, bytes }, [bytes.buffer]);
}
