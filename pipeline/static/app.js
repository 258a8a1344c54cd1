// The page over pipeline.serve's JSON API: pick a clip, scrub, draw boxes, run, watch, correct, export.
"use strict";

const token = new URLSearchParams(location.search).get("token");
const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");

const state = {
  item: null,        // the item's description from /api/items
  frame: 1,
  image: null,       // the frame's decoded image
  prompts: [],       // boxes drawn before a run: {frame, box, class}
  results: new Map(), // frame -> tracks of the run shown
  segments: new Map(), // frame -> objects segmented at once
  tracks: new Map(),  // id -> {class, first, last, frames, score}
  run: null,         // {id, status}
  events: null,
  drag: null,
};

function api(path, options = {}) {
  const url = new URL(path, location.origin);
  if (token) url.searchParams.set("token", token);
  const init = { ...options, headers: { ...(options.headers || {}) } };
  if (options.json !== undefined) {
    init.method = init.method || "POST";
    init.body = JSON.stringify(options.json);
    init.headers["Content-Type"] = "application/json";
  }
  return fetch(url, init).then(async (r) => {
    const body = r.headers.get("content-type")?.includes("json") ? await r.json() : null;
    if (!r.ok) throw new Error((body && (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail))) || r.statusText);
    return body;
  });
}

function url(path, params) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) u.searchParams.set(k, v);
  if (token) u.searchParams.set("token", token);
  return u.toString();
}

function say(text) { $("message").textContent = text || ""; }

