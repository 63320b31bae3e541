// Trunk post-build step, run after csp.mjs in the same hook (Trunk.toml): writes a Brotli (.br) and a gzip (.gz) copy beside every built
// file that compresses, so that `.ci/server.mjs`, or any static host that serves precompressed files,
// sends the smaller one with its Content-Encoding. Files that are already compressed (images, the
// dataset's .gz) are left alone, as is any file whose copy would save less than 5%.
// Run by trunk with TRUNK_STAGING_DIR set (see Trunk.toml), or as: node .ci/precompress.mjs DIR
import { readdirSync, readFileSync, statSync, unlinkSync, writeFileSync, existsSync } from "node:fs";
import { extname, join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const dir = process.env.TRUNK_STAGING_DIR || process.argv[2] || "dist";
const COMPRESSIBLE = new Set([".html", ".js", ".mjs", ".css", ".json", ".wasm", ".svg", ".txt", ".md",
  ".webmanifest", ".weights", ".model"]);

const files = [];
const walk = (d) => {
  for (const e of readdirSync(d, { withFileTypes: true })) {
    const p = join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.isFile() && COMPRESSIBLE.has(extname(p))) files.push(p);
  }
};
walk(dir);
let raw = 0, sent = 0;
for (const file of files) {
  const body = readFileSync(file);
  raw += body.length;
  let best = body.length;
  const variants = [
    [".gz", () => gzipSync(body, { level: 9 })],
    [".br", () => brotliCompressSync(body, { params: {
      [constants.BROTLI_PARAM_QUALITY]: body.length > 8e6 ? 9 : 11,
      [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
      [constants.BROTLI_PARAM_LGWIN]: 24,
    } })],
  ];
  for (const [ext, make] of variants) {
    const out = file + ext;
    const packed = body.length > 1024 ? make() : body;
    if (packed.length < 0.95 * body.length) {
      writeFileSync(out, packed);
      best = Math.min(best, packed.length);
    } else if (existsSync(out) && statSync(out).isFile()) {
      unlinkSync(out);
    }
  }
  sent += best;
}
console.log(`precompress: ${files.length} files, ${(raw / 1e6).toFixed(2)} MB → ${(sent / 1e6).toFixed(2)} MB as served`);
