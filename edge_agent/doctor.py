"""``python -m edge_agent doctor``: one screen that says what is wrong and how to fix it.

Checks, in order: config, server (reachable, TLS, token accepted), camera,
detector (Hailo device + HEF, or the CPU fallback), database, free disk and
the clock (against the server's ``Date``). Nothing is changed: the database is
opened read-only. ``--report`` adds what a support request needs: versions,
service state (the control API's own answer), recent errors and the backlog.
Exit status 0 when nothing FAILs, 1 otherwise, 2 when the settings are invalid.
"""

from __future__ import annotations

import glob
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import socket
import ssl
import sys
import time
import urllib.request
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

from .agent import vision_env_names
from .config import AgentSettings, load_settings, read_env_file
from .delivery import Kind
from .errors import ConfigError, OutboxError
from .events import Status
from .outbox_reader import OutboxReader

HEF_GLOBS = ("/usr/share/hailo-models/*.hef", "/usr/local/share/hailo/*.hef", "models/*.hef")
PACKAGES = ("websockets", "Flask", "pillow", "pydantic", "pydantic-settings", "APScheduler", "psutil")


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the doctor's screen."""

    name: str
    status: Status
    message: str
    fix: str = ""


def run_doctor(env_file: Path | None, report: bool = False, out=sys.stdout) -> int:
    """Run every check, print the screen (and the report); return the exit status."""
    try:
        settings = load_settings(env_file, also_known=vision_env_names())
    except ConfigError as exc:
        _print(out, [Check("config", Status.FAIL, str(exc), "set the variables named above (docs/edge.md)")])
        return 2
    checks = [Check("config", Status.PASS, f"settings valid for checkpoint {settings.checkpoint_id}"
                    + (f" (env file {env_file})" if env_file else ""))]
    environment = {**(read_env_file(env_file) if env_file else {}), **os.environ}
    hef = Path(environment["HAILO_HEF"]) if environment.get("HAILO_HEF") else None
    server, server_date = check_server(settings)
    checks += [server, check_camera(settings.camera_source), check_detector(settings.detector, hef=hef),
               check_database(settings.db_path), check_disk(settings.db_path), check_clock(server_date)]
    _print(out, checks)
    if report:
        print_report(settings, out)
    return 1 if any(c.status is Status.FAIL for c in checks) else 0


def _print(out, checks: list[Check]) -> None:
    print("edge_agent doctor", file=out)
    for c in checks:
        print(f"  {c.status.value:<4}  {c.name:<9} {c.message}", file=out)
        if c.fix and c.status is not Status.PASS:
            print(f"{'':18}fix: {c.fix}", file=out)
    failed = sum(c.status is Status.FAIL for c in checks)
    print(f"{failed} problem(s) found." if failed else "No problems found.", file=out)


# ---------------------------------------------------------------------- server and clock


def check_server(s: AgentSettings) -> tuple[Check, float | None]:
    """Reachable, TLS ok, token accepted; returns the server's Date (Unix time) when known."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    parts = urlsplit(s.websocket_server_url)
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=3).close()
    except OSError as exc:
        return Check("server", Status.FAIL, f"cannot reach {parts.hostname}:{port} ({exc})",
                     "check WEBSOCKET_SERVER_URL, the network and the server's firewall"), None
    token = s.checkpoint_token.get_secret_value() if s.checkpoint_token else None
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        with connect(s.websocket_server_url, additional_headers=headers, open_timeout=5) as ws:
            date = ws.response.headers.get("Date")
    except ssl.SSLError as exc:
        return Check("server", Status.FAIL, f"TLS failed: {exc}",
                     "install the server's CA certificate or fix its certificate"), None
    except InvalidStatus as exc:
        code = exc.response.status_code
        fix = ("create a token with `python -m central_server checkpoints add "
               f"{s.checkpoint_id}` and set CHECKPOINT_TOKEN") if code in (401, 403) else "check the server"
        return Check("server", Status.FAIL, f"server refused the connection (HTTP {code})", fix), None
    except Exception as exc:  # handshake timeouts, protocol errors: all mean "not usable"
        return Check("server", Status.FAIL, f"WebSocket handshake failed: {exc}",
                     "is WEBSOCKET_SERVER_URL the ingest port (8765) of the central server?"), None
    tls = "TLS ok, " if parts.scheme == "wss" else "no TLS (ws://), "
    when = parsedate_to_datetime(date).timestamp() if date else None
    return Check("server", Status.PASS, f"{parts.hostname}:{port} reachable, {tls}token accepted"), when


def check_clock(server_time: float | None, now: float | None = None) -> Check:
    """The clock is plausible and close to the server's."""
    now = time.time() if now is None else now
    if now < 1_704_067_200:  # 2024-01-01: a Pi without RTC boots in the past until NTP runs
        return Check("clock", Status.FAIL, time.strftime("clock says %Y-%m-%d", time.gmtime(now)),
                     "enable NTP (timedatectl set-ntp true) or add an RTC battery")
    if server_time is None:
        return Check("clock", Status.WARN, "could not compare with the server's clock",
                     "fix the server check first")
    skew = now - server_time
    if abs(skew) > 30:
        return Check("clock", Status.FAIL, f"{skew:+.0f} s off the server's clock",
                     "enable NTP on both machines")
    return Check("clock", Status.PASS, f"within {abs(skew):.0f} s of the server")


