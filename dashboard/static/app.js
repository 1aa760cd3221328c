// AI Camera Fleet dashboard: live updates over Socket.IO, server alerts, charts.
// Everything received is inserted with textContent (plates are text, never HTML).
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("config").textContent);
  const page = document.body.dataset.page;
  const RANK = {PASS: 0, WARN: 1, FAIL: 2};
  const timeFmt = new Intl.DateTimeFormat("sv-SE", {timeZone: cfg.tz, year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false});
  const localTime = (iso) => (iso ? timeFmt.format(new Date(iso)) : "");

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function badge(status) {
    return el("span", {class: "badge s-" + (status || "none")}, (cfg.labels[status] ?? status) || "–");
  }

  // ---- alerts: matched once, on the server (fleet_store/alerts.py); pages only show what it announces
  const openSeen = new Set();
  function alertWhat(a, parent) {
    const d = a.detail || {};
    if (d.detection_id) {
      parent.append(el("a", {href: "/detections/" + d.detection_id, class: "plate"}, d.license_plate),
        el("span", {}, " " + (d.province || "") + (d.note ? " · " + d.note : "")));
    } else {
      parent.append(el("span", {}, a.text));
    }
    return parent;
  }
  function alertBanner(a) {
    const box = el("div", {class: "alert", role: "alert", "data-alert": a.id});
    box.append(el("strong", {}, (cfg.rules[a.rule] || a.rule) + ": "));
    alertWhat(a, box).append(el("span", {}, " · " + (a.checkpoint_id || "") + " · " + localTime(a.last_at)));
    box.append(el("a", {href: "/alerts?state=open"}, "→"));
    const close = el("button", {type: "button", "aria-label": "close"}, "×");
    close.addEventListener("click", () => box.remove());
    box.append(close);
    document.getElementById("alerts").prepend(box);
  }
  function setOpenCount(delta) {
    const out = document.getElementById("open-alerts");
    if (!out) return;
    const n = Math.max(0, Number(out.textContent) + delta);
    out.textContent = n;
    out.classList.toggle("none", n === 0);
  }
  function alertRow(a) {
    const tr = el("tr", {"data-alert": a.id, class: "alert-" + a.state});
    const cp = el("td");
    if (a.checkpoint_id) cp.append(el("a", {href: "/checkpoints/" + encodeURIComponent(a.checkpoint_id)}, a.checkpoint_id));
    const state = el("td", {class: "state"}, (cfg.states[a.state] || a.state) +
      (a.acknowledged_by ? " · " + a.acknowledged_by + " " + localTime(a.acknowledged_at) : ""));
    const action = el("td");
    const table = document.getElementById("alert-list");
    if (a.state === "open" && table.dataset.admin === "1") {
      const form = el("form", {method: "post", class: "inline ack",
        action: "/alerts/" + a.id + "/acknowledge?state=" + encodeURIComponent(table.dataset.state)});
      form.append(document.getElementById("ack-form").content.cloneNode(true), el("button", {}, cfg.ackText));
      action.append(form);
    }
    tr.append(el("td", {}, localTime(a.opened_at)), el("td", {}, cfg.rules[a.rule] || a.rule),
      alertWhat(a, el("td", {class: "what"})), cp, el("td", {}, a.occurrences), state, action);
    return tr;
  }
  function showAlertRow(a) {
    const table = document.getElementById("alert-list");
    const old = table.querySelector('tbody tr[data-alert="' + a.id + '"]');
    const wanted = !table.dataset.state || table.dataset.state === a.state;
    if (!wanted) { old?.remove(); return; }
    const row = alertRow(a);
    if (old) { old.replaceWith(row); return; }
    table.querySelector("tbody tr.empty")?.remove();
    table.tBodies[0].prepend(row);
  }
  function onAlert(a) {
    const banner = document.querySelector('#alerts .alert[data-alert="' + a.id + '"]');
    if (a.state === "open" && !openSeen.has(a.id)) {
      openSeen.add(a.id);
      setOpenCount(1);
      if (!banner) alertBanner(a);
    } else if (a.state !== "open") {
      // this event ends an open alert: an acknowledgement now, or the close of one this page saw open
      const justAcked = a.state === "acknowledged" || (a.acknowledged_at && a.acknowledged_at === a.closed_at);
      if (justAcked || openSeen.has(a.id)) setOpenCount(-1);
      openSeen.delete(a.id);
      banner?.remove();
    }
    if (page === "alerts") showAlertRow(a);
  }

  // ---- detection rows (live feed, health page)
  function detectionRow(d, withImage) {
    const tr = el("tr", {"data-id": d.id, class: "new"});
    const thumb = el("td", {class: "thumb"});
    const picture = d.has_plate_image ? "/plate" : d.has_image ? "/image" : null;  // the crop shows the read best
    if (picture && withImage) {  // decoded off the main thread so live events are not held up
      thumb.append(el("img", {src: "/detections/" + d.id + picture, alt: "", decoding: "async",
        fetchpriority: "low"}));
    }
    const plate = el("td", {class: "plate"});
    plate.append(el("a", {href: "/detections/" + d.id}, d.license_plate));
    const cp = el("td");
    cp.append(el("a", {href: "/checkpoints/" + encodeURIComponent(d.checkpoint_id)}, d.checkpoint_id));
    tr.append(thumb, plate, el("td", {class: "province"}, d.province || ""), el("td", {}, Number(d.confidence).toFixed(1)),
      cp, el("td", {}, localTime(d.timestamp)));
    return tr;
  }
  // Rows are added at most every FLUSH_MS, newest first. Only the newest BATCH_THUMBS rows of a
  // batch load their image and only the top THUMBS rows keep one: at hundreds of detections a
  // second nobody reads faster, and each thumbnail costs a request and a decode that would delay
  // the next live events. At ordinary rates every visible row has its thumbnail.
  const THUMBS = 15, BATCH_THUMBS = 5, FLUSH_MS = 250;
  const pending = new Map();
  function prependRow(tbody, d, max) {
    if (!pending.has(tbody)) pending.set(tbody, {rows: [], max});
    const queue = pending.get(tbody);
    queue.rows.push(d);
    if (queue.rows.length === 1) setTimeout(() => requestAnimationFrame(() => flushRows(tbody)), FLUSH_MS);
  }
  function flushRows(tbody) {
    const {rows, max} = pending.get(tbody);
    pending.delete(tbody);
    const fresh = document.createDocumentFragment();
    rows.slice(-max).reverse().forEach((d, i) => fresh.append(detectionRow(d, i < BATCH_THUMBS)));
    tbody.prepend(fresh);
    while (tbody.rows.length > max) tbody.deleteRow(tbody.rows.length - 1);
    for (let i = THUMBS; i < tbody.rows.length; i++) tbody.rows[i].querySelector("td.thumb img")?.remove();
  }

  // ---- overview
  const rowOf = (cp) => document.querySelector('#fleet tr[data-cp="' + CSS.escape(cp) + '"]');
  // Every checkpoint's state (the page shows one page of them): counts stay fleet-wide as events arrive.
  const fleetStates = JSON.parse(document.getElementById("fleet-states")?.textContent || "{}");
  function recount() {
    for (const s of ["online", "offline", "never"]) {
      const out = document.getElementById("n-" + s);
      if (out) out.textContent = Object.values(fleetStates).filter((v) => v === s).length;
    }
    const all = document.getElementById("n-all");
    if (all) all.textContent = Object.keys(fleetStates).length;
  }
  // A checkpoint registered after the page loaded gets a row of its own.
  function addCheckpointRow(cp) {
    const tbody = document.querySelector('#fleet[data-complete="1"] tbody');  // not into a filtered page
    if (!tbody) return null;
    tbody.querySelector("td[colspan]")?.closest("tr").remove();
    const row = el("tr", {"data-cp": cp, "data-components": "{}"});
    const name = el("td");
    name.append(el("a", {href: "/checkpoints/" + encodeURIComponent(cp)}, cp));
    row.append(name, el("td", {class: "site"}), el("td", {class: "state"}), el("td", {class: "problems"}),
      el("td", {class: "seen"}), el("td", {class: "count"}, "0"), el("td", {class: "backlog"}, "–"),
      el("td", {class: "worst"}));
    row.querySelector("td.state").append(badge("never"));
    row.querySelector("td.worst").append(badge(null));
    tbody.append(row);
    return row;
  }
  function setState(cp, status) {
    if (page === "overview" && status) fleetStates[cp] = status;
    const row = rowOf(cp) || (page === "overview" ? addCheckpointRow(cp) : null);
    if (row && status) {
      const cell = row.querySelector("td.state");
      cell.replaceChildren(badge(status));
    }
    const dot = document.querySelector('#fleet-map circle[data-cp="' + CSS.escape(cp) + '"]');
    if (dot && status) dot.setAttribute("class", "dot s-" + status);
    const title = document.querySelector('#health-title[data-cp="' + CSS.escape(cp) + '"] .state');
    if (title && status) title.replaceChildren(badge(status));
    recount();
  }
  function touch(cp, iso) {
    const row = rowOf(cp) || addCheckpointRow(cp);
    if (!row) return null;
    row.querySelector("td.seen").textContent = localTime(iso || new Date().toISOString());
    return row;
  }
  function backlogOf(h) { return metricsOf(h).outbox_backlog ?? null; }

  function onDetection(d) {
    if (page === "live") prependRow(document.querySelector("#live-feed tbody"), d, 100);
    if (page === "overview") {
      const row = touch(d.checkpoint_id, d.received_at);
      if (row) { const c = row.querySelector("td.count"); c.textContent = Number(c.textContent) + 1; }
      if (fleetStates[d.checkpoint_id] !== "online") setState(d.checkpoint_id, "online");
    }
    if (page === "health" && d.checkpoint_id === healthCp()) {
      prependRow(document.querySelector("table.detections tbody"), d, 10);
    }
  }

  function onHealth(h) {
    if (page === "overview") {
      const row = touch(h.checkpoint_id, h.received_at);
      if (!row) return;
      const comps = JSON.parse(row.dataset.components || "{}");
      comps[h.component] = h.status;
      row.dataset.components = JSON.stringify(comps);
      const worst = Object.values(comps).reduce((a, s) => (RANK[s] > (RANK[a] ?? -1) ? s : a), null);
      row.querySelector("td.worst").replaceChildren(badge(worst));
      const backlog = backlogOf(h);
      if (backlog !== null) row.querySelector("td.backlog").textContent = Math.round(backlog);
    }
    if (page === "health" && h.checkpoint_id === healthCp()) updateComponent(h);
  }

  function onStatus(s) { setState(s.checkpoint_id, s.status || (s.connected ? "online" : null)); }

  // ---- health page
  const healthCp = () => document.getElementById("health-title")?.dataset.cp;
  function updateComponent(h) {
    const tbody = document.querySelector("#components tbody");
    tbody.querySelector("tr.empty")?.remove();
    let row = tbody.querySelector('tr[data-component="' + CSS.escape(h.component) + '"]');
    if (!row) {
      row = el("tr", {"data-component": h.component});
      row.append(el("td", {}, h.component), el("td", {class: "status"}), el("td", {class: "message"}),
        el("td", {class: "time"}));
      tbody.append(row);
    }
    row.querySelector(".status").replaceChildren(badge(h.status));
    row.querySelector(".message").textContent = h.message;
    row.querySelector(".time").textContent = localTime(h.timestamp);
    const values = metricsOf(h);
    charts.forEach((chart) => chart.add(Math.round(Date.parse(h.timestamp) / 1000), values));
  }

  const charts = [];
  // Figures arrive as numbers (fleet_store/metrics.py reads them once, on the server).
  const metricsOf = (h) => h.metrics || {};
  const tzDate = (ts) => uPlot.tzDate(new Date(ts * 1000), cfg.tz);
  function plotWidth(node) { return Math.max(260, node.clientWidth || 300); }

  function healthCharts() {
    const data = JSON.parse(document.getElementById("series").textContent);
    document.querySelectorAll("figure.chart").forEach((fig) => {
      const name = fig.dataset.metric;
      const node = fig.querySelector(".plot");
      const xs = data.t.slice(), ys = data.values[name].slice();
      let [xmin, xmax] = data.window;  // the selected range, not just the points' span
      const plot = new uPlot({width: plotWidth(node), height: 150, tzDate, legend: {show: false},
        scales: {x: {time: true, range: () => [xmin, xmax]}},
        series: [{}, {label: name, stroke: "#2f6fb0", width: 2, spanGaps: true}]}, [xs, ys], node);
      charts.push({add(t, values) {
        const v = values[name];
        if (v === undefined) return;
        xs.push(t); ys.push(v); xmax = Math.max(xmax, t); plot.setData([xs, ys]);
      }});
    });
  }

  const PALETTE = ["#2f6fb0", "#d9822b", "#2e9e5b", "#c23b3b", "#7d4fb5", "#8a6d3b", "#d147a3", "#555", "#17a2b8", "#9aa000"];
  function statsChart(dataId = "chart-data", nodeId = "stats-chart") {
    const source = document.getElementById(dataId), node = document.getElementById(nodeId);
    if (!source || !node) return;
    const data = JSON.parse(source.textContent);
    const names = Object.keys(data.series);
    const series = [{}].concat(names.map((n, i) => ({label: n, stroke: PALETTE[i % PALETTE.length], width: 2})));
    new uPlot({width: plotWidth(node), height: 320, tzDate, series},
      [data.t].concat(names.map((n) => data.series[n])), node);
  }

  // ---- socket
  function connect() {
    const status = document.getElementById("conn");
    const socket = io({transports: ["websocket"]});
    socket.on("connect", () => status.classList.add("up"));
    socket.on("disconnect", () => status.classList.remove("up"));
    socket.on("detection", onDetection);
    socket.on("health", onHealth);
    socket.on("checkpoint_status", onStatus);
    socket.on("alert", onAlert);
    window.fleetSocket = socket;
  }

  if (page === "health" && window.uPlot) healthCharts();
  if (page === "stats" && window.uPlot) { statsChart(); statsChart("site-chart-data", "site-chart"); }
  connect();
})();
