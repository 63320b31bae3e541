// "The dataset": the built-in sample, the full training set served with the site, or official files
// dropped on the page; its analysis charts; and the dataset the training sections use.

import { drawFigures } from "../lib/charts.js";
import { $, wireFileDrop } from "../lib/dom.js";
import { fetchBytes } from "../lib/fetch.js";

const OFFICIAL = {
  "train-images-idx3-ubyte.gz": ["train", "images"],
  "train-labels-idx1-ubyte.gz": ["train", "labels"],
  "t10k-images-idx3-ubyte.gz": ["test", "images"],
  "t10k-labels-idx1-ubyte.gz": ["test", "labels"],
};

// The datasets the other sections use, as the bytes a worker needs to rebuild them ({images, labels,
// split}): `current`, the one shown (with its `length`), and `sample`, the built-in sample.
export const data = { current: null, sample: null };

// A dataset as a worker message carries it (copies: the page keeps its own bytes).
export const datasetMessage = (d) => ({ images: d.images.slice(), labels: d.labels.slice(), split: d.split });

export function setStatus(text, isError = false) {
  const el = $("dataset-status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

// Downloads several files from this site with one progress bar in "The dataset".
async function fetchWithProgress(urls, what) {
  const bar = $("dataset-progress"), got = urls.map(() => 0), totals = urls.map(() => 0);
  bar.hidden = false;
  bar.value = 0;
  const show = () => {
    const [sum, total] = [got.reduce((a, b) => a + b, 0), totals.reduce((a, b) => a + b, 0)];
    if (total) bar.value = sum / total;
    document.body.dataset.downloaded = String(sum);
    setStatus(`Downloading ${what}: ${(sum / 1e6).toFixed(1)}${total ? ` of ${(total / 1e6).toFixed(1)}` : ""} MB…`);
  };
  try {
    return await Promise.all(urls.map((u, i) => fetchBytes(u, (r, t) => { got[i] = r; totals[i] = t; show(); })));
  } finally {
    bar.hidden = true;
  }
}

function showDataset(wasm, dataset, source) {
  data.current = { ...source, length: dataset.length };
  const size = $("classical-size");
  size.max = String(dataset.length);
  if (Number(size.value) > dataset.length) size.value = String(Math.floor(dataset.length * 0.7));
  const stats = dataset.stats();
  setStatus(`${dataset.label}: ${dataset.length.toLocaleString()} images, pixel mean ${stats.mean.toFixed(2)}, ` +
            `median ${stats.median}, std ${stats.std.toFixed(2)}.`);
  drawFigures($("analysis"), dataset.analysisFigures(10));
}

async function loadOfficial(wasm, files) {
  // files: { "name.gz": Uint8Array }; prefer the training split, as the study's analysis does.
  for (const split of ["train", "test"]) {
    const pick = (kind) => Object.keys(files).find((n) => OFFICIAL[n]?.[0] === split && OFFICIAL[n][1] === kind);
    const [imgName, labName] = [pick("images"), pick("labels")];
    if (imgName && labName) {
      const source = { images: files[imgName], labels: files[labName], split };
      return [wasm.WebDataset.fromOfficial(split, source.images, source.labels), source];
    }
  }
  const names = Object.keys(files).join(", ") || "none";
  throw new Error(`need an images file and a labels file of the same split with their official names; got: ${names}`);
}

// The official test set, loaded once when first needed: the test files dropped on the page if any, else
// this site's data folder (checksummed either way). Resolves to {dataset: WebDataset, source}.
let testSetPromise = null;
export function testSet(wasm) {
  testSetPromise ??= (async () => {
    const [images, labels] = await Promise.all([
      fetchBytes("data/t10k-images-idx3-ubyte.gz"), fetchBytes("data/t10k-labels-idx1-ubyte.gz")]);
    return { dataset: wasm.WebDataset.fromOfficial("test", images, labels), source: { images, labels, split: "test" } };
  })();
  testSetPromise.catch(() => { testSetPromise = null; }); // not served: try again next time
  return testSetPromise;
}

// Loads the built-in sample and wires the full set's button and the drop zone.
export async function wireDataset(wasm) {
  try {
    const [images, labels] = await Promise.all([
      fetchBytes("data/sample-images-idx3-ubyte.gz"), fetchBytes("data/sample-labels-idx1-ubyte.gz")]);
    const sample = wasm.WebDataset.fromIdx(images, labels, "Built-in sample (balanced slice of the test set)");
    data.sample = { images, labels, split: null };
    showDataset(wasm, sample, data.sample);
  } catch (e) {
    setStatus(`Could not load the built-in sample: ${e.message || e}`, true);
  }

  $("load-full").addEventListener("click", async () => {
    setStatus("Downloading the full training set from this site…");
    try {
      const names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"];
      const bytes = await fetchWithProgress(names.map((n) => `data/${n}`), "the full training set");
      setStatus("Verifying checksums and parsing…");
      showDataset(wasm, ...(await loadOfficial(wasm, Object.fromEntries(names.map((n, i) => [n, bytes[i]])))));
    } catch (e) {
      setStatus(`The full dataset is not available here: ${e.message || e}. You can drop the files instead.`, true);
    }
  });

  const takeFiles = async (fileList) => {
    try {
      const files = {};
      for (const f of fileList) files[f.name] = new Uint8Array(await f.arrayBuffer());
      setStatus("Verifying checksums and parsing…");
      const [dataset, source] = await loadOfficial(wasm, files);
      showDataset(wasm, dataset, source);
      // Dropped test files also serve the confusion-matrix browser and the scoring of your models; when
      // they are what is shown, the dataset just parsed is that test set.
      const [images, labels] = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"].map((n) => files[n]);
      if (images && labels) {
        const test = source.split === "test" ? dataset : wasm.WebDataset.fromOfficial("test", images, labels);
        testSetPromise = Promise.resolve({ dataset: test, source: { images, labels, split: "test" } });
      }
    } catch (e) {
      setStatus(`Those files could not be used: ${e.message || e}`, true);
    }
  };
  wireFileDrop("file-input", "drop-zone", takeFiles);
}
