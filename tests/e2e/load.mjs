// Load checks of the built site in headless Chromium (the hardening issue). Usage: node tests/e2e/load.mjs DIST_DIR
// (`.ci/load` builds the site and runs it; UPLOADS and RUNS set the counts, default 1,000 and 20):
//  - UPLOADS pictures classified in a row (all seven models, and the CNN's Grad-CAM, each time) on the CPU
//    backend: the wasm memory (the page's module and the engine worker's, where Grad-CAM runs) and the
//    JavaScript heap (after a garbage collection) before and after, once
//    a warm-up of 50 is done, must grow by less than the stated bounds;
//  - RUNS back-to-back training starts and stops on WebGPU: the number of live workers, and of live GPU
//    buffers in the training worker, must not grow from run to run.
// Prints one line per figure (for RELIABILITY.md) and exits non-zero if a bound is broken.
import { resolve } from "node:path";
import { chromium } from "playwright-core";
import { BASE_ARGS, photoOf, serve } from "./common.mjs";

const dist = resolve(process.argv[2] || "dist");
const UPLOADS = Number(process.env.UPLOADS || 1000), RUNS = Number(process.env.RUNS || 20);
const WASM_BOUND = 16 << 20, HEAP_BOUND = 16 << 20; // bytes of growth allowed over the whole run
const server = await serve(dist, "/");
let failed = 0;
const check = (ok, what) => { console.log(`  ${ok ? "ok  " : "FAIL"} ${what}`); if (!ok) failed++; };
const mb = (b) => `${(b / 2 ** 20).toFixed(1)} MB`;

// 1. Uploads, CPU backend.
{
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: BASE_ARGS });
  const page = await browser.newPage();
  // The page's wasm memory, as trunk's loader hands it over.
  await page.addInitScript(() => addEventListener("TrunkApplicationStarted", (e) => { window.loadWasmMemory = e.detail.wasm.memory; }));
  await page.goto(server.url, { waitUntil: "load" });
  await page.waitForSelector("body[data-models='7'][data-engine='ready']", { timeout: 240_000 });
  const cdp = await page.context().newCDPSession(page);
  const measure = async () => {
    await cdp.send("HeapProfiler.collectGarbage");
    const heap = (await cdp.send("Runtime.getHeapUsage")).usedSize;
    const wasm = await page.evaluate(() => window.loadWasmMemory.buffer.byteLength);
    // The engine worker's module (Grad-CAM runs there).
    const engine = await page.workers().find((w) => /worker\.js/.test(w.url())).evaluate(() => self.wasmMemory.buffer.byteLength);
    return { heap, wasm, engine };
  };
  const photos = [1, 8, 9, 0, 5].map((label) => ({ name: `item-${label}.png`, mimeType: "image/png", buffer: photoOf(label) }));
  const classify = async (n, from) => {
    for (let i = 0; i < n; i++) {
      await page.setInputFiles("#classify-input", photos[i % photos.length]);
      await page.waitForSelector(`body[data-classified='${from + i + 1}'][data-explained='${from + i + 1}']`, { timeout: 60_000 });
    }
  };
  console.log(`uploads: ${UPLOADS} pictures classified in a row by all seven models, with Grad-CAM (CPU backend)`);
  await classify(50, 0);
  const before = await measure();
  const started = Date.now();
  await classify(UPLOADS, 50);
  const seconds = (Date.now() - started) / 1000;
  const after = await measure();
  const answers = await page.$$eval("#classify-answers li", (lis) => lis.length);
  console.log(`  ${UPLOADS} uploads in ${seconds.toFixed(1)} s (${(1000 * seconds / UPLOADS).toFixed(0)} ms each, all seven models and Grad-CAM)`);
  check(after.wasm - before.wasm <= WASM_BOUND && answers === 7,
    `wasm memory ${mb(before.wasm)} → ${mb(after.wasm)} (bound: +${mb(WASM_BOUND)})`);
  check(after.engine - before.engine <= WASM_BOUND,
    `the engine worker's wasm memory (Grad-CAM) ${mb(before.engine)} → ${mb(after.engine)} (bound: +${mb(WASM_BOUND)})`);
  check(after.heap - before.heap <= HEAP_BOUND, `JavaScript heap ${mb(before.heap)} → ${mb(after.heap)} (bound: +${mb(HEAP_BOUND)})`);
  await browser.close();
}

