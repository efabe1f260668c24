"use strict";
// floe's web UI: every page is filled from the JSON API (docs/web.md) with
// textContent and DOM nodes, never HTML strings, so nothing read from the
// archive is parsed as markup.  Charts are SVG drawn by the server.

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function showError(msg) {
  const p = $("error");
  if (!p) return;
  p.textContent = msg || "";
  p.hidden = !msg;
}

async function getJSON(url) {
  const r = await fetch(url, {credentials: "same-origin"});
  let body;
  try { body = await r.json(); } catch (e) { body = {error: r.status + " " + r.statusText}; }
  if (!r.ok) throw new Error(body.error || (r.status + " " + r.statusText));
  return body;
}

function params() { return new URLSearchParams(location.search); }

function qs(obj) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  return p.toString();
}

function iso(sec) { return new Date(Math.round(sec * 1000)).toISOString().replace(".000Z", "Z"); }

// A range and bin around [first, last] seconds: about 100 bins of a round size.
function windowOf(first, last) {
  const steps = [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 10800, 21600, 86400, 604800];
  const span = Math.max(1, last - first);
  let bin = steps[steps.length - 1];
  for (const s of steps) if (s * 100 >= span) { bin = s; break; }
  const t0 = Math.floor(first / bin) * bin, t1 = (Math.floor(last / bin) + 1) * bin;
  return {t: iso(t0) + "/" + iso(t1), b: bin + "s"};
}

