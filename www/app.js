// Fashion Lab page controller: wires the DOM to the Rust/wasm API (window.wasmBindings, set by trunk).
// All computation happens in wasm; this file only moves bytes and draws the figures Rust builds.

const $ = (id) => document.getElementById(id);
const OFFICIAL = {
  "train-images-idx3-ubyte.gz": ["train", "images"],
  "train-labels-idx1-ubyte.gz": ["train", "labels"],
  "t10k-images-idx3-ubyte.gz": ["test", "images"],
  "t10k-labels-idx1-ubyte.gz": ["test", "labels"],
};

function whenWasmReady() {
  if (window.wasmBindings) return Promise.resolve(window.wasmBindings);
  return new Promise((resolve) =>
    addEventListener("TrunkApplicationStarted", () => resolve(window.wasmBindings), { once: true }));
}

function setStatus(text, isError = false) {
  const el = $("dataset-status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

async function fetchBytes(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

function drawFigures(container, figures) {
  // Lay out every chart's box first, then plot: each chart then sizes itself to its final grid cell.
  container.replaceChildren();
  const divs = figures.map((f) => {
    const section = document.createElement("figure");
    section.className = "figure";
    const div = document.createElement("div");
    div.id = `fig-${f.id}`;
    div.setAttribute("role", "img");
    div.setAttribute("aria-label", f.title);
    section.append(div);
    container.append(section);
    return div;
  });
  figures.forEach((f, i) => Plotly.newPlot(divs[i], f.data, f.layout, { responsive: true, displaylogo: false }));
  document.body.dataset.figures = String(figures.length);
}

function showDataset(wasm, dataset) {
  const stats = dataset.stats();
  setStatus(`${dataset.label}: ${dataset.length.toLocaleString()} images, pixel mean ${stats.mean.toFixed(2)}, ` +
            `median ${stats.median}, std ${stats.std.toFixed(2)}.`);
  drawFigures($("analysis"), dataset.analysisFigures(10));
}

async function selectBackend(wasm, preference) {
  $("backend-name").textContent = "detecting…";
  try {
    const r = await wasm.selectBackend(preference);
    $("backend-name").textContent = r.description;
    $("backend-detail").textContent = r.fallback_reason ? `(${r.fallback_reason})` : "";
    document.body.dataset.backend = r.kind;
    return r;
  } catch (e) {
    $("backend-name").textContent = "unavailable";
    $("backend-detail").textContent = String(e.message || e);
    document.body.dataset.backend = "none";
  }
}

async function loadOfficial(wasm, files) {
  // files: { "name.gz": Uint8Array }; prefer the training split, as the study's analysis does.
  for (const split of ["train", "test"]) {
    const pick = (kind) => Object.keys(files).find((n) => OFFICIAL[n]?.[0] === split && OFFICIAL[n][1] === kind);
    const [imgName, labName] = [pick("images"), pick("labels")];
    if (imgName && labName) return wasm.WebDataset.fromOfficial(split, files[imgName], files[labName]);
  }
  const names = Object.keys(files).join(", ") || "none";
  throw new Error(`need an images file and a labels file of the same split with their official names; got: ${names}`);
}

async function main() {
  const wasm = await whenWasmReady();
  const choice = $("backend-choice");
  choice.value = localStorage.getItem("fashionlab.backend") || "auto";
  await selectBackend(wasm, choice.value);
  choice.disabled = false;
  choice.addEventListener("change", async () => {
    localStorage.setItem("fashionlab.backend", choice.value);
    await selectBackend(wasm, choice.value);
  });

  try {
    const [images, labels] = await Promise.all([
      fetchBytes("data/sample-images-idx3-ubyte.gz"), fetchBytes("data/sample-labels-idx1-ubyte.gz")]);
    const sample = wasm.WebDataset.fromIdx(images, labels, "Built-in sample (balanced slice of the test set)");
    showDataset(wasm, sample);
  } catch (e) {
    setStatus(`Could not load the built-in sample: ${e.message || e}`, true);
  }

  $("load-full").addEventListener("click", async () => {
    setStatus("Downloading the full training set from this site…");
    try {
      const names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"];
      const bytes = await Promise.all(names.map((n) => fetchBytes(`data/${n}`)));
      setStatus("Verifying checksums and parsing…");
      showDataset(wasm, await loadOfficial(wasm, Object.fromEntries(names.map((n, i) => [n, bytes[i]]))));
    } catch (e) {
      setStatus(`The full dataset is not available here: ${e.message || e}. You can drop the files instead.`, true);
    }
  });

  const takeFiles = async (fileList) => {
    try {
      const files = {};
      for (const f of fileList) files[f.name] = new Uint8Array(await f.arrayBuffer());
      setStatus("Verifying checksums and parsing…");
      showDataset(wasm, await loadOfficial(wasm, files));
    } catch (e) {
      setStatus(`Those files could not be used: ${e.message || e}`, true);
    }
  };
  $("file-input").addEventListener("change", (ev) => takeFiles(ev.target.files));
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (ev) => { ev.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (ev) => {
    ev.preventDefault();
    zone.classList.remove("over");
    takeFiles(ev.dataTransfer.files);
  });
  document.body.dataset.ready = "true";
}

main().catch((e) => setStatus(`Fashion Lab failed to start: ${e.message || e}`, true));
