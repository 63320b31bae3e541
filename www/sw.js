// Fashion Lab service worker: after the first visit the page works offline, shipped models included.
//
// On install it stores the page and every built file (the hashed wasm module and its glue, the scripts,
// the styles, Plotly, the built-in sample, the shipped models): FILES, stamped by the post-build hook
// (.ci/csp.mjs) from what the build wrote. Every request goes
// to the network first and falls back to the cache when the site cannot be reached, so a page is never
// put together from two deployments (a new index.html with an old app.js); what is fetched later, such as
// the full dataset, is kept too. BUILD is stamped by the post-build hook (.ci/csp.mjs) with a hash of the
// build, so each deployment installs a fresh cache and drops the old one.
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
      return response;
    } catch {
      return (await cache.match(key)) || Response.error();
    }
  })());
});
