// The atlas page in jsdom (a DOM without a browser): load over HTTP, list, search, open a unit.
// Usage: node atlas_page_check.js URL UNIT_ID   (needs the jsdom package on NODE_PATH)
// Prints one JSON line of what the page showed; exit status 1 when the page raised errors.
const { JSDOM, VirtualConsole } = require("jsdom");
const [url, unit] = process.argv.slice(2);
const errors = [];
const vc = new VirtualConsole();
vc.on("jsdomError", (e) => errors.push(String(e.message)));
vc.on("error", (e) => errors.push(String(e)));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function ctx2d(calls) {  // jsdom has no canvas: a 2D context that records the calls the page makes
  return new Proxy({}, {
    get(t, k) {
      if (k === "createImageData" || k === "getImageData") {
        return (w, h) => { calls.push(k); const W = typeof w === "number" ? w : 1, H = typeof h === "number" ? h : 1;
          return { width: W, height: H, data: new Uint8ClampedArray(4 * W * H) }; };
      }
      if (k in t) return t[k];
      return () => { calls.push(String(k)); };
    },
    set(t, k, v) { t[k] = v; return true; },
  });
}
(async () => {
  const calls = [];
  const dom = await JSDOM.fromURL(url, { runScripts: "dangerously", resources: "usable", pretendToBeVisual: true,
    virtualConsole: vc, beforeParse(w) {
      w.fetch = (u) => fetch(new URL(u, w.location.href).href);
      w.HTMLCanvasElement.prototype.getContext = function () { return ctx2d(calls); };
    } });
  const w = dom.window, d = w.document, $ = (id) => d.getElementById(id);
  for (let i = 0; i < 100 && d.querySelectorAll("#rows tr").length === 0 && !$("error").textContent; i++) await sleep(100);
  const out = { meta: $("meta").textContent, rows: d.querySelectorAll("#rows tr").length };
  const search = (q) => { $("search").value = q; $("search").dispatchEvent(new w.Event("input")); return d.querySelectorAll("#rows tr").length; };
  out.search_id_rows = search(String(unit));
  out.search_nothing_rows = search("w:no-such-word-here");
  search("");
  w.location.hash = "#unit=" + unit;
  const right = $("right");
  for (let i = 0; i < 100 && right.querySelectorAll("canvas").length === 0; i++) await sleep(100);
  await sleep(200);
  out.unit_title = (right.querySelector("h2") || {}).textContent || null;
  out.canvases = right.querySelectorAll("canvas").length;
  out.audio = [...right.querySelectorAll("audio")].map((a) => a.getAttribute("src"));
  out.draw_calls = calls.length;
  out.error_box = $("error").textContent;
  out.errors = errors;
  console.log(JSON.stringify(out));
  w.close();
  process.exit(errors.length ? 1 : 0);
})();
