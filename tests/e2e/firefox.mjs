// Smoke check of the built site in a second browser: Debian's Firefox ESR, headless, driven through
// geckodriver's W3C WebDriver endpoint (Playwright cannot drive stock Firefox). Where Firefox offers no
// WebGPU, the CPU fallback is the path its visitors get, so that is what this checks:
//  - the page loads, picks a backend and loads all seven models;
//  - an uploaded photo is classified by all seven models, the CNN naming it, with its Grad-CAM drawn;
//  - the CNN trains three epochs in the worker on the sample, its validation accuracy rising to at least 65%.
// Usage: node tests/e2e/firefox.mjs DIST_DIR   (GECKODRIVER and FIREFOX override the binaries' paths)
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort, photoOf, serve } from "./common.mjs";

const dist = resolve(process.argv[2] || "dist");
const geckodriver = process.env.GECKODRIVER || "geckodriver";
const firefox = process.env.FIREFOX || "/usr/bin/firefox-esr";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The few WebDriver commands used, over HTTP.
const port = await freePort();
const driver = spawn(geckodriver, ["--port", String(port), "--host", "127.0.0.1", "--log", "error"], { stdio: "ignore" });
const endpoint = `http://127.0.0.1:${port}`;
async function call(method, path, body) {
  const r = await fetch(endpoint + path, { method, headers: { "content-type": "application/json" }, body: body && JSON.stringify(body) });
  const json = await r.json();
  if (!r.ok) throw new Error(`${method} ${path}: ${json.value?.error}: ${json.value?.message}`);
  return json.value;
}
for (let i = 0; i < 100; i++) { try { await fetch(endpoint + "/status"); break; } catch { await sleep(100); } }

const server = await serve(dist, "/");
const { url } = server;
let session;
let passed = 0, failed = 0;
const check = (ok, what) => { if (ok) { passed++; console.log(`  ok   ${what}`); } else { failed++; console.log(`  FAIL ${what}`); } };
try {
  session = (await call("POST", "/session", {
    capabilities: { alwaysMatch: { browserName: "firefox", "moz:firefoxOptions": { binary: firefox, args: ["-headless"] } } },
  })).sessionId;
  const s = `/session/${session}`;
  const run = (script, ...args) => call("POST", `${s}/execute/sync`, { script, args });
  // Polls `script` (a function body returning a value) until it is truthy or `ms` pass.
  const until = async (script, ms, what) => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await run(script);
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await sleep(250);
    }
  };
  const caps = await call("GET", `${s}/window/rect`).catch(() => null);
  console.log(`Firefox (${firefox}) at ${url}${caps ? `, window ${caps.width}×${caps.height}` : ""}:`);

  const navigated = Date.now();
  await call("POST", `${s}/url`, { url });
  await run(`window.fashionlabSmokeErrors = [];
    addEventListener("error", (e) => window.fashionlabSmokeErrors.push(String(e.message)));
    addEventListener("unhandledrejection", (e) => window.fashionlabSmokeErrors.push(String(e.reason)));`);
  await until("return document.body.dataset.ready === 'true'", 240_000, "the page to be ready");
  await until("return document.body.dataset.models === '7'", 120_000, "all seven models");
  await until("return document.body.dataset.engine === 'ready'", 240_000, "the engine (the workers' module)");
  console.log(`  speed: page ready with all 7 models ${Date.now() - navigated} ms after navigation (cold cache, localhost)`);
  const hasGpu = await run("return 'gpu' in navigator");
  const backend = await run("return document.body.dataset.backend");
  const badge = await run("return document.getElementById('backend-name').textContent");
  // Without WebGPU the page must run on the CPU; with it, either is a valid pick, named by the badge.
  check(hasGpu ? ["wgpu", "flex"].includes(backend) : backend === "flex",
    `navigator.gpu ${hasGpu ? "present" : "absent"}; backend ${backend}, badge "${badge}"`);
  check(/CPU|WebGPU/.test(badge) && (backend === "flex") === /CPU/.test(badge), "the badge names the backend picked");

  // An upload: the file input gets a real file on disk, as a visitor's would.
  const photo = join(mkdtempSync(join(tmpdir(), "fashionlab-ff-")), "Bag.png");
  writeFileSync(photo, photoOf(8));
  const input = Object.values(await call("POST", `${s}/element`, { using: "css selector", value: "#classify-input" }))[0];
  const started = Date.now();
  await call("POST", `${s}/element/${input}/value`, { text: photo });
  await until("return Number(document.body.dataset.classified || 0) >= 1", 120_000, "the photo's answers");
  console.log(`  speed: photo classified by all models ${Date.now() - started} ms after upload`);
  const answers = await run("return [...document.querySelectorAll('#classify-answers li')].map((li) => [li.dataset.model, Number(li.dataset.classIndex)])");
  const cnn = answers.find(([m]) => m === "cnn");
  const right = answers.filter(([, c]) => c === 8).length;
  check(answers.length === 7 && cnn && cnn[1] === 8 && right >= 5, `Bag photo: ${right}/7 models right, the CNN says ${cnn?.[1]}`);
  await until("return Number(document.body.dataset.explained || 0) >= 1", 120_000, "Grad-CAM");
  const lit = await run(`const d = document.getElementById("explain-heatmap").getContext("2d").getImageData(0, 0, 28, 28).data;
    let red = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i + 2] < 100) red++; return red;`);
  const explained = await run("return document.getElementById('explain-status').textContent");
  check(/Bag/.test(explained) && lit > 0 && lit < 784, `Grad-CAM drawn: ${lit} hot pixels; "${explained}"`);
  // A photo (an item found against its background) is answered by the photo-trained CNN.
  check(/CNN \(photo-trained\)/.test(explained), "the photo-trained CNN answered for the photo");

  // Three epochs of the CNN in the worker, on the CPU (the backend Firefox's visitors train on), as in
  // Chromium's e2e (page.mjs), which holds its third epoch within 10 points of 0.75.
  await run(`const set = (id, v) => { const e = document.getElementById(id); e.value = v; e.dispatchEvent(new Event("input", { bubbles: true })); e.dispatchEvent(new Event("change", { bubbles: true })); };
    set("deep-model", "cnn"); set("deep-size", "1000"); set("deep-epochs", "3"); set("deep-batch", "64");
    document.getElementById("deep-train").click();`);
  const trainStart = Date.now();
  await until("return Number(document.body.dataset.deepTrained || 0) >= 3", 300_000, "three training epochs");
  const history = JSON.parse(await run("return document.body.dataset.deepHistory"));
  const status = await run("return document.getElementById('deep-status').textContent");
  console.log(`  speed: three CNN epochs on the sample's training part, batch 64: ${Date.now() - trainStart} ms`);
  check(history.length === 3 && history[2] > history[0] && history[2] >= 0.65,
    `three CNN epochs in the worker: validation accuracy ${history.join(" → ")} ("${status.trim()}")`);
  const errors = await run("return window.fashionlabSmokeErrors");
  check(errors.length === 0, `no uncaught errors in the page (${errors.join("; ")})`);
} catch (e) {
  failed++;
  console.log(`  FAIL ${e.message}`);
} finally {
  if (session) await call("DELETE", `/session/${session}`).catch(() => {});
  driver.kill();
  await server.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
