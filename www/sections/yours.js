// "Your models": models trained here or model files loaded back, scored in a worker beside the shipped
// model of the same kind; they answer in the classifier too.

import { $, cell, pct, wireFileDrop } from "../lib/dom.js";
import { startWorker, threadsFor } from "../lib/engine.js";
import { fetchBytes } from "../lib/fetch.js";
import { TITLES } from "../lib/models.js";
import { FromWorker, ToWorker } from "../lib/protocol.js";
import { gpuLost } from "./backend.js";
import { data, datasetMessage, testSet } from "./dataset.js";
import { summaries } from "./shipped.js";

// Scores a model file in a fresh worker (the page stays responsive), then ends the worker.
async function evaluateInWorker(bytes, source) {
  const { worker, ready } = startWorker({ threads: threadsFor(document.body.dataset.backend) });
  try {
    await ready;
    return await new Promise((resolve, reject) => {
      worker.onmessage = (ev) => {
        if (ev.data.type === FromWorker.EVALUATED) resolve(ev.data);
        else if (ev.data.type === FromWorker.ERROR) reject(new Error(ev.data.message));
        else if (ev.data.type === FromWorker.DEVICE_LOST) {
          gpuLost(ev.data.message);
          reject(new Error(`the GPU device was lost (${ev.data.message}); score it again on the CPU`));
        }
      };
      worker.onerror = (ev) => reject(new Error(ev.message || "the worker failed"));
      worker.postMessage({ type: ToWorker.EVALUATE, id: 1, bytes, backend: document.body.dataset.backend || "auto",
        dataset: datasetMessage(source) });
    });
  } finally {
    worker?.terminate();
  }
}

// Models trained on this page or loaded from a file: {key, title, family, kind, bytes, model}.
export const yours = [];

// Adds a model file to "Your models": scores it beside the shipped model of the same kind and lets it
// classify. `from` says where it came from; `trainedOnSample`: it was trained on the built-in sample,
// which is part of the test set.
export async function addYourModel(wasm, bytes, from, trainedOnSample = false) {
  const status = $("yours-status");
  status.classList.remove("error");
  let info, model;
  try {
    info = wasm.modelFileKind(bytes);
    model = info.family === "deep" ? wasm.WebModel.fromBytes(bytes) : wasm.WebClassical.fromBytes(bytes, info.kind);
  } catch (e) {
    status.textContent = `That file cannot be used: ${e.message || e}`;
    status.classList.add("error");
    return;
  }
  const same = yours.filter((y) => y.kind === info.kind).length;
  const entry = { key: `yours-${yours.length + 1}`, title: `${TITLES[info.kind]} (yours${same ? ` ${same + 1}` : ""})`,
    family: info.family, kind: info.kind, bytes, model };
  yours.push(entry);
  const row = $("yours-table").tBodies[0].insertRow();
  cell(row, entry.title);
  cell(row, from);
  const [onCell, mineCell, shippedCell, diffCell] = [cell(row, "…"), cell(row, "scoring…"), cell(row, "…"), cell(row, "…")];
  status.textContent = `${entry.title}: scoring it on the test images in the background…`;
  try {
    let set;
    try {
      set = { source: (await testSet(wasm)).source, label: "the 10,000 test images", full: true };
    } catch {
      set = { source: data.sample, label: "the built-in sample (1,000 test images)", full: false };
    }
    const mine = (await evaluateInWorker(bytes, set.source)).results.accuracy;
    const ext = info.family === "deep" ? "weights" : "model";
    const shippedAccuracy = set.full && summaries[info.kind] ? summaries[info.kind].test.accuracy
      : (await evaluateInWorker(await fetchBytes(`pretrained/${info.kind}.${ext}`), set.source)).results.accuracy;
    onCell.textContent = set.label + (trainedOnSample ? " (its training images are among them: optimistic)" : "");
    mineCell.textContent = pct(mine);
    mineCell.className = "accuracy";
    shippedCell.textContent = pct(shippedAccuracy);
    const points = 100 * (mine - shippedAccuracy);
    diffCell.textContent = `${points >= 0 ? "+" : "−"}${Math.abs(points).toFixed(2)} points`;
    status.textContent = `${entry.title}: ${pct(mine)} on ${set.label}, the shipped ${TITLES[info.kind]} ${pct(shippedAccuracy)}. ` +
      "It answers in \"Classify a picture\" too.";
  } catch (e) {
    mineCell.textContent = "failed";
    status.textContent = `${entry.title}: scoring failed: ${e.message || e}`;
    status.classList.add("error");
  }
  document.body.dataset.yours = String(yours.length);
}

export function wireYours(wasm) {
  const take = async (file) => {
    if (!file) return;
    await addYourModel(wasm, new Uint8Array(await file.arrayBuffer()), `file ${file.name}`);
  };
  wireFileDrop("yours-input", "yours-drop", (files) => take(files[0]));
}
