"""The local pages: one small HTML shell per page that polls the control API.

The pages hold no state of their own; they fetch ``/api/*`` every two seconds
(passing on ``?token=`` when the API needs one) and render the answers, so
what an operator sees is exactly what the API says.
"""

from __future__ import annotations

from flask import render_template_string

PAGES = {"/": "overview", "/detection": "detection", "/health": "health", "/websocket": "websocket"}

_SHELL = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Checkpoint · {{ title }}</title>
<style>
 body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222} nav a{margin-right:1rem}
 table{border-collapse:collapse;margin-top:.5rem} td,th{border:1px solid #ccc;padding:.25rem .5rem}
 .PASS{color:#1a7f37}.WARN{color:#9a6700}.FAIL{color:#cf222e} img{max-height:90px}
 button{margin:.25rem .5rem .25rem 0} #error{color:#cf222e}
</style></head><body>
<nav>{% for path, name in pages.items() %}<a href="{{ path }}" data-keep>{{ name }}</a>{% endfor %}</nav>
<h1>{{ title }}</h1><div id="error"></div><div id="controls"></div><div id="content">loading…</div>
<script>
const token = new URLSearchParams(location.search).get("token");
const opts = token ? {headers: {"Authorization": "Bearer " + token}} : {};
document.querySelectorAll("a[data-keep]").forEach(a => { if (token) a.href += "?token=" + token; });
const esc = s => String(s ?? "").replace(/[&<>"]/g,
  c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
async function api(path, method) {
  const r = await fetch(path, Object.assign({method: method || "GET"}, opts));
  const body = await r.json();
  document.getElementById("error").textContent = body.status === "error" ? body.message : "";
  return body;
}
function table(rows, cols) {
  return "<table><tr>" + cols.map(c => "<th>" + esc(c[0]) + "</th>").join("") + "</tr>" +
    rows.map(r => "<tr>" + cols.map(c => "<td>" + c[1](r) + "</td>").join("") + "</tr>").join("") +
    "</table>";
}
function buttons(list) {
  document.getElementById("controls").innerHTML = list.map(([label, path]) =>
    `<button onclick="api('${path}','POST').then(refresh)">${label}</button>`).join("");
}
const img = (r, which) => r["has_" + which] ?
  `<img alt="${which}" src="/images/${r.event_id}/${which}.jpg${token ? "?token=" + token : ""}">` : "–";
const views = {
  overview: async () => {
    const [h, w] = [await api("/api/health_status"), await api("/api/websocket_status")];
    const d = await api("/api/detections?limit=5");
    return `<p>Health: <b class="${h.health?.overall}">${esc(h.health?.overall)}</b> · uplink
      <b>${esc(w.websocket?.state)}</b> · unsent ${w.websocket?.backlog.detection_results.pending}</p>` +
      table(d.detections || [], [["plate", r => esc(r.license_plate)], ["time", r => esc(r.timestamp)],
            ["state", r => esc(r.delivery)], ["scene", r => img(r, "scene")]]);
  },
  detection: async () => {
    buttons([["start camera", "/api/start_camera"], ["stop camera", "/api/stop_camera"],
             ["start detection", "/api/start_detection"], ["stop detection", "/api/stop_detection"]]);
    const [c, s, d] = [await api("/api/camera_status"), await api("/api/detection_status"),
                       await api("/api/detections?limit=20")];
    return "<pre>" + esc(JSON.stringify({camera: c.camera, detection: s.detection}, null, 1)) + "</pre>" +
      table(d.detections || [], [["plate", r => esc(r.license_plate)], ["confidence", r => esc(r.confidence)],
            ["time", r => esc(r.timestamp)], ["state", r => esc(r.delivery) + " " + esc(r.last_error)],
            ["plate crop", r => img(r, "plate")], ["scene", r => img(r, "scene")]]);
  },
  health: async () => {
    buttons([["run health check", "/api/run_health_check"]]);
    const h = (await api("/api/health_status")).health || {components: []};
    return `<p>Checked ${esc(h.checked_at)}</p>` + table(h.components, [["component", r => esc(r.component)],
      ["status", r => `<b class="${r.status}">${r.status}</b>`], ["message", r => esc(r.message)]]);
  },
  websocket: async () => {
    buttons([["start", "/api/start_websocket_sender"], ["stop", "/api/stop_websocket_sender"],
             ["restart", "/api/restart_websocket_sender"]]);
    const w = (await api("/api/websocket_status")).websocket || {};
    const u = await api("/api/websocket_unsent_data?limit=20");
    return "<pre>" + esc(JSON.stringify(w, null, 1)) + "</pre>" + table(u.detections || [],
      [["plate", r => esc(r.license_plate)], ["event", r => esc(r.event_id)],
       ["attempts", r => esc(r.attempts)], ["last error", r => esc(r.last_error)]]);
  },
};
async function refresh() {
  try { document.getElementById("content").innerHTML = await views["{{ name }}"](); }
  catch (e) { document.getElementById("error").textContent = "control API unreachable: " + e; }
}
refresh(); setInterval(refresh, 2000);
</script></body></html>"""


def render_page(name: str) -> str:
    """The HTML for one page (``name`` is a value of :data:`PAGES`)."""
    return render_template_string(_SHELL, name=name, title=name.capitalize(), pages=PAGES)
