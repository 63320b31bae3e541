// The site's one server, for `.ci/serve` and every e2e check: static files from a built site, with
//  - the precompressed `.br` / `.gz` sibling of a file sent when the browser accepts it (Content-Encoding),
//    so that what is measured is what a compressing static host sends;
//  - cache headers: file names with a content hash are immutable, everything else is revalidated;
//  - the cross-origin-isolation headers (COOP / COEP) that shared memory (threaded wasm) needs;
//  - optionally, a link of fixed rate and round-trip time shared by every request (page, workers and the
//    service worker alike, which per-target browser throttling misses), and a log of the bytes sent.
//
// As a command: node .ci/server.mjs DIR [--port 8080] [--rate-mbit 10] [--rtt-ms 40]
import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";

export const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".webmanifest": "application/manifest+json",
  ".wasm": "application/wasm",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".svg": "image/svg+xml",
  ".ico": "image/x-icon",
  ".gz": "application/gzip",
  ".txt": "text/plain; charset=utf-8",
};

// A hashed asset name, as trunk writes them: `name-0123456789abcdef.ext`.
const HASHED = /-[0-9a-f]{16}(_bg)?\.[a-z]+$/;

// Serves `root` at the origin's root. Options: `rateBitsPerSecond` and `rttMs` model one shared link (0: none);
// `isolate` (default true) sends COOP / COEP; `compress: false` ignores the precompressed copies (a host
// that compresses nothing). Resolves to `{ origin, url, server, log, bytesSent, close }`,
// where `log` lists `{ path, bytes, encoding, doneAt }` for every response in the order they finished
// (`doneAt` in ms since the epoch).
export async function startServer(root, { port = 0, rateBitsPerSecond = 0, rttMs = 0, isolate = true, compress = true } = {}) {
  root = resolve(root);
  const log = [];
  let bytesSent = 0;
  // The link: every response's chunks take turns on it, each waiting until the link is free.
  let linkFreeAt = 0;
  const sendPaced = async (res, chunk) => {
    if (rateBitsPerSecond > 0) {
      const now = Date.now();
      const start = Math.max(now, linkFreeAt);
      linkFreeAt = start + (chunk.length * 8 * 1000) / rateBitsPerSecond;
      const wait = linkFreeAt - now;
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    }
    bytesSent += chunk.length;
    // A client gone mid-response never drains: its close ends the wait too.
    if (!res.write(chunk)) {
      await new Promise((resolve) => {
        const done = () => { res.off("drain", done); res.off("close", done); resolve(); };
        res.on("drain", done);
        res.on("close", done);
      });
    }
  };

  const server = createServer(async (req, res) => {
    try {
      if (rttMs > 0) await new Promise((r) => setTimeout(r, rttMs));
      const url = new URL(req.url, "http://localhost");
      let file = normalize(join(root, decodeURIComponent(url.pathname)));
      if (file !== root && !file.startsWith(root + sep)) return reply(res, 403, "forbidden");
      if (existsSync(file) && statSync(file).isDirectory()) file = join(file, "index.html");
      if (!existsSync(file)) return reply(res, 404, "not found");
      const headers = {
        "Content-Type": TYPES[extname(file)] || "application/octet-stream",
        "Cache-Control": HASHED.test(file) ? "public, max-age=31536000, immutable" : "no-cache",
        "Vary": "Accept-Encoding",
      };
      if (isolate) {
        headers["Cross-Origin-Opener-Policy"] = "same-origin";
        headers["Cross-Origin-Embedder-Policy"] = "require-corp";
        headers["Cross-Origin-Resource-Policy"] = "same-origin";
      }
      const accepts = String(req.headers["accept-encoding"] || "");
      let body = file, encoding = null;
      for (const [ext, name] of [[".br", "br"], [".gz", "gzip"]]) {
        if (compress && accepts.includes(name) && existsSync(file + ext)) {
          body = file + ext; encoding = name; break;
        }
      }
      if (encoding) headers["Content-Encoding"] = encoding;
      headers["Content-Length"] = String(statSync(body).size);
      res.writeHead(200, headers);
      if (req.method === "HEAD") { res.end(); return; }
      for await (const chunk of createReadStream(body, { highWaterMark: 16 * 1024 })) {
        if (res.destroyed) break; // the client went away: stop reading the file
        await sendPaced(res, chunk);
      }
      res.end();
      log.push({ path: url.pathname, bytes: Number(headers["Content-Length"]), encoding, doneAt: Date.now() });
    } catch (e) {
      if (!res.headersSent) reply(res, 500, String(e)); else res.destroy();
    }
  });
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin, url: `${origin}/`, server, log,
    get bytesSent() { return bytesSent; },
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}

function reply(res, status, text) {
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8" });
  res.end(text);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const opt = (name, fallback) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : fallback; };
  const dir = args.find((a, i) => !a.startsWith("--") && !(i > 0 && args[i - 1].startsWith("--")));
  if (!dir) { console.error("usage: node .ci/server.mjs DIR [--port N] [--rate-mbit R] [--rtt-ms T]"); process.exit(2); }
  const s = await startServer(dir, {
    port: Number(opt("--port", 8080)),
    rateBitsPerSecond: Number(opt("--rate-mbit", 0)) * 1e6, rttMs: Number(opt("--rtt-ms", 0)),
  });
  console.log(`Fashion Lab: ${s.url}  (Ctrl-C to stop)`);
}
