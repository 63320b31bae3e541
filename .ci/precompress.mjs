// Trunk post-build step, run after csp.mjs in the same hook (Trunk.toml): writes a Brotli (.br) and a gzip (.gz) copy beside every built
// file that compresses, so that `.ci/server.mjs`, or any static host that serves precompressed files,
// sends the smaller one with its Content-Encoding. Files that are already compressed (images, the
// dataset's .gz) are left alone, as is any file whose copy would save less than 5%.
// Brotli at quality 11 takes about a minute for the whole site, most of it on model files that do not
// change between builds, so each compressed copy is kept in $CARGO_TARGET_DIR/precompress under the hash
// of what it compresses (and of the settings below), and reused; copies unused for a week are removed.
// Run by trunk with TRUNK_STAGING_DIR set (see Trunk.toml), or as: node .ci/precompress.mjs DIR
import { mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, utimesSync, writeFileSync, existsSync } from "node:fs";
import { createHash } from "node:crypto";
import { extname, join } from "node:path";
import { promisify } from "node:util";
import { brotliCompress, constants, gzip } from "node:zlib";

const dir = process.env.TRUNK_STAGING_DIR || process.argv[2] || "dist";
const COMPRESSIBLE = new Set([".html", ".js", ".mjs", ".css", ".json", ".wasm", ".svg", ".txt", ".md",
  ".webmanifest", ".weights", ".model"]);

// The settings are part of the cache key: change this line when changing them.
const SETTINGS = "gzip-9 brotli-11(9 over 8 MB)-lgwin24";
const cacheDir = process.env.CARGO_TARGET_DIR ? join(process.env.CARGO_TARGET_DIR, "precompress") : null;
if (cacheDir) mkdirSync(cacheDir, { recursive: true });
let reused = 0;
// Compressions run on libuv's thread pool, all files at once, so that every core works on them.
const cached = async (body, ext, make) => {
  if (!cacheDir) return make();
  const key = createHash("sha256").update(SETTINGS).update(ext).update(body).digest("hex");
  const path = join(cacheDir, key);
  if (existsSync(path)) {
    const now = new Date();
    utimesSync(path, now, now);
    reused++;
    return readFileSync(path);
  }
  const packed = await make();
  writeFileSync(path, packed);
  return packed;
};

const files = [];
const walk = (d) => {
  for (const e of readdirSync(d, { withFileTypes: true })) {
    const p = join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.isFile() && COMPRESSIBLE.has(extname(p))) files.push(p);
  }
};
walk(dir);
const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);
let raw = 0, sent = 0;
await Promise.all(files.map(async (file) => {
  const body = readFileSync(file);
  raw += body.length;
  let best = body.length;
  const variants = [
    [".gz", () => gzipAsync(body, { level: 9 })],
    [".br", () => brotliAsync(body, { params: {
      [constants.BROTLI_PARAM_QUALITY]: body.length > 8e6 ? 9 : 11,
      [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
      [constants.BROTLI_PARAM_LGWIN]: 24,
    } })],
  ];
  const packs = await Promise.all(variants.map(([ext, make]) => (body.length > 1024 ? cached(body, ext, make) : body)));
  for (const [i, [ext]] of variants.entries()) {
    const out = file + ext;
    const packed = packs[i];
    if (packed.length < 0.95 * body.length) {
      writeFileSync(out, packed);
      best = Math.min(best, packed.length);
    } else if (existsSync(out) && statSync(out).isFile()) {
      unlinkSync(out);
    }
  }
  sent += best;
}));
if (cacheDir) {
  const week = Date.now() - 7 * 24 * 3600 * 1000;
  for (const name of readdirSync(cacheDir)) {
    const path = join(cacheDir, name);
    if (statSync(path).mtimeMs < week) unlinkSync(path);
  }
}
console.log(`precompress: ${files.length} files (${reused} copies reused from ${cacheDir}), ${(raw / 1e6).toFixed(2)} MB → ${(sent / 1e6).toFixed(2)} MB as served`);
