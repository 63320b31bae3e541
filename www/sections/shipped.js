// "The shipped models": their summaries (pretrained/*.json) in a table and the comparison charts, each
// model's own figures, and the test images behind a confusion-matrix cell.

import { drawFigures } from "../lib/charts.js";
import { $, cell, pct, secs } from "../lib/dom.js";
import { TITLES } from "../lib/models.js";
import { testSet } from "./dataset.js";

// The shipped models' summaries, by name.
export const summaries = {};

async function showModelDetail(wasm) {
  const name = $("detail-model").value, s = summaries[name];
  $("cell-images").replaceChildren();
  $("cell-status").textContent = "";
  if (!s) { $("model-figures").replaceChildren(); return; }
  await drawFigures($("model-figures"), wasm.modelFigures(s), "detail");
  const classes = wasm.classNames();
  $(`fig-${name}-confusion`)?.on?.("plotly_click", (ev) => { // absent when the charts could not load
    const p = ev.points?.[0];
    if (p) showCell(wasm, classes.indexOf(p.y), classes.indexOf(p.x));
  });
}

const CELL_LIMIT = 120;

// Shows the test images counted in one confusion-matrix cell of the model in detail.
async function showCell(wasm, truth, predicted) {
  const name = $("detail-model").value, s = summaries[name];
  const status = $("cell-status"), box = $("cell-images"), classes = wasm.classNames();
  if (!(truth >= 0 && predicted >= 0)) return;
  $("cell-true").value = String(truth);
  $("cell-pred").value = String(predicted);
  status.classList.remove("error");
  box.replaceChildren();
  const fail = (text) => { status.textContent = text; status.classList.add("error"); };
  if (!s?.test?.predictions) return fail(`${TITLES[name]}: its summary records no per-image predictions.`);
  status.textContent = "Loading the test images…";
  let test;
  try {
    test = await testSet(wasm);
  } catch (e) {
    return fail(`The test images are not available here (${e.message || e}). Drop t10k-images-idx3-ubyte.gz and ` +
      `t10k-labels-idx1-ubyte.gz on "The dataset" above to see them.`);
  }
  const preds = s.test.predictions, labels = test.dataset.labels();
  if (preds.length !== labels.length) return fail(`${TITLES[name]}'s predictions cover ${preds.length} images, the test set has ${labels.length}.`);
  const hits = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] === truth && preds.charCodeAt(i) - 48 === predicted) hits.push(i);
  if (hits.length !== s.test.confusion_matrix[truth][predicted]) return fail("These test images do not match the model's recorded results.");
  const what = truth === predicted ? `${classes[truth]}, correctly classified` : `true ${classes[truth]}, predicted ${classes[predicted]}`;
  status.textContent = `${TITLES[name]}: ${what}: ${hits.length.toLocaleString()} test images` +
    (hits.length > CELL_LIMIT ? `, the first ${CELL_LIMIT} shown.` : ".");
  for (const i of hits.slice(0, CELL_LIMIT)) {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 28;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `Test image ${i}: ${what}`);
    canvas.title = `test image #${i}`;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(28, 28);
    test.dataset.image(i).forEach((v, k) => img.data.set([v, v, v, 255], 4 * k));
    ctx.putImageData(img, 0, 0);
    box.append(canvas);
  }
  document.body.dataset.cellImages = String(Math.min(hits.length, CELL_LIMIT));
}

export function wireCells(wasm) {
  const classes = wasm.classNames();
  for (const id of ["cell-true", "cell-pred"]) classes.forEach((c, i) => $(id).add(new Option(c, String(i))));
  $("cell-pred").value = "6";
  $("cell-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    showCell(wasm, Number($("cell-true").value), Number($("cell-pred").value));
  });
}

export async function showShippedModels(wasm) {
  const names = { cnn: "CNN", resnet: "ResNet", mlp: "MLP", logreg: "Logistic regression", svm: "SVM (RBF)", rf: "Random forest", knn: "k-NN" };
  const body = $("shipped-models").tBodies[0];
  for (const name of Object.keys(names)) {
    try {
      const s = await (await fetch(`pretrained/${name}.json`)).json();
      summaries[name] = s;
      const row = body.insertRow();
      cell(row, names[name]);
      cell(row, pct(s.test.accuracy));
      cell(row, s.config.pipeline || "pixels (the network learns its own)");
      cell(row, s.params.toLocaleString());
      cell(row, secs(s.train_seconds));
    } catch { /* a model not shipped in this build */ }
  }
  document.body.dataset.shipped = String(body.rows.length);
  const shipped = Object.values(summaries);
  if (shipped.length) drawFigures($("comparison"), wasm.comparisonFigures(shipped), "comparison");
  $("detail-model").addEventListener("change", () => showModelDetail(wasm));
  showModelDetail(wasm);
}
