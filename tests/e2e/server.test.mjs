// Checks of the site's server (.ci/server.mjs), run by `node --test tests/e2e/server.test.mjs`: what it
// sends for which request, on a small site written to a temporary folder.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { startServer } from "../../.ci/server.mjs";

const site = mkdtempSync(join(tmpdir(), "fashionlab-server-"));
const wasm = Buffer.alloc(200_000, 7);
writeFileSync(join(site, "index.html"), "<!doctype html><p>hello</p>");
writeFileSync(join(site, "app-0123456789abcdef_bg.wasm"), wasm);
writeFileSync(join(site, "app-0123456789abcdef_bg.wasm.br"), brotliCompressSync(wasm));
writeFileSync(join(site, "app-0123456789abcdef_bg.wasm.gz"), gzipSync(wasm));
mkdirSync(join(site, "data"));
writeFileSync(join(site, "data", "images.gz"), gzipSync(Buffer.from("idx")));
writeFileSync(join(site, "big.model"), Buffer.alloc(250_000, 1));
writeFileSync(join(tmpdir(), "fashionlab-secret.txt"), "not served");

// One GET: { status, headers, body (as sent, not decoded) }.
const get = (origin, path, headers = {}) => new Promise((resolve, reject) => {
  request(origin + path, { headers }, (res) => {
    const chunks = [];
    res.on("data", (c) => chunks.push(c));
    res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
  }).on("error", reject).end();
});

test("sends the precompressed copy the browser accepts, and the file itself otherwise", async () => {
  const s = await startServer(site);
  try {
    const path = "/app-0123456789abcdef_bg.wasm";
    const br = await get(s.origin, path, { "accept-encoding": "gzip, deflate, br" });
    assert.equal(br.headers["content-encoding"], "br");
    assert.equal(br.headers["content-type"], "application/wasm");
    assert.deepEqual(br.body, brotliCompressSync(wasm));
    const gz = await get(s.origin, path, { "accept-encoding": "gzip" });
    assert.equal(gz.headers["content-encoding"], "gzip");
    const none = await get(s.origin, path);
    assert.equal(none.headers["content-encoding"], undefined);
    assert.equal(none.body.length, wasm.length);
    assert.equal(br.headers.vary, "Accept-Encoding");
    // The dataset's .gz files are files, not an encoding of something else.
    const data = await get(s.origin, "/data/images.gz", { "accept-encoding": "gzip, br" });
    assert.equal(data.headers["content-encoding"], undefined);
    assert.equal(data.headers["content-type"], "application/gzip");
    // The server counts what it sent.
    assert.equal(s.bytesSent, br.body.length + gz.body.length + none.body.length + data.body.length);
  } finally { await s.close(); }
});

test("hashed names are immutable, the rest revalidated; isolation headers on every file", async () => {
  const s = await startServer(site);
  try {
    const hashed = await get(s.origin, "/app-0123456789abcdef_bg.wasm");
    assert.match(hashed.headers["cache-control"], /immutable/);
    const page = await get(s.origin, "/");
    assert.equal(page.headers["cache-control"], "no-cache");
    assert.equal(page.headers["content-type"], "text/html; charset=utf-8");
    for (const r of [hashed, page]) {
      assert.equal(r.headers["cross-origin-opener-policy"], "same-origin");
      assert.equal(r.headers["cross-origin-embedder-policy"], "require-corp");
    }
  } finally { await s.close(); }
});

test("serves only inside its folder", async () => {
  const s = await startServer(site);
  try {
    assert.equal((await get(s.origin, "/")).status, 200);
    assert.equal((await get(s.origin, "/missing.js")).status, 404);
    assert.equal((await get(s.origin, "/..%2ffashionlab-secret.txt")).status, 403);
  } finally { await s.close(); }
});

test("a throttled link sends no faster than its rate, shared by parallel requests", async () => {
  const rate = 4e6; // bits per second
  const s = await startServer(site, { rateBitsPerSecond: rate, rttMs: 40 });
  try {
    const started = Date.now();
    const [a, b] = await Promise.all([get(s.origin, "/big.model"), get(s.origin, "/big.model")]);
    const seconds = (Date.now() - started) / 1000;
    const bits = 8 * (a.body.length + b.body.length);
    // 500 kB at 4 Mbit/s: 1 s on the link; a little less is allowed for the first chunk of each.
    assert.ok(seconds >= 0.9 * bits / rate, `${bits} bits in ${seconds} s`);
    assert.ok(seconds < 3 * bits / rate, `${bits} bits in ${seconds} s (far slower than the link)`);
  } finally { await s.close(); }
});