// Fills table t with a header and rows; cols: [{key, title, num, link(row)}].
function fillTable(t, cols, rows) {
  t.replaceChildren();
  const head = el("tr");
  for (const c of cols) head.appendChild(el("th", c.title || c.key));
  const thead = el("thead");
  thead.appendChild(head);
  t.appendChild(thead);
  const body = el("tbody");
  for (const r of rows) {
    const tr = el("tr");
    for (const c of cols) {
      const v = r[c.key];
      const td = el("td", null, c.num ? "num" : "");
      if (c.link) {
        const a = el("a", v);
        a.href = c.link(r);
        td.appendChild(a);
      } else {
        td.textContent = v === null || v === undefined ? "" : String(v);
      }
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  t.appendChild(body);
}

function setTotals(s) {
  for (const k of ["records", "flows", "pkts", "bytes"]) if ($(k)) $(k).textContent = String(s[k]);
  if ($("first")) $("first").textContent = s.first === null ? "-" : iso(s.first);
  if ($("last")) $("last").textContent = s.last === null ? "-" : iso(s.last);
}

function formValues(form) {
  const o = {};
  for (const [k, v] of new FormData(form).entries()) o[k] = v;
  return o;
}

function initForm(form) {
  const p = params();
  for (const e of form.elements) if (e.name && p.has(e.name)) e.value = p.get(e.name);
}

const numeric = new Set(["bytes", "pkts", "flows", "trans", "spkts", "dpkts", "sbytes", "dbytes", "dur",
                         "sport", "dport", "records"]);

// ---- dashboard ----

async function dashboard() {
  const form = $("window");
  initForm(form);
  const p = params();
  const q = {t: p.get("t") || "", m: p.get("m") || "bytes", filter: p.get("filter") || ""};
  try {
    const s = await getJSON("/api/summary?" + qs({t: q.t, m: q.m, filter: q.filter, top: 10}));
    setTotals(s);
    const w = s.first === null ? {t: q.t, b: ""} : windowOf(s.first, s.last);
    const t = q.t || w.t;
    $("chart-total").src = "/api/graph.svg?" + qs({t: t, b: w.b, m: q.m, filter: q.filter});
    $("chart-proto").src = "/api/graph.svg?" + qs({t: t, b: w.b, m: q.m, filter: q.filter, by: "proto", top: 6});
    const hostLink = (r) => "/host?" + qs({addr: r.saddr, t: q.t, m: q.m});
    fillTable($("hosts"), [{key: "saddr", title: "host", link: hostLink},
                           {key: "bytes", num: true}, {key: "pkts", num: true}, {key: "flows", num: true}],
              s.hosts);
    const portLink = (r) => "/query?" + qs({filter: r.proto + " and dst port " + r.dport, by: "saddr daddr",
                                            t: q.t});
    fillTable($("ports"), [{key: "proto"}, {key: "dport", title: "port", link: portLink},
                           {key: "bytes", num: true}, {key: "pkts", num: true}, {key: "flows", num: true}],
              s.ports);
    fillTable($("protos"), [{key: "proto"}, {key: "bytes", num: true}, {key: "pkts", num: true},
                            {key: "flows", num: true}], s.protos);
    document.body.dataset.loaded = "1";
  } catch (e) {
    showError(e.message);
    document.body.dataset.loaded = "error";
  }
}

// ---- host ----

async function host() {
  const form = $("window");
  initForm(form);
  const p = params();
  const addr = p.get("addr") || "";
  const m = p.get("m") || "bytes";
  $("addr").textContent = addr;
  $("addr-in").value = addr;
  $("to-query").href = "/query?" + qs({filter: "host " + addr, t: p.get("t") || ""});
  try {
    let t = p.get("t") || "", b = "";
    if (!t) {
      const s = await getJSON("/api/summary?" + qs({filter: "host " + addr, top: 1}));
      if (s.first !== null) ({t, b} = windowOf(s.first, s.last));
    }
    const h = await getJSON("/api/host/" + encodeURIComponent(addr) + "?" + qs({t: t, b: b, m: m}));
    setTotals(h);
    $("chart-vs").src = "/api/graph.svg?" + qs({t: t, b: b, m: m, host: addr});
    $("chart-flows").src = "/api/graph.svg?" + qs({t: t, b: b, m: "flows", filter: "host " + addr});
    const peerLink = (r) => "/host?" + qs({addr: r.daddr, t: p.get("t") || "", m: m});
    fillTable($("peers"), [{key: "daddr", title: "peer", link: peerLink}, {key: "bytes", num: true},
                           {key: "pkts", num: true}, {key: "flows", num: true}], h.peers);
    fillTable($("ports"), [{key: "proto"}, {key: "dport", title: "port"}, {key: "bytes", num: true},
                           {key: "pkts", num: true}, {key: "flows", num: true}], h.ports);
    const fnd = h.findings.map((f) => ({...f, start: iso(f.start), end: iso(f.end)}));
    fillTable($("findings"), [{key: "finding"}, {key: "host"}, {key: "peer"}, {key: "proto"},
                              {key: "port", num: true}, {key: "start"}, {key: "end"},
                              {key: "flows", num: true}, {key: "targets", num: true}], fnd);
    $("no-findings").hidden = fnd.length > 0;
    $("findings").hidden = fnd.length === 0;
    document.body.dataset.loaded = "1";
  } catch (e) {
    showError(e.message);
    document.body.dataset.loaded = "error";
  }
}

// ---- query ----

function sortBy(table, col) {
  const body = table.tBodies[0];
  if (!body) return;
  const rows = Array.from(body.rows);
  const dir = table.dataset.sortcol === String(col) && table.dataset.sortdir === "asc" ? "desc" : "asc";
  const num = rows.every((r) => r.cells[col].textContent === "" || !isNaN(Number(r.cells[col].textContent)));
  rows.sort((a, b) => {
    const x = a.cells[col].textContent, y = b.cells[col].textContent;
    const c = num ? Number(x) - Number(y) : x.localeCompare(y);
    return dir === "asc" ? c : -c;
  });
  for (const r of rows) body.appendChild(r);
  table.dataset.sortcol = String(col);
  table.dataset.sortdir = dir;
}

async function query() {
  const form = $("q");
  initForm(form);
  const v = formValues(form);
  const args = {filter: v.filter, by: v.by, sort: v.sort, t: v.t, limit: v.limit || 100};
  $("csv").href = "/api/query?" + qs({...args, format: "csv"});
  $("json").href = "/api/query?" + qs({...args, format: "json"});
  const table = $("result");
  table.addEventListener("click", (ev) => {
    const th = ev.target.closest("th");
    if (th) sortBy(table, th.cellIndex);
  });
  try {
    const r = await getJSON("/api/query?" + qs(args));
    const cols = r.columns.map((c) => ({key: c, num: numeric.has(c),
      link: c === "saddr" || c === "daddr" ? (row) => "/host?" + qs({addr: row[c], t: v.t}) : null}));
    fillTable(table, cols, r.rows);
    $("count").textContent = r.rows.length + " rows" + (r.more ? " (more not shown)" : "");
    document.body.dataset.loaded = "1";
  } catch (e) {
    showError(e.message);
    document.body.dataset.loaded = "error";
  }
}

// ---- live ----

function live() {
  const files = [], rates = [];
  let recs = [];
  const fcols = [{key: "file"}, {key: "records", num: true}, {key: "bytes", num: true},
                 {key: "pkts", num: true}, {key: "bps", title: "bit/s", num: true},
                 {key: "pps", title: "pkt/s", num: true}];
  const rcols = [{key: "time"}, {key: "records", num: true}, {key: "bytes", num: true},
                 {key: "pkts", num: true}, {key: "bps", title: "bit/s", num: true},
                 {key: "pps", title: "pkt/s", num: true}, {key: "total", title: "records so far", num: true},
                 {key: "lost", num: true}];
  const es = new EventSource("/api/live");
  const state = (t) => { $("state").textContent = t; };
  es.addEventListener("open", () => state("connected."));
  es.addEventListener("error", () => state("reconnecting…"));
  es.addEventListener("mode", (ev) => {
    const m = JSON.parse(ev.data);
    document.body.dataset.mode = m.mode;
    $("archive-mode").hidden = m.mode !== "archive";
    $("stream-mode").hidden = m.mode !== "stream";
    if (m.mode === "stream") $("sources").textContent = m.sources.join(", ");
  });
  es.addEventListener("waiting", () => state("connected; no closed file yet."));
  es.addEventListener("file", (ev) => {
    files.unshift(JSON.parse(ev.data));
    files.splice(50);
    fillTable($("files"), fcols, files);
    document.body.dataset.loaded = "1";
  });
  es.addEventListener("rate", (ev) => {
    const r = JSON.parse(ev.data);
    r.time = iso(r.time);
    rates.unshift(r);
    rates.splice(120);
    fillTable($("rates"), rcols, rates);
    document.body.dataset.loaded = "1";
  });
  es.addEventListener("records", (ev) => {
    const rows = ev.data.split("\n").filter((l) => l).map((l) => JSON.parse(l));
    recs = rows.reverse().concat(recs).slice(0, 20);
    const cols = recs.length ? Object.keys(recs[0]).map((k) => ({key: k, num: numeric.has(k)})) : [];
    fillTable($("records"), cols, recs);
  });
  es.addEventListener("end", () => { state("the stream ended."); es.close(); document.body.dataset.ended = "1"; });
  es.addEventListener("failure", (ev) => { state("stream failed: " + JSON.parse(ev.data).error); });
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  if (page === "dashboard") dashboard();
  else if (page === "host") host();
  else if (page === "query") query();
  else if (page === "live") live();
});