// -- colours: one per track id -------------------------------------------------------------
function colour(id) {
  const h = (id * 137.508) % 360, s = 0.9, l = 0.55;
  const f = (n) => {
    const k = (n + h / 30) % 12, a = s * Math.min(l, 1 - l);
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}
const css = (rgb) => `rgb(${rgb[0]},${rgb[1]},${rgb[2]})`;

// -- drawing ---------------------------------------------------------------------------------
function paintMask(m, rgb) {
  if (!m || !m.w || !m.h) return;
  const img = new ImageData(m.w, m.h);
  let at = 0, on = false;
  for (const run of m.runs) {
    if (on) for (let i = at; i < at + run; i++) {
      img.data[4 * i] = rgb[0]; img.data[4 * i + 1] = rgb[1]; img.data[4 * i + 2] = rgb[2]; img.data[4 * i + 3] = 255;
    }
    at += run; on = !on;
  }
  const off = document.createElement("canvas");
  off.width = m.w; off.height = m.h;
  off.getContext("2d").putImageData(img, 0, 0);
  ctx.save(); ctx.globalAlpha = 0.55; ctx.drawImage(off, m.x, m.y); ctx.restore();
}

function strokeBox(b, style, dash, label) {
  ctx.save();
  ctx.strokeStyle = style; ctx.lineWidth = Math.max(1, canvas.width / 800); ctx.setLineDash(dash || []);
  ctx.strokeRect(b[0], b[1], b[2] - b[0], b[3] - b[1]);
  if (label !== undefined) {
    ctx.fillStyle = style; ctx.font = `${Math.max(10, canvas.width / 90)}px sans-serif`;
    ctx.fillText(String(label), b[0], Math.max(10, b[1] - 2));
  }
  ctx.restore();
}

function draw() {
  if (!state.image) return;
  ctx.drawImage(state.image, 0, 0);
  const masks = $("show-masks").checked, boxes = $("show-boxes").checked;
  for (const t of state.results.get(state.frame) || []) {
    const rgb = colour(t.id);
    if (masks) paintMask(t.mask, rgb);
    if (boxes) strokeBox(t.box, css(rgb), null, t.id);
  }
  for (const o of state.segments.get(state.frame) || []) {
    if (masks) paintMask(o.mask, [255, 200, 0]);
    if (boxes && o.box[0] !== null) strokeBox(o.box, "rgb(255,200,0)", null, o.score.toFixed(2));
  }
  for (const p of state.prompts) if (p.frame === state.frame) strokeBox(p.box, "#fff", [4, 3]);
  if (state.drag && state.drag.box) strokeBox(state.drag.box, "#fff", [2, 2]);
}

// the frame as large as the window allows, in its own aspect (mouse positions map through it)
function fit() {
  const stage = $("stage");
  const s = Math.min(stage.clientWidth / canvas.width, (window.innerHeight - 190) / canvas.height);
  canvas.style.width = `${Math.floor(canvas.width * s)}px`;
  canvas.style.height = `${Math.floor(canvas.height * s)}px`;
}
window.addEventListener("resize", fit);

function showFrame(n) {
  const it = state.item;
  if (!it) return;
  n = Math.max(it.first, Math.min(it.last || n, n));
  state.frame = n;
  $("scrub").value = n; $("frame").value = n;
  const img = new Image();
  img.onload = () => {
    if (state.frame !== n) return; // a newer frame was asked for
    state.image = img;
    if (canvas.width !== img.width || canvas.height !== img.height) { canvas.width = img.width; canvas.height = img.height; fit(); }
    draw();
    canvas.dataset.frame = String(n);
  };
  img.onerror = () => say(`frame ${n} could not be loaded`);
  img.src = url("/api/frame", { item: it.id, n });
}

// -- the clip list ---------------------------------------------------------------------------
async function loadItems() {
  const data = await api("/api/items");
  const sel = $("item");
  sel.innerHTML = "";
  for (const it of data.items) {
    const o = document.createElement("option");
    o.value = it.id;
    o.textContent = it.error ? `${it.name} (unreadable)` : `${it.name} (${it.kind}, ${it.frames || "?"} frames)`;
    o.disabled = !!it.error;
    o.dataset.item = JSON.stringify(it);
    sel.appendChild(o);
  }
  for (const c of data.classes) {
    const o = document.createElement("option"); o.value = c; o.textContent = c; $("class").appendChild(o);
  }
  if (data.items.length) pick(JSON.parse(sel.options[sel.selectedIndex].dataset.item));
  else say("no clips or images under the served paths");
}

function pick(it) {
  closeEvents();
  state.item = it; state.prompts = []; state.results = new Map(); state.segments = new Map();
  state.tracks = new Map(); state.run = null;
  $("scrub").min = it.first; $("scrub").max = it.last || it.first;
  $("frame").min = it.first; $("frame").max = it.last || "";
  $("frames-total").textContent = `of ${it.first}\u2013${it.last || "?"}`;
  $("end").value = it.last || "";
  $("info").textContent = `${it.width} \u00d7 ${it.height}` + (it.fps ? `, ${it.fps.toFixed(1)} fps` : "");
  $("run").disabled = it.kind === "image";
  setStatus("idle"); renderPrompts(); renderTracks(); $("downloads").innerHTML = ""; say("");
  $("fps").textContent = "\u2013"; $("live").textContent = "\u2013";
  showFrame(it.first);
}

// -- boxes drawn with the mouse --------------------------------------------------------------
function imagePoint(ev) {
  const r = canvas.getBoundingClientRect();
  return [(ev.clientX - r.left) * canvas.width / r.width, (ev.clientY - r.top) * canvas.height / r.height];
}

canvas.addEventListener("mousedown", (ev) => { state.drag = { from: imagePoint(ev), box: null }; });
canvas.addEventListener("mousemove", (ev) => {
  if (!state.drag) return;
  const [x0, y0] = state.drag.from, [x1, y1] = imagePoint(ev);
  state.drag.box = [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)].map((v) => Math.round(v * 10) / 10);
  draw();
});
window.addEventListener("mouseup", async () => {
  const d = state.drag; state.drag = null;
  if (!d || !d.box || d.box[2] - d.box[0] < 2 || d.box[3] - d.box[1] < 2) { draw(); return; }
  const cls = $("class").value || null;
  if (state.run && state.run.status === "running") {
    try {
      const r = await api(`/api/runs/${state.run.id}/add`, { json: { boxes: [d.box], classes: [cls] } });
      say(`track ${r.ids[0]} starts at frame ${r.frame}`);
    } catch (e) { say(e.message); }
  } else {
    state.prompts.push({ frame: state.frame, box: d.box, class: cls });
    renderPrompts();
  }
  draw();
});

function renderPrompts() {
  const ul = $("prompts");
  ul.innerHTML = "";
  state.prompts.forEach((p, k) => {
    const li = document.createElement("li");
    li.textContent = `frame ${p.frame}: ${p.box.map((v) => v.toFixed(0)).join(", ")}${p.class ? " " + p.class : ""} `;
    const b = document.createElement("button");
    b.className = "small"; b.textContent = "\u2715"; b.title = "forget this box";
    b.onclick = () => { state.prompts.splice(k, 1); renderPrompts(); draw(); };
    li.appendChild(b); ul.appendChild(li);
  });
}

// -- running ---------------------------------------------------------------------------------
function setStatus(s) { $("status").textContent = s; document.body.dataset.status = s; $("stop").disabled = s !== "running"; }

function closeEvents() { if (state.events) { state.events.close(); state.events = null; } }