# ---------------------------------------------------------------------- hardware


def check_camera(source: str) -> Check:
    """The camera source named by CAMERA_SOURCE exists."""
    if source == "picamera2":
        if importlib.util.find_spec("picamera2") is None:
            return Check("camera", Status.FAIL, "picamera2 is not installed",
                         "apt install python3-picamera2 and create the venv with --system-site-packages")
        return Check("camera", Status.PASS, "picamera2 available")
    if source.startswith("usb:"):
        device = Path(f"/dev/video{source[4:]}")
        if device.exists():
            return Check("camera", Status.PASS, f"{device} present")
        return Check("camera", Status.FAIL, f"{device} not found", "plug the camera in or fix CAMERA_SOURCE")
    if source.startswith(("rtsp://", "http://", "https://")):
        return Check("camera", Status.WARN, f"stream {urlsplit(source).hostname} not probed by doctor")
    path = Path(source)
    if path.exists():
        return Check("camera", Status.PASS, f"replay source {path} present")
    return Check("camera", Status.FAIL, f"CAMERA_SOURCE {source!r} does not exist",
                 "use picamera2, usb:N, rtsp://..., a video file or a folder of images")


def check_detector(detector: str, hailo_device: Path = Path("/dev/hailo0"), hef: Path | None = None) -> Check:
    """The Hailo device and a HEF (``HAILO_HEF``, else the usual folders) are present, or the CPU fallback."""
    if hef is not None and not hef.is_file():
        return Check("detector", Status.FAIL, f"HAILO_HEF {hef} not found",
                     "point HAILO_HEF at the plate model, e.g. under /usr/share/hailo-models")
    hefs = [str(hef)] if hef else [h for pattern in HEF_GLOBS for h in glob.glob(pattern)]
    hailo_ok = hailo_device.exists() and importlib.util.find_spec("hailo_platform") is not None
    if hailo_ok and hefs:
        return Check("detector", Status.PASS, f"Hailo {hailo_device} with {len(hefs)} HEF model(s)")
    missing = "no Hailo device" if not hailo_device.exists() else (
        "hailo_platform not installed" if not hailo_ok else "no HEF model found")
    if detector == "hailo":
        return Check("detector", Status.FAIL, f"DETECTOR=hailo but {missing}",
                     "apt install hailo-all, check the PCIe connection, or set DETECTOR=cpu")
    if importlib.util.find_spec("edge_agent.vision") is None:
        return Check("detector", Status.WARN, "vision package not installed: detection unavailable",
                     "install a build that includes edge_agent.vision")
    status = Status.PASS if detector == "cpu" else Status.WARN
    return Check("detector", status, f"CPU detector ({missing})" if detector != "cpu" else "CPU detector")


# ---------------------------------------------------------------------- storage


