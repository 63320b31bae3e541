// Charts: Plotly.js loaded on first use, and the figures Rust builds drawn with it (tables as HTML).

// Plotly.js (its cartesian bundle: bar, scatter and heatmap traces), loaded when the first chart is drawn
// rather than before the first answer. Resolves to the Plotly object.
let plotlyLoading = null;
export function plotly() {
  plotlyLoading ??= new Promise((resolve, reject) => {
    if (globalThis.Plotly) { resolve(globalThis.Plotly); return; }
    const script = document.createElement("script");
    script.src = "plotly-cartesian.min.js";
    script.onload = () => resolve(globalThis.Plotly);
    script.onerror = () => { plotlyLoading = null; script.remove(); reject(new Error("the charting library (Plotly.js) could not be loaded")); };
    document.head.append(script);
  });
  return plotlyLoading;
}

// Plotly.js's strict bundle, for WebGL charts (the embedding map of thousands of images): its WebGL traces
// use shaders compiled ahead of time, where the other bundles generate code at run time (regl's `new
// Function`), which the page's Content-Security-Policy refuses. It is a whole Plotly (about 1.2 MB as
// Brotli), loaded only when such a chart is drawn, and kept apart from the cartesian one that draws every
// other chart: the global it sets is put back. Resolves to that Plotly object.
let plotlyGlLoading = null;
export function plotlyGl() {
  plotlyGlLoading ??= plotly().then((cartesian) => new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "plotly-strict.min.js";
    const restore = () => { globalThis.Plotly = cartesian; };
    script.onload = () => { const strict = globalThis.Plotly; restore(); resolve(strict); };
    script.onerror = () => {
      restore(); plotlyGlLoading = null; script.remove();
      reject(new Error("the WebGL charting library (Plotly.js's strict bundle) could not be loaded"));
    };
    document.head.append(script);
  }));
  return plotlyGlLoading;
}

// Whether this browser draws WebGL: where it does not (disabled, blocklisted GPU, no software fallback),
// WebGL charts are drawn as SVG instead.
export function webglAvailable() {
  try {
    const canvas = document.createElement("canvas");
    return Boolean(canvas.getContext("webgl2") || canvas.getContext("webgl"));
  } catch {
    return false;
  }
}

// A figure whose one trace is a table, as an HTML table: columns from `cells.values`, titled by the
// figure's title. Tables need no charting library, and a screen reader reads them as tables.
function tableOf(figure) {
  const trace = figure.data[0];
  const table = document.createElement("table");
  table.className = "figure-table";
  table.id = `fig-${figure.id}`;
  table.createCaption().textContent = figure.title;
  const head = table.createTHead().insertRow();
  for (const h of trace.header.values) { const th = document.createElement("th"); th.textContent = h; head.append(th); }
  const columns = trace.cells.values, body = table.createTBody();
  for (let r = 0; r < (columns[0]?.length ?? 0); r++) {
    const row = body.insertRow();
    for (const column of columns) row.insertCell().textContent = String(column[r]);
  }
  return table;
}
const isTable = (figure) => figure.data.length === 1 && figure.data[0].type === "table";

// The one way a Rust-built figure (`{id, title, data, layout}`) is drawn: into `div`, replacing what was
// there (Plotly.react keeps the chart's zoom and legend choices when the same chart is redrawn).
const CONFIG = { responsive: true, displaylogo: false };
export function plotFigure(Plotly, div, figure) {
  return Plotly.react(div, figure.data, figure.layout, CONFIG);
}

// Draws Rust-built figures into a container; `key` names the body data attribute that counts them
// (for tests): "figures" for the dataset analysis.
export async function drawFigures(container, figures, key = "figures") {
  // Lay out every chart's box first, then plot: each chart then sizes itself to its final grid cell.
  container.replaceChildren();
  const divs = figures.map((f) => {
    const section = document.createElement("figure");
    section.className = "figure";
    if (isTable(f)) { section.append(tableOf(f)); container.append(section); return null; }
    const div = document.createElement("div");
    div.id = `fig-${f.id}`;
    div.setAttribute("role", "img");
    div.setAttribute("aria-label", f.title);
    section.append(div);
    container.append(section);
    return div;
  });
  let Plotly;
  try {
    Plotly = await plotly();
  } catch (e) {
    divs.forEach((div) => { if (div) div.textContent = `This chart cannot be drawn: ${e.message}.`; });
    return;
  }
  await Promise.all(figures.map((f, i) => divs[i] && plotFigure(Plotly, divs[i], f)));
  document.body.dataset[key] = String(figures.length);
}
