// "Train a classical model": a fit in a background worker (progress, cancel), scored on the images it
// did not see; the model joins "Your models".

import { $, cell, pct, secs } from "../lib/dom.js";
import { cpuThreads, startWorker } from "../lib/engine.js";
import { FromWorker, ToWorker } from "../lib/protocol.js";
import { data, datasetMessage } from "./dataset.js";
import { addYourModel } from "./yours.js";

// The background worker that fits classical models. Cancelling terminates it; the next fit starts a new one.
function classicalTrainer() {
  let worker = null, ready = null, nextId = 1;
  // A fit runs on the CPU: on the header's count of threads, in a fresh worker when that count changes.
  let threads = null;
  const start = () => {
    threads = cpuThreads();
    ({ worker, ready } = startWorker({ threads }));
  };
  return {
    async fit(model, trainSize, dataset, onProgress) {
      if (worker && threads !== cpuThreads()) this.cancel();
      if (!worker) start();
      await ready;
      const id = nextId++;
      return new Promise((resolve, reject) => {
        this.reject = reject;
        worker.onmessage = (ev) => {
          const m = ev.data;
          if (m.id !== id) return;
          if (m.type === FromWorker.PROGRESS) onProgress(m);
          else if (m.type === FromWorker.DONE) resolve(m);
          else if (m.type === FromWorker.ERROR) reject(new Error(m.message));
        };
        worker.onerror = (ev) => {
          ev.preventDefault();
          worker.terminate();
          worker = null; // the next fit starts a fresh worker
          reject(new Error(`the worker crashed (${ev.message || "unknown error"}); try again`));
        };
        worker.postMessage({ type: ToWorker.FIT_CLASSICAL, id, model, trainSize,
          dataset: datasetMessage(dataset) });
      });
    },
    cancel() {
      if (worker) worker.terminate();
      worker = null;
      if (this.reject) this.reject(new Error("cancelled"));
    },
  };
}

export function wireClassical(wasm) {
  const trainer = classicalTrainer();
  const [form, status, bar, trainBtn, cancelBtn] =
    ["classical-form", "classical-status", "classical-progress", "classical-train", "classical-cancel"].map($);
  const setBusy = (busy) => { trainBtn.disabled = busy; cancelBtn.disabled = !busy; bar.hidden = !busy; };
  cancelBtn.addEventListener("click", () => trainer.cancel());
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!data.current) { status.textContent = "Load a dataset first."; return; }
    const model = $("classical-model").value;
    const size = Math.floor(Number($("classical-size").value));
    if (!(size >= 10 && size <= data.current.length)) {
      status.textContent = `Choose between 10 and ${data.current.length.toLocaleString()} training images.`;
      status.classList.add("error");
      return;
    }
    status.classList.remove("error");
    setBusy(true);
    bar.value = 0;
    const trainedOn = data.current;
    const label = $("classical-model").selectedOptions[0].textContent;
    status.textContent = `Fitting ${label} on ${size.toLocaleString()} images in the background…`;
    try {
      const r = await trainer.fit(model, size, data.current, (p) => {
        bar.value = p.stage === "features" ? 0.05 : 0.1 + 0.9 * p.fraction;
        status.textContent = `Fitting ${label}: ${p.stage === "features" ? "computing features" : `${Math.round(100 * p.fraction)}%`}`;
      });
      const row = $("classical-results").tBodies[0].insertRow(0);
      cell(row, label);
      cell(row, r.trainSize.toLocaleString());
      cell(row, r.accuracy === null ? "–" : pct(r.accuracy)).className = "accuracy";
      cell(row, `${r.heldOut.toLocaleString()} images`);
      cell(row, secs(r.fitSeconds));
      cell(row, r.config.pipeline);
      const link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([r.bytes], { type: "application/octet-stream" }));
      link.download = `${model}.model`;
      link.textContent = `${(r.bytes.length / 1024).toFixed(0)} KB`;
      row.insertCell().append(link);
      status.textContent = `${label}: ${r.accuracy === null ? "fitted" : `${pct(r.accuracy)} on ${r.heldOut.toLocaleString()} held-out images`}.`;
      document.body.dataset.classical = String(Number(document.body.dataset.classical || 0) + 1);
      addYourModel(wasm, r.bytes, `trained here: ${size.toLocaleString()} images`, trainedOn.split === null);
    } catch (e) {
      status.textContent = e.message === "cancelled" ? "Cancelled." : `Training failed: ${e.message || e}`;
      status.classList.toggle("error", e.message !== "cancelled");
    } finally {
      setBusy(false);
    }
  });
}
