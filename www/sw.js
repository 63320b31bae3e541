// Fashion Lab service worker: after the first visit the page works offline, shipped models included.
//
// On install it stores the page and every built file (the hashed wasm module and its glue, the scripts,
// the styles, Plotly, the built-in sample, the shipped models): FILES, stamped by the post-build hook
// (.ci/csp.mjs) from what the build wrote. Every request goes
// to the network first and falls back to the cache when the site cannot be reached, so a page is never
// put together from two deployments (a new index.html with an old app.js); what is fetched later, such as
// the full dataset, is kept too. BUILD is stamped by the post-build hook (.ci/csp.mjs) with a hash of the
// build, so each deployment installs a fresh cache and drops the old one.
//
// It also makes the page cross-origin isolated where the host sends no COOP/COEP headers (a static host
// that cannot set them): every response it hands over carries them, as the npm package
// coi-serviceworker does. Isolation gives the page shared memory, which the threaded engine needs
// (www/lib/engine.js). A page is isolated or not from its navigation on, so this takes effect from the
// visit after the one that installed this worker; the page is never reloaded for it.
const BUILD = "__BUILD__";
const CACHE = `fashionlab-${BUILD}`;
const FILES = /*__FILES__*/[];

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    const page = await fetch("./", { cache: "no-cache" });
    if (!page.ok) throw new Error(`the page answered HTTP ${page.status}`);
    await cache.put("./", page);
    await cache.addAll(FILES);
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key.startsWith("fashionlab-") && key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

// COOP and COEP on a response, and CORP, which a same-origin response needs under COEP when it lacks it.
const ISOLATION = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
};
function isolated(response) {
  if (response.type === "error" || response.status === 0) return response;
  if (Object.keys(ISOLATION).every((h) => response.headers.has(h))) return response;
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(ISOLATION)) if (!headers.has(name)) headers.set(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const key = request.mode === "navigate" ? "./" : request;
    try {
      const response = await fetch(request);
      if (response.status === 200 && response.type === "basic") {
        // Store it unless the cache already holds this very version (the models are megabytes).
        const cached = await cache.match(key);
        const same = (h) => cached?.headers.get(h) === response.headers.get(h);
        if (!cached || !same("last-modified") || !same("content-length") || !same("etag")) await cache.put(key, response.clone());
      }
      return isolated(response);
    } catch {
      const cached = await cache.match(key);
      return cached ? isolated(cached) : Response.error();
    }
  })());
});
