// The checkpoint's local pages: poll the control API every 2 s and render with DOM nodes.
// Nothing from the API is ever parsed as HTML (textContent, setAttribute, URL-encoded paths),
// and the page sends no token in URLs: when the API needs one, a form trades it for an
// HttpOnly, SameSite=Strict cookie (POST /api/session).
"use strict";

const page = document.body.dataset.page;
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value ?? ""));
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

class Locked extends Error {}

async function api(path, method) {
  const response = await fetch(path, {method: method || "GET", credentials: "same-origin"});
  const body = await response.json();
  if (response.status === 401) throw new Locked(body.message);
  $("error").textContent = body.status === "error" ? body.message : "";
  return body;
}

function table(rows, columns) {
  const head = el("tr", {}, ...columns.map(([title]) => el("th", {}, title)));
  return el("table", {}, head, ...rows.map((row) => el("tr", {}, ...columns.map(([, cell]) => el("td", {}, cell(row))))));
}

function buttons(list) {
  $("controls").replaceChildren(...list.map(([label, path]) => {
    const button = el("button", {type: "button"}, label);
    button.addEventListener("click", () => api(path, "POST").then(refresh, show));
    return button;
  }));
}

function image(row, which) {
  if (!row["has_" + which]) return "–";
  const src = "/images/" + encodeURIComponent(String(row.event_id)) + "/" + which + ".jpg";
  return el("img", {alt: which, src: new URL(src, location.origin).pathname});
}

const json = (value) => el("pre", {}, JSON.stringify(value, null, 1));
const status = (value) => el("b", {class: String(value ?? "")}, value);

const views = {
  overview: async () => {
    const h = await api("/api/health_status");
    const w = await api("/api/websocket_status");
    const d = await api("/api/detections?limit=5");
    const line = el("p", {}, "Health: ", status(h.health?.overall), " · uplink ", el("b", {}, w.websocket?.state),
                    " · unsent ", w.websocket?.backlog?.detection_results?.pending);
    return [line, table(d.detections || [], [["plate", (r) => r.license_plate], ["time", (r) => r.timestamp],
                                             ["state", (r) => r.delivery], ["scene", (r) => image(r, "scene")]])];
  },
  detection: async () => {
    buttons([["start camera", "/api/start_camera"], ["stop camera", "/api/stop_camera"],
             ["start detection", "/api/start_detection"], ["stop detection", "/api/stop_detection"]]);
    const c = await api("/api/camera_status");
    const s = await api("/api/detection_status");
    const d = await api("/api/detections?limit=20");
    return [json({camera: c.camera, detection: s.detection}),
            table(d.detections || [], [["plate", (r) => r.license_plate], ["confidence", (r) => r.confidence],
                                       ["time", (r) => r.timestamp],
                                       ["state", (r) => `${r.delivery ?? ""} ${r.last_error ?? ""}`],
                                       ["plate crop", (r) => image(r, "plate")], ["scene", (r) => image(r, "scene")]])];
  },
  health: async () => {
    buttons([["run health check", "/api/run_health_check"]]);
    const h = (await api("/api/health_status")).health || {components: []};
    return [el("p", {}, "Checked ", h.checked_at),
            table(h.components, [["component", (r) => r.component], ["status", (r) => status(r.status)],
                                 ["message", (r) => r.message]])];
  },
  websocket: async () => {
    buttons([["start", "/api/start_websocket_sender"], ["stop", "/api/stop_websocket_sender"],
             ["restart", "/api/restart_websocket_sender"]]);
    const w = (await api("/api/websocket_status")).websocket || {};
    const u = await api("/api/websocket_unsent_data?limit=20");
    return [json(w), table(u.detections || [], [["plate", (r) => r.license_plate], ["event", (r) => r.event_id],
                                                ["attempts", (r) => r.attempts], ["last error", (r) => r.last_error]])];
  },
};

function show(error) {
  if (error instanceof Locked) {
    $("login").hidden = false;
    $("error").textContent = error.message;
  } else {
    $("error").textContent = "control API unreachable: " + error;
  }
}

async function refresh() {
  try {
    $("content").replaceChildren(...await views[page]());
    $("login").hidden = true;
  } catch (error) {
    show(error);
  }
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = new FormData(event.target).get("token");
  const response = await fetch("/api/session", {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({token})});
  event.target.reset();
  if (response.ok) refresh(); else $("error").textContent = (await response.json()).message;
});

refresh();
setInterval(refresh, 2000);
