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
// Cancelling is terminating the worker: a fit is synchronous in wasm, so the page starts a fresh worker.

let wasm = null;

const post = (message, transfer = []) => self.postMessage(message, transfer);

self.onmessage = async (event) => {
  const msg = event.data;
  try {
    if (msg.type === "init") {
      wasm = await import(msg.glue);
      await wasm.default({ module_or_path: msg.wasm });
      post({ type: "ready" });
    } else if (msg.type === "fit-classical") {
      if (!wasm) throw new Error("the worker has not loaded the wasm module yet");
      const { images, labels, split } = msg.dataset;
      const dataset = split
        ? wasm.WebDataset.fromOfficial(split, images, labels)
        : wasm.WebDataset.fromIdx(images, labels, "dataset");
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
    }
  } catch (e) {
    post({ type: "error", id: msg.id, message: String(e && e.message ? e.message : e) });
  }
};