async function startRun() {
  const it = state.item;
  const end = parseInt($("end").value, 10);
  const body = {
    item: it.id, start: state.frame, end: Number.isFinite(end) ? end : null,
    prompts: state.prompts.filter((p) => p.frame >= state.frame), discover: $("discover").checked,
  };
  let run;
  try { run = await api("/api/runs", { json: body }); } catch (e) { say(e.message); return; }
  state.run = run; state.results = new Map(); state.tracks = new Map();
  renderTracks(); setStatus("running"); say(""); $("downloads").innerHTML = "";
  closeEvents();
  const es = new EventSource(url(`/api/runs/${run.id}/events`));
  state.events = es;
  es.addEventListener("frame", (e) => {
    const ev = JSON.parse(e.data);
    state.results.set(ev.frame, ev.tracks);
    for (const t of ev.tracks) {
      const rec = state.tracks.get(t.id) || { class: t.class, first: ev.frame, last: ev.frame, frames: 0, score: 0 };
      rec.last = ev.frame; rec.frames += 1; rec.score += t.score;
      state.tracks.set(t.id, rec);
    }
    $("fps").textContent = ev.fps.toFixed(2); $("live").textContent = ev.live;
    renderTracks();
    showFrame(ev.frame);
  });
  es.addEventListener("end", (e) => {
    const ev = JSON.parse(e.data);
    closeEvents();
    state.run.status = ev.status;
    setStatus(ev.status);
    if (ev.error && ev.status !== "done") say(ev.error);
    renderDownloads(ev);
  });
  es.onerror = () => { if (state.run && state.run.status !== "running") closeEvents(); };
}

function renderDownloads(run) {
  const box = $("downloads");
  box.innerHTML = "";
  for (const f of run.files) {
    const a = document.createElement("a");
    a.href = url(`/api/runs/${run.id}/files/${f}`); a.download = f; a.textContent = f;
    a.id = "dl-" + f.replace(/\..*$/, "");
    box.appendChild(a);
  }
}

function renderTracks() {
  const tb = $("tracks");
  tb.innerHTML = "";
  for (const [id, t] of [...state.tracks.entries()].sort((a, b) => a[0] - b[0])) {
    const tr = document.createElement("tr");
    tr.dataset.id = id;
    tr.innerHTML = `<td><span class="swatch" style="background:${css(colour(id))}"></span>${id}</td>` +
      `<td>${t.class || "\u2013"}</td><td>${t.first}</td><td>${t.last}</td><td>${(t.score / t.frames).toFixed(2)}</td><td></td>`;
    tr.onclick = () => showFrame(t.first);
    const b = document.createElement("button");
    b.className = "small"; b.textContent = "remove"; b.title = "end this track now";
    b.disabled = !(state.run && state.run.status === "running");
    b.onclick = async (ev) => {
      ev.stopPropagation();
      try { await api(`/api/runs/${state.run.id}/remove`, { json: { ids: [id] } }); say(`track ${id} removed`); }
      catch (e) { say(e.message); }
    };
    tr.lastChild.appendChild(b);
    tb.appendChild(tr);
  }
}

async function segmentNow() {
  const boxes = state.prompts.filter((p) => p.frame === state.frame).map((p) => p.box);
  if (!boxes.length) { say("draw a box on this frame first"); return; }
  try {
    const r = await api("/api/segment", { json: { item: state.item.id, frame: state.frame, boxes } });
    state.segments.set(state.frame, r.objects);
    say(`${r.objects.length} object(s) segmented`);
    draw();
  } catch (e) { say(e.message); }
}

// -- controls --------------------------------------------------------------------------------
$("item").onchange = (e) => pick(JSON.parse(e.target.options[e.target.selectedIndex].dataset.item));
$("scrub").oninput = (e) => showFrame(parseInt(e.target.value, 10));
$("frame").onchange = (e) => showFrame(parseInt(e.target.value, 10));
$("prev").onclick = () => showFrame(state.frame - 1);
$("next").onclick = () => showFrame(state.frame + 1);
$("show-masks").onchange = draw;
$("show-boxes").onchange = draw;
$("run").onclick = startRun;
$("stop").onclick = () => state.run && api(`/api/runs/${state.run.id}/stop`, { method: "POST" }).catch((e) => say(e.message));
$("segment").onclick = segmentNow;
$("clear").onclick = () => { state.prompts = []; state.segments.delete(state.frame); renderPrompts(); draw(); };
window.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
  if (e.key === "ArrowLeft") showFrame(state.frame - 1);
  if (e.key === "ArrowRight") showFrame(state.frame + 1);
});

loadItems().catch((e) => say(e.message));
