"""The atlas page: one static ``index.html`` with its CSS and JavaScript inline (no network, no CDN).

The page fetches ``atlas.json`` (the index: one small entry per unit) relative to itself,
offers a search box (a unit id, or a word or phoneme associated with units; ``w:`` or ``p:``
in front restricts the search to words or phonemes), a sortable paged list, and opens a unit
by fetching ``units/<id>.json`` lazily. For each of the unit's top clips it fetches
``clips/<key>.json`` once (spectrogram bytes, word and phoneme marks) and draws, on one
canvas, the spectrogram, the unit's activation over time below it with the active threshold,
and the word and phoneme marks, with an ``<audio>`` player of ``clips/<key>.wav`` whose
playhead moves over the drawing. Browsers refuse ``fetch`` on ``file://`` pages; the page then
says how to serve the folder (``python -m http.server``).
"""

from __future__ import annotations

__all__ = ["render_page"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#222;background:#fafafa}
header{padding:10px 16px;background:#243b55;color:#fff}header h1{font-size:18px;margin:0 0 4px}
header .meta{font-size:12px;opacity:.85}
main{display:flex;gap:12px;padding:12px}
#left{flex:0 0 440px;min-width:0}#right{flex:1;min-width:0}
#search{width:100%;box-sizing:border-box;font-size:15px;padding:6px 8px}
.controls{display:flex;gap:8px;align-items:center;margin:6px 0;font-size:13px}
table{border-collapse:collapse;width:100%;font-size:13px;background:#fff}
th,td{padding:3px 6px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{cursor:pointer;background:#f0f0f0;user-select:none}
tr.unit:hover{background:#eef4ff;cursor:pointer}tr.sel{background:#dde8ff}
.num{text-align:right;font-variant-numeric:tabular-nums}
.tag{display:inline-block;background:#eef;border-radius:3px;padding:0 4px;margin:1px;font-size:12px}
.tag.p{background:#efe}
.clip{background:#fff;border:1px solid #ddd;border-radius:4px;padding:8px;margin:8px 0}
.clip .title{font-size:13px;margin-bottom:4px}
.clip canvas{display:block;max-width:100%;overflow-x:auto}
.scroll{overflow-x:auto}
audio{height:30px;margin-top:4px}
.muted{color:#777;font-size:12px}
#error{color:#fdd;white-space:pre-wrap;font-size:13px}
"""

_JS = r"""
"use strict";
const S = {atlas: null, units: [], shown: [], page: 0, perPage: 50, sort: "id", desc: false, clips: new Map(),
           current: null};
const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}
function fmt(x, d) { return x === null || x === undefined || !isFinite(x) ? "-" : Number(x).toFixed(d); }
function getJSON(url) {
  return fetch(url).then((r) => { if (!r.ok) throw new Error(url + ": HTTP " + r.status); return r.json(); });
}
function fail(err) {
  const hint = location.protocol === "file:" ? "\nBrowsers do not let a page opened from disk fetch its files. " +
    "Serve the folder instead:\n  python -m http.server --directory THIS_FOLDER 8000\nand open http://localhost:8000/" : "";
  $("error").textContent = String(err) + hint;
}

function matches(u, q) {
  if (!q) return true;
  let kind = null;
  if (q.startsWith("w:") || q.startsWith("p:")) { kind = q[0]; q = q.slice(2); }
  if (!q) return true;
  if (kind === null && /^#?\d+$/.test(q)) return String(u.id) === q.replace("#", "");
  const lq = q.toLowerCase();
  const hit = (labels) => labels.some((l) => l === q || l.toLowerCase() === lq || l.toLowerCase().startsWith(lq));
  return (kind !== "p" && hit(u.words)) || (kind !== "w" && hit(u.phonemes));
}
function refresh() {
  const q = $("search").value.trim();
  S.shown = S.units.filter((u) => matches(u, q));
  const key = S.sort, sign = S.desc ? -1 : 1;
  S.shown.sort((a, b) => sign * ((a[key] > b[key]) - (a[key] < b[key])) || a.id - b.id);
  S.page = Math.min(S.page, Math.max(0, Math.ceil(S.shown.length / S.perPage) - 1));
  renderList();
}
function renderList() {
  const body = $("rows");
  body.replaceChildren();
  const start = S.page * S.perPage;
  for (const u of S.shown.slice(start, start + S.perPage)) {
    const tr = el("tr", {class: "unit" + (S.current === u.id ? " sel" : ""), onclick: () => { location.hash = "unit=" + u.id; }},
      el("td", {class: "num", text: u.id}), el("td", {class: "num", text: fmt(100 * u.density, 2)}),
      el("td", {class: "num", text: fmt(u.max, 2)}),
      el("td", {}, ...u.words.map((w) => el("span", {class: "tag", text: w})),
         ...u.phonemes.map((p) => el("span", {class: "tag p", text: "/" + p + "/"}))));
    body.append(tr);
  }
  const pages = Math.max(1, Math.ceil(S.shown.length / S.perPage));
  $("pageinfo").textContent = `page ${S.page + 1} of ${pages} (${S.shown.length} of ${S.units.length} units)`;
}
function setSort(key) { S.desc = S.sort === key ? !S.desc : key !== "id"; S.sort = key; refresh(); }

function clipData(key) {
  if (!S.clips.has(key)) S.clips.set(key, getJSON("clips/" + key + ".json"));
  return S.clips.get(key);
}
function colour(v) {  // dark blue -> teal -> yellow
  const t = v / 255;
  return [Math.round(255 * Math.min(1, Math.max(0, 1.6 * t - 0.5))), Math.round(40 + 200 * t),
          Math.round(90 + 120 * Math.sin(Math.PI * t))];
}
function drawClip(canvas, clip, entry, unit) {
  const pps = 320, specH = 110, actH = 70, markH = 34;
  const dur = clip.duration_s, W = Math.max(120, Math.ceil(dur * pps)), H = specH + actH + markH;
  canvas.width = W; canvas.height = H;
  const g = canvas.getContext("2d");
  const sp = clip.spectrogram, raw = atob(sp.data), img = g.createImageData(sp.frames, sp.bands);
  for (let f = 0; f < sp.frames; f++) for (let b = 0; b < sp.bands; b++) {
    const [r, gg, bl] = colour(raw.charCodeAt(f * sp.bands + b)), o = 4 * ((sp.bands - 1 - b) * sp.frames + f);
    img.data[o] = r; img.data[o + 1] = gg; img.data[o + 2] = bl; img.data[o + 3] = 255;
  }
  const off = document.createElement("canvas");
  off.width = sp.frames; off.height = sp.bands; off.getContext("2d").putImageData(img, 0, 0);
  g.imageSmoothingEnabled = true;
  g.drawImage(off, 0, 0, sp.frames * sp.hop_s * pps, specH);
  const y0 = specH + actH - 4, top = Math.max(unit.max, 1e-6), lo = Math.min(0, ...entry.acts);
  const y = (v) => y0 - (v - Math.min(lo, 0)) / (top - Math.min(lo, 0)) * (actH - 10);
  g.fillStyle = "#fff"; g.fillRect(0, specH, W, actH + markH);
  g.strokeStyle = "#bbb"; g.beginPath(); g.moveTo(0, y(0)); g.lineTo(W, y(0)); g.stroke();
  if (S.atlas.active_above > 0) {
    g.setLineDash([4, 3]); g.strokeStyle = "#e88"; g.beginPath();
    g.moveTo(0, y(S.atlas.active_above)); g.lineTo(W, y(S.atlas.active_above)); g.stroke(); g.setLineDash([]);
  }
  const fs = clip.frame_s;
  g.fillStyle = "rgba(214,69,65,.35)"; g.strokeStyle = "#c0392b"; g.beginPath(); g.moveTo(0, y(0));
  entry.acts.forEach((v, i) => { g.lineTo(i * fs * pps, y(v)); g.lineTo((i + 1) * fs * pps, y(v)); });
  g.lineTo(entry.acts.length * fs * pps, y(0)); g.closePath(); g.fill(); g.stroke();
  g.font = "12px system-ui,sans-serif"; g.textBaseline = "top";
  const marks = (spans, row, colourText) => {
    for (const [label, s, e] of spans) {
      const x0 = s * pps, x1 = e * pps, yy = specH + actH + row * 16;
      g.strokeStyle = "rgba(0,0,0,.25)"; g.beginPath(); g.moveTo(x0, 0); g.lineTo(x0, yy + 14); g.stroke();
      g.fillStyle = colourText; g.save(); g.beginPath(); g.rect(x0, yy, Math.max(x1 - x0, 1), 16); g.clip();
      g.fillText(label, x0 + 2, yy + 1); g.restore();
    }
  };
  marks(clip.words, 0, "#123"); marks(clip.phonemes, 1, "#363");
  return {pps, H};
}
function renderClip(box, entry, unit) {
  clipData(entry.clip).then((clip) => {
    const canvas = el("canvas", {}), player = el("audio", {controls: "", preload: "none", src: "clips/" + entry.clip + ".wav"});
    const title = el("div", {class: "title"}, el("b", {text: `peak ${fmt(entry.peak, 3)} at ${fmt(entry.peak_s, 2)} s`}),
      " \u2014 " + (clip.text ? "\u201c" + clip.text + "\u201d" : "[" + clip.kind + "]"),
      el("span", {class: "muted", text: "  " + clip.id + (clip.marks !== "none" ? "  (marks: " + clip.marks + ")" : "")}));
    const wrap = el("div", {class: "scroll"}, canvas);
    box.replaceChildren(title, wrap, player);
    const {pps, H} = drawClip(canvas, clip, entry, unit);
    const base = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    const tick = () => {
      const g = canvas.getContext("2d"); g.putImageData(base, 0, 0);
      const x = player.currentTime * pps; g.strokeStyle = "#000"; g.beginPath(); g.moveTo(x, 0); g.lineTo(x, H); g.stroke();
      if (!player.paused) requestAnimationFrame(tick);
    };
    player.addEventListener("play", tick); player.addEventListener("seeked", tick);
  }).catch((e) => box.replaceChildren(el("div", {class: "muted", text: String(e)})));
}
function labelTable(title, rows, cls) {
  if (!rows.length) return el("p", {class: "muted", text: "no " + title + " associated"});
  return el("table", {}, el("tr", {}, el("th", {text: title}), el("th", {text: "score (z)"}),
                             el("th", {text: "mean inside"}), el("th", {text: "spans"})),
    ...rows.map((r) => el("tr", {}, el("td", {}, el("span", {class: "tag " + cls, text: r.label})),
      el("td", {class: "num", text: fmt(r.score, 2)}), el("td", {class: "num", text: fmt(r.mean, 3)}),
      el("td", {class: "num", text: r.spans}))));
}
function openUnit(id) {
  S.current = id; renderList();
  const right = $("right");
  right.replaceChildren(el("p", {class: "muted", text: "loading unit " + id + "\u2026"}));
  getJSON("units/" + id + ".json").then((u) => {
    const head = el("div", {}, el("h2", {text: `${S.atlas.unit_kind} ${u.id}`}),
      el("p", {text: `density ${fmt(100 * u.density, 3)}% of ${S.atlas.n_frames} frames \u00b7 max ${fmt(u.max, 3)}` +
        ` \u00b7 mean ${fmt(u.mean, 3)} \u00b7 std ${fmt(u.std, 3)}`}));
    const assoc = el("div", {style: "display:flex;gap:16px;flex-wrap:wrap"}, labelTable("words", u.words, ""),
      labelTable("phonemes", u.phonemes, "p"));
    const clips = el("div", {});
    right.replaceChildren(head, assoc, el("h3", {text: `top ${u.clips.length} clips`}), clips);
    for (const entry of u.clips) { const box = el("div", {class: "clip", text: "loading\u2026"}); clips.append(box); renderClip(box, entry, u); }
  }).catch(fail);
}
function route() {
  const m = /unit=(\d+)/.exec(location.hash);
  if (m && S.atlas) openUnit(Number(m[1]));
}
function init(a) {
  S.atlas = a; S.units = a.units;
  $("title").textContent = `${a.model} \u00b7 ${a.site}` + (a.sae ? ` \u00b7 SAE ${a.sae.kind} ${a.sae.width}` : "");
  $("meta").textContent = `${a.units.length} ${a.unit_kind}s \u00b7 ${a.n_clips} clips, ${a.n_frames} frames of ` +
    `${a.frame_s * 1000} ms \u00b7 active: above ${a.active_above} \u00b7 top ${a.top} clips per unit \u00b7 ` +
    `associations: z-scored mean inside a label's spans`;
  refresh(); route();
}
window.addEventListener("DOMContentLoaded", () => {
  $("search").addEventListener("input", () => { S.page = 0; refresh(); });
  $("prev").addEventListener("click", () => { S.page = Math.max(0, S.page - 1); renderList(); });
  $("next").addEventListener("click", () => { if ((S.page + 1) * S.perPage < S.shown.length) { S.page++; renderList(); } });
  for (const th of document.querySelectorAll("th[data-sort]")) th.addEventListener("click", () => setSort(th.dataset.sort));
  window.addEventListener("hashchange", route);
  getJSON("atlas.json").then(init).catch(fail);
});
"""

_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title}</title>
<style>{css}</style></head>
<body>
<header><h1 id="title">{title}</h1><div class="meta" id="meta">loading atlas.json&hellip;</div><div id="error"></div></header>
<main>
<section id="left">
<input id="search" type="search" placeholder="search: unit id, word or phoneme (w:fox, p:aU)" autocomplete="off">
<div class="controls"><button id="prev">&larr;</button><button id="next">&rarr;</button><span id="pageinfo"></span></div>
<table><thead><tr><th data-sort="id">id</th><th data-sort="density">density %</th><th data-sort="max">max</th>
<th>top words and phonemes</th></tr></thead><tbody id="rows"></tbody></table>
</section>
<section id="right"><p class="muted">Open a unit from the list (or search for a word such as
&ldquo;stop&rdquo; or a phoneme such as &ldquo;p:s&rdquo;).</p></section>
</main>
<script>{js}</script>
</body></html>
"""


def render_page(title: str) -> str:
    """The whole ``index.html`` (it reads everything else from ``atlas.json`` at load time)."""
    import html

    return _HTML.format(title=html.escape(title), css=_CSS, js=_JS)


def page_script() -> str:
    """The page's JavaScript (for syntax checks)."""
    return _JS
