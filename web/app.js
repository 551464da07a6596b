// overlayd's web view: polls the daemon's read-only HTTP API every 2 s.
"use strict";

const $ = (id) => document.getElementById(id);
let lastActors = null;  // {time, counts} of the previous poll, for messages/s

async function get(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" } });
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

// Replaces a table body with rows of cells (text only: never HTML from the daemon).
function fill(table, rows, empty) {
  const body = $(table).tBodies[0];
  body.replaceChildren();
  if (rows.length === 0) {
    const tr = body.insertRow();
    const td = tr.insertCell();
    td.colSpan = $(table).tHead.rows[0].cells.length;
    td.className = "empty";
    td.textContent = empty;
    return;
  }
  for (const cells of rows) {
    const tr = body.insertRow();
    for (const c of cells) {
      const td = tr.insertCell();
      if (typeof c === "number") td.className = "num";
      td.textContent = c === null || c === undefined ? "-" : String(c);
    }
  }
}

function bytes(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}

function age(unix) {
  if (!unix) return "never";
  const s = Math.max(0, Math.round(Date.now() / 1000 - unix));
  return s < 120 ? s + "s ago" : s < 7200 ? Math.round(s / 60) + "m ago" : Math.round(s / 3600) + "h ago";
}

function dur(ns) {
  return ns < 1e3 ? ns + "ns" : ns < 1e6 ? (ns / 1e3).toFixed(1) + "µs" : ns < 1e9 ? (ns / 1e6).toFixed(2) + "ms" : (ns / 1e9).toFixed(2) + "s";
}

function actors(rows) {
  const now = performance.now();
  const counts = Object.fromEntries(rows.map((a) => [a.name, a.handled]));
  const rate = (a) => {
    if (!lastActors || !(a.name in lastActors.counts)) return "-";
    const dt = (now - lastActors.time) / 1000;
    return dt > 0 ? ((a.handled - lastActors.counts[a.name]) / dt).toFixed(1) : "-";
  };
  fill("actors", rows.sort((x, y) => x.name.localeCompare(y.name)).map((a) => [a.name, a.mailbox, rate(a), a.handled]), "no actors");
  lastActors = { time: now, counts };
}

// The last requests as a waterfall: one block per correlation id, one line
// per hop, each bar placed by start time and sized by handling time.
function requests(trace) {
  const groups = new Map();
  for (const r of trace.records) {
    if (!r.correlation) continue;
    if (!groups.has(r.correlation)) groups.set(r.correlation, []);
    groups.get(r.correlation).push(r);
  }
  // `status` requests are mostly this page's own polling: left out.
  const last = [...groups.entries()]
    .filter(([, hops]) => !hops.some((h) => h.type.endsWith(":status") && h.sender.name === "external"))
    .sort((a, b) => b[0] - a[0]).slice(0, 15);
  const box = $("requests");
  box.replaceChildren();
  if (last.length === 0) {
    box.textContent = "no requests yet";
    box.className = "empty";
    return;
  }
  box.className = "";
  for (const [corr, hops] of last) {
    hops.sort((a, b) => a.seq - b.seq);
    const t0 = hops[0].time_ns;
    const end = Math.max(...hops.map((h) => h.time_ns + h.handling_ns));
    const span = Math.max(end - t0, 1);
    const op = hops[0].type.split(":").pop();
    // The service the request names (setup/teardown, ip alloc, attach, a
    // service-scoped peer op): on its records, or at least those carrying it.
    const service = (hops.find((h) => h.service) || {}).service;
    const div = document.createElement("div");
    div.className = "request";
    div.dataset.correlation = corr;
    if (service) div.dataset.service = service;
    const title = document.createElement("div");
    title.className = "title";
    title.append("request " + corr + " · " + op + " · ");
    if (service) {
      const svc = document.createElement("span");
      svc.className = "service";
      svc.textContent = "service " + service;
      title.append(svc, " · ");
    }
    title.append(dur(end - t0) + " · " + hops.length + " hops");
    div.append(title);
    let prev = t0;
    for (const h of hops) {
      const row = document.createElement("div");
      row.className = "hop";
      const label = document.createElement("span");
      label.className = "mono";
      label.textContent = h.sender.name + " → " + h.receiver.name + "  " + h.type +
        "  wait " + dur(Math.max(0, h.time_ns - prev)) + "  handle " + dur(h.handling_ns);
      prev = h.time_ns;
      const track = document.createElement("div");
      track.className = "track";
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.style.left = (100 * (h.time_ns - t0) / span).toFixed(2) + "%";
      bar.style.width = Math.max(0.5, 100 * h.handling_ns / span).toFixed(2) + "%";
      bar.title = label.textContent;
      track.append(bar);
      row.append(label, track);
      div.append(row);
    }
    box.append(div);
  }
}

async function poll() {
  const jobs = [
    get("/v1/status").then((s) => {
      $("node").textContent = s.interface ? s.interface + " · " + s.node_ip + " · " + (s.overlay_cidr || "") : "global overlay down";
    }),
    get("/v1/actors").then(actors),
    get("/v1/trace?since=0&limit=2000").then(requests),
    get("/v1/peers").then((ps) => fill("peers", ps.map((p) => [p.public_key, p.device, p.endpoint, age(p.last_handshake_unix),
      bytes(p.rx_bytes), bytes(p.tx_bytes), p.allowed_ips]), "no peers")),
    get("/v1/services").then((ss) => fill("services", ss.map((s) => [s.service, s.mode, s.subnet, s.gateway, s.bridge, s.members,
      s.dedicated ? s.dedicated.interface + ":" + s.dedicated.port : null]), "no services")),
    get("/v1/nat/attempts").then((ns) => fill("nat", ns.map((n) => {
      const a = n.attempts.length ? n.attempts[n.attempts.length - 1] : null;
      return [n.peer, n.connection_type, n.remote_endpoint, n.attempts.length, a ? a.outcome : null, a ? a.reason : null];
    }), "no NAT attempts")),
  ];
  const results = await Promise.allSettled(jobs);
  const failed = results.filter((r) => r.status === "rejected").map((r) => r.reason.message);
  $("updated").textContent = failed.length ? "errors: " + failed.join("; ") : "updated " + new Date().toLocaleTimeString();
}

poll();
setInterval(poll, 2000);