// 2. Training starts and stops, WebGPU (SwiftShader) backend.
{
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: [...BASE_ARGS, "--enable-unsafe-webgpu"] });
  const page = await browser.newPage();
  await page.goto(server.url, { waitUntil: "load" });
  await page.waitForSelector("body[data-models='7'][data-engine='ready']", { timeout: 240_000 });
  const backend = await page.getAttribute("body", "data-backend");
  console.log(`training: ${RUNS} starts and stops of the MLP in the worker (backend ${backend})`);
  await page.selectOption("#deep-model", "mlp");
  await page.fill("#deep-size", "1000");
  await page.fill("#deep-epochs", "50");
  const counts = [];
  let created = 0;
  for (let run = 1; run <= RUNS; run++) {
    await page.click("#deep-train");
    await page.waitForFunction(() => Number(document.body.dataset.deepPoints || 0) >= 2, null, { timeout: 180_000 });
    if (run === 1) {
      // From the first run on, count the GPU buffers the training worker creates and destroys.
      const trainer = page.workers().filter((w) => /worker\.js/.test(w.url())).at(-1);
      await trainer.evaluate(() => {
        self.liveBuffers = 0;
        self.createdBuffers = 0;
        const create = GPUDevice.prototype.createBuffer, destroy = GPUBuffer.prototype.destroy;
        GPUDevice.prototype.createBuffer = function (...a) { self.liveBuffers++; self.createdBuffers++; return create.apply(this, a); };
        GPUBuffer.prototype.destroy = function (...a) { self.liveBuffers--; return destroy.apply(this, a); };
      });
    }
    await page.click("#deep-stop");
    await page.waitForFunction(() => !document.getElementById("deep-train").disabled, null, { timeout: 180_000 });
    const workers = page.workers().filter((w) => /worker\.js/.test(w.url()));
    const buffers = await workers.at(-1).evaluate(() => self.liveBuffers ?? null);
    counts.push([workers.length, buffers]);
    created = await workers.at(-1).evaluate(() => self.createdBuffers ?? 0);
  }
  // The check below means something only if the training really ran on WebGPU: the page and the worker
  // both say so, and the worker made GPU buffers while it was watched.
  const trainingBackend = await page.getAttribute("body", "data-training-backend");
  check(backend === "wgpu" && trainingBackend === "wgpu",
    `training ran on WebGPU (page backend ${backend}, training worker's ${trainingBackend})`);
  check(created > 0, `the training worker created ${created} GPU buffers while watched`);
  console.log(`  after each run [workers, live GPU buffers created since run 1]: ${counts.map((c) => `[${c}]`).join(" ")}`);
  const workers = counts.map(([w]) => w), buffers = counts.map(([, b]) => b).filter((b) => b !== null);
  // Two run worker.js: the page's engine worker (the backend, Grad-CAM) and the one training worker.
  check(Math.max(...workers) <= 2, `live workers stay at ${Math.max(...workers)} (the engine's and one training worker)`);
  // The backend keeps a memory pool: buffers made by the first runs are reused, not made again.
  const half = Math.floor(buffers.length / 2);
  check(buffers.length === RUNS && Math.max(...buffers.slice(half)) <= Math.max(...buffers.slice(0, half)),
    `live GPU buffers do not grow: at most ${Math.max(...buffers.slice(0, half))} in the first half of the runs, ${Math.max(...buffers.slice(half))} in the second`);
  await browser.close();
}
await server.close();
console.log(`\nload: ${failed ? `${failed} bound(s) broken` : "all bounds held"}`);
process.exit(failed ? 1 : 0);
