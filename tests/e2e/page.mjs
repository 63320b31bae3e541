// End-to-end check of the built site in Debian's headless Chromium, driven by playwright-core.
// Usage: node tests/e2e/page.mjs DIST_DIR   (SCREENSHOT_DIR sets where screenshots go)
// It serves DIST_DIR on 127.0.0.1, opens the page with and without WebGPU, and asserts that:
//  - the wasm loads and the backend badge names the backend actually picked (WebGPU / CPU);
//  - the five dataset-analysis charts render from the built-in sample;
//  - the full training set served beside the site loads, passes its checksums and is analysed (CPU run);
//  - the shipped models' table lists all seven models from pretrained/*.json;
//  - a classical model (k-NN) trains in the background worker on the sample and scores its held-out part;
//  - no request leaves the page's own origin.
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const dist = resolve(process.argv[2] || "dist");
const shots = resolve(process.env.SCREENSHOT_DIR || "target/screenshots");
mkdirSync(shots, { recursive: true });

const freePort = () => new Promise((res) => {
  const s = createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); });
});

const port = await freePort();
const server = spawn("python3", ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", dist],
  { stdio: "ignore" });
const origin = `http://127.0.0.1:${port}`;
for (let i = 0; i < 50; i++) {
  try { await fetch(origin + "/"); break; } catch { await new Promise((r) => setTimeout(r, 100)); }
}

const BASE_ARGS = ["--no-sandbox", "--disable-gpu-sandbox", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"];
const configs = [
  { name: "webgpu", args: ["--enable-unsafe-webgpu"], backend: "wgpu", badge: /WebGPU/ },
  { name: "cpu", args: [], backend: "flex", badge: /CPU/ },
];

let passed = 0, failed = 0;
const check = (ok, what) => { if (ok) { passed++; console.log(`  ok   ${what}`); } else { failed++; console.log(`  FAIL ${what}`); } };

for (const cfg of configs) {
  console.log(`page with ${cfg.name}:`);
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: [...BASE_ARGS, ...cfg.args] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const foreign = [];
    const errors = [];
    page.on("request", (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith("data:") && !r.url().startsWith("blob:")) foreign.push(r.url()); });
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(origin + "/", { waitUntil: "load" });
    await page.waitForSelector("body[data-ready='true']", { timeout: 240_000 });
    await page.waitForSelector("body[data-figures='5']", { timeout: 60_000 });
    const backend = await page.getAttribute("body", "data-backend");
    check(backend === cfg.backend, `backend picked is ${cfg.backend} (got ${backend})`);
    const badge = await page.textContent("#backend-name");
    check(cfg.badge.test(badge), `backend badge shows it: "${badge}"`);
    const plots = await page.locator("#analysis .js-plotly-plot").count();
    check(plots === 5, `five analysis charts rendered (got ${plots})`);
    const status = await page.textContent("#dataset-status");
    check(/1,000 images/.test(status), `status describes the sample: "${status}"`);
    check(foreign.length === 0, `no request left the origin ${foreign.length ? foreign.join(", ") : ""}`);
    const shipped = await page.getAttribute("body", "data-shipped");
    check(shipped === "7", `shipped-models table lists 7 models (got ${shipped})`);
    if (cfg.name === "cpu") {
      // A classical model fitted in the worker, off the UI thread, on 700 sample images; 300 held out.
      await page.selectOption("#classical-model", "knn");
      await page.fill("#classical-size", "700");
      await page.click("#classical-train");
      await page.waitForSelector("body[data-classical='1']", { timeout: 120_000 });
      const acc = await page.textContent("#classical-results tbody tr td.accuracy");
      const scored = await page.textContent("#classical-results tbody tr td:nth-child(4)");
      check(parseFloat(acc) >= 72 && /300 images/.test(scored), `k-NN trained in the worker: ${acc} on ${scored}`);
      // The full training set served beside the site: downloaded, checksummed and analysed in wasm.
      await page.click("#load-full");
      await page.waitForFunction(() => /60,000 images/.test(document.getElementById("dataset-status").textContent), null, { timeout: 180_000 });
      const full = await page.textContent("#dataset-status");
      check(/pixel mean 72\.94, median 0, std 90\.02/.test(full), `full training set analysed in the page: "${full}"`);
    }
    check(errors.length === 0, `no uncaught page errors ${errors.join(" | ")}`);
    const file = join(shots, `analysis-${cfg.name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`  screenshot: ${file}`);
  } catch (e) {
    failed++;
    console.log(`  FAIL ${cfg.name}: ${e.message}`);
  } finally {
    await browser.close();
  }
}
server.kill();
console.log(`\ne2e: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
