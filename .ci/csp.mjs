// Trunk post-build hook: adds a strict Content-Security-Policy to the built index.html, and stamps the
// service worker (sw.js) with a hash of this build, so that a new deployment replaces its offline cache,
// and with the list of the built files it keeps for offline use (so that no list is kept by hand).
// Trunk injects an inline module script (it imports the hashed wasm-bindgen glue), so the policy allows
// exactly that script by its SHA-256, computed here on every build; nothing else inline runs, and nothing
// may be fetched from another origin. Run by trunk with TRUNK_STAGING_DIR set (see Trunk.toml).
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

const dir = process.env.TRUNK_STAGING_DIR || process.argv[2] || "dist";
const file = join(dir, "index.html");
let html = readFileSync(file, "utf8");
const hashes = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)]
  .map((m) => `'sha256-${createHash("sha256").update(m[1], "utf8").digest("base64")}'`);
const policy = [
  "default-src 'self'",
  // 'wasm-unsafe-eval' lets the page compile its own WebAssembly; no eval of JavaScript.
  `script-src 'self' 'wasm-unsafe-eval' ${hashes.join(" ")}`.trim(),
  // Plotly.js positions its charts with inline style attributes.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob: mediastream:",
  "connect-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");
html = html.replace(/<meta http-equiv="Content-Security-Policy"[^>]*>\s*/g, "");
html = html.replace("<head>", `<head>\n  <meta http-equiv="Content-Security-Policy" content="${policy}">`);
writeFileSync(file, html);
console.log(`csp: ${hashes.length} inline script(s) allowed by hash in ${file}`);

// The build's identity: the page (which names the hashed wasm modules and glue), every unhashed script
// beside it and in lib/ and sections/ (the service worker aside: it receives the stamp) and the shipped models' summaries.
const HASHED = /-[0-9a-f]{16}\.js$/;
const build = createHash("sha256").update(html);
const scriptsIn = (sub) => readdirSync(join(dir, sub)).filter((f) => f.endsWith(".js") && f !== "sw.js" && !HASHED.test(f))
  .sort().map((f) => join(sub, f));
const scripts = ["", "lib", "sections"].flatMap((sub) => (existsSync(join(dir, sub)) ? scriptsIn(sub) : []));
for (const f of scripts) build.update(f).update(readFileSync(join(dir, f)));
for (const f of readdirSync(join(dir, "pretrained")).sort()) if (f.endsWith(".json")) build.update(readFileSync(join(dir, "pretrained", f)));
const stamp = build.digest("hex").slice(0, 16);
// What the service worker keeps: every built file but the page (cached under "./"), the worker itself,
// the compressed copies of other files (the browser asks for the plain name), the summary's README and
// any full dataset files linked in beside the built-in sample, and the threaded engine with its snippet
// (megabytes that only CPU training on several threads uses: the fetch handler keeps them once used, and
// offline without them a worker falls back to the single-threaded engine, which is kept), and Plotly's
// strict bundle (only a WebGL map uses it; offline without it the map is drawn as SVG).
const kept = [];
const walk = (d) => {
  for (const e of readdirSync(d, { withFileTypes: true })) {
    const p = join(d, e.name);
    if (e.isDirectory()) { walk(p); continue; }
    const name = relative(dir, p);
    const copy = /\.(br|gz)$/.test(name) && existsSync(p.replace(/\.(br|gz)$/, ""));
    const skipped = ["index.html", "sw.js", "pretrained/README.md"].includes(name) || copy ||
      (name.startsWith("data/") && !name.startsWith("data/sample-")) ||
      name.startsWith("fashionlab-threads-") || name.startsWith("snippets/") || name === "plotly-strict.min.js";
    if (e.isFile() && !skipped) kept.push(name);
  }
};
walk(dir);
kept.sort();
const sw = join(dir, "sw.js");
const worker = readFileSync(sw, "utf8");
if (!worker.includes('"__BUILD__"') || !worker.includes("/*__FILES__*/[]")) throw new Error(`${sw}: no placeholders to stamp`);
writeFileSync(sw, worker.replace('"__BUILD__"', `"${stamp}"`).replace("/*__FILES__*/[]", JSON.stringify(kept)));
console.log(`sw: build ${stamp} and ${kept.length} files to keep offline stamped in ${sw}`);