def check_database(db_path: Path) -> Check:
    """The outbox opens read-only and passes a quick check; reports the backlog."""
    if not db_path.exists():
        writable = _writable_dir(db_path.parent)
        return Check("database", Status.PASS if writable else Status.FAIL,
                     f"{db_path} will be created at first run" if writable else f"cannot create {db_path}",
                     f"make {db_path.parent} writable for the agent's user")
    try:
        with OutboxReader.open_read_only(db_path) as outbox:
            result = outbox.quick_check()
            unsent = outbox.unsent_count(Kind.DETECTION)
    except OutboxError as exc:
        return Check("database", Status.FAIL, f"{db_path}: {exc}", "restore the file or move it aside")
    if result != "ok":
        return Check("database", Status.FAIL, f"{db_path} is damaged: {result}", "restore from backup")
    return Check("database", Status.PASS, f"{db_path} ok, {unsent} detections not yet delivered")


def _writable_dir(folder: Path) -> bool:
    while not folder.exists():
        folder = folder.parent
    return folder.is_dir() and os.access(folder, os.W_OK)


def check_disk(db_path: Path) -> Check:
    """Enough free space where the outbox lives."""
    folder = db_path.parent
    while not folder.exists():
        folder = folder.parent
    free_mb = shutil.disk_usage(folder).free / 1e6
    if free_mb < 200:
        return Check("disk", Status.FAIL, f"only {free_mb:.0f} MB free on {folder}",
                     "free space or lower EDGE_DISK_CAP_MB / EDGE_RETENTION_DAYS")
    status = Status.WARN if free_mb < 1000 else Status.PASS
    return Check("disk", status, f"{free_mb:.0f} MB free on {folder}", "free some space")


# ---------------------------------------------------------------------- support report


def print_report(s: AgentSettings, out) -> None:
    """Versions, settings (secrets hidden), service state, recent errors, backlog."""
    print("\n## support report", file=out)
    print(f"python {platform.python_version()} on {platform.platform()}", file=out)
    for name in PACKAGES:
        try:
            print(f"  {name} {importlib.metadata.version(name)}", file=out)
        except importlib.metadata.PackageNotFoundError:
            print(f"  {name} (not installed)", file=out)
    print("settings:", file=out)
    for key, value in s.model_dump().items():
        shown = "***" if key.endswith("token") and value else value
        print(f"  {key.upper()}={shown}", file=out)
    print(f"service: {_service_state(s)}", file=out)
    _print_recent_errors(s, out)


def _service_state(s: AgentSettings) -> str:
    url = f"http://{s.edge_api_host}:{s.edge_api_port}/api/websocket_status"
    request = urllib.request.Request(url)
    if s.edge_api_token:
        request.add_header("Authorization", f"Bearer {s.edge_api_token.get_secret_value()}")
    try:
        with urllib.request.urlopen(request, timeout=3) as answer:
            status = json.load(answer)["websocket"]
    except (OSError, ValueError, KeyError) as exc:
        return f"control API at {url} not answering ({exc}): agent not running?"
    return (f"running; uplink {status['state']}, delivered {status['delivered']} since start, "
            f"last error {status['last_error'] or 'none'}")


def _print_recent_errors(s: AgentSettings, out) -> None:
    if s.websocket_log_file and s.websocket_log_file.exists():
        lines = s.websocket_log_file.read_text(errors="replace").splitlines()
        recent = [line for line in lines if " ERROR " in line or " WARNING " in line][-20:]
        print(f"recent warnings/errors in {s.websocket_log_file}:", file=out)
        for line in recent or ["  (none)"]:
            print(f"  {line}", file=out)
    if not s.db_path.exists():
        return
    try:
        with OutboxReader.open_read_only(s.db_path) as outbox:
            for kind in Kind:
                b = outbox.backlog(kind)
                print(f"backlog {kind.value}: pending {b.pending}, in flight {b.in_flight}, "
                      f"delivered {b.delivered}, rejected {b.rejected}", file=out)
            for row in outbox.rejected(10):
                print(f"  rejected {row.event_id}: {row.last_error}", file=out)
    except OutboxError as exc:
        print(f"backlog unreadable: {exc}", file=out)
