"""Real alert receivers on 127.0.0.1 for tests: an HTTP webhook, a LINE Messaging API stand-in, SMTP, Mosquitto.

Each records what it accepted, can be started on a port chosen in advance (so
a test can send while it is down, then bring it up) and is stopped by the test.

The LINE stand-in honours the real API's request and error shapes
(developers.line.biz, Messaging API reference, "Send push message"): a Bearer
channel access token (401 ``Authentication failed...`` otherwise), a body with
``to`` and 1-5 messages of ``{"type": "text", "text": 1-5000 characters}``
(400 ``The request body has N error(s)`` with ``details``), an optional
``X-Line-Retry-Key`` that must be a UUID (400) and that answers a repeat of
an accepted request with 409 and ``x-line-accepted-request-id``, and 429
``The API rate limit has been exceeded. Try again later.`` when told to refuse.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, timeout: float = 20.0, interval: float = 0.05):
    """Poll ``condition()`` until it is truthy; return its value or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class _HTTPReceiver:
    """A threaded HTTP server whose ``answer(request)`` decides (status, json body, headers)."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.received: list[Received] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, request: Received) -> tuple[int, dict, dict]:
        raise NotImplementedError

    def start(self) -> _HTTPReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                status, document, headers = receiver.answer(request)
                data = json.dumps(document).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class WebhookReceiver(_HTTPReceiver):
    """Accepts every POST with 200 (or ``status`` when set) and keeps it."""

    status = 200

    def answer(self, request: Received) -> tuple[int, dict, dict]:
        if self.status == 200:
            self.received.append(request)
        return self.status, {"ok": self.status == 200}, {}


class LineApi(_HTTPReceiver):
    """The LINE Messaging API push endpoint, as far as these tests use it (module docstring)."""

    def __init__(self, token: str, port: int | None = None):
        super().__init__(port)
        self.token = token
        self.rate_limited = 0  # answer this many requests with 429 first
        self.accepted_keys: dict[str, str] = {}
        self.pushed: list[dict] = []

    def answer(self, request: Received) -> tuple[int, dict, dict]:
        if request.path != "/v2/bot/message/push":
            return 404, {"message": "Not found"}, {}
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"message": "Authentication failed. Confirm that the access token in the authorization "
                                    "header is valid."}, {}
        if self.rate_limited:
            self.rate_limited -= 1
            return 429, {"message": "The API rate limit has been exceeded. Try again later."}, {}
        key = request.headers.get("x-line-retry-key")
        if key is not None:
            try:
                uuid.UUID(key)
            except ValueError:
                return 400, {"message": "The retry key is invalid"}, {}
            if key in self.accepted_keys:
                return 409, {"message": "The retry key is already accepted"}, {
                    "x-line-accepted-request-id": self.accepted_keys[key]}
        errors = self._check(request)
        if errors:
            return 400, {"message": f"The request body has {len(errors)} error(s)", "details": errors}, {}
        request_id = str(uuid.uuid4())
        if key is not None:
            self.accepted_keys[key] = request_id
        self.received.append(request)
        self.pushed.append(request.json())
        return 200, {"sentMessages": [{"id": str(len(self.pushed)), "quoteToken": uuid.uuid4().hex}]}, {
            "x-line-request-id": request_id}

    @staticmethod
    def _check(request: Received) -> list[dict]:
        try:
            body = request.json()
        except ValueError:
            return [{"message": "The request body is not valid JSON", "property": ""}]
        errors = []
        if not isinstance(body.get("to"), str) or not body.get("to"):
            errors.append({"message": "must be specified", "property": "to"})
        messages = body.get("messages")
        if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
            return errors + [{"message": "Size must be between 1 and 5", "property": "messages"}]
        for i, m in enumerate(messages):
            if m.get("type") != "text":
                errors.append({"message": "Invalid message type", "property": f"messages[{i}].type"})
            elif not isinstance(m.get("text"), str) or not 1 <= len(m["text"]) <= 5000:
                errors.append({"message": "Length must be between 1 and 5000", "property": f"messages[{i}].text"})
        return errors


@dataclass
class SmtpReceiver:
    """An aiosmtpd server on 127.0.0.1 keeping every message it accepted."""

    port: int = field(default_factory=free_port)
    messages: list = field(default_factory=list)
    _controller: object = None

    def start(self) -> SmtpReceiver:
        from email import message_from_bytes
        from email.policy import default

        from aiosmtpd.controller import Controller

        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
                message = message_from_bytes(envelope.content, policy=default)
                receiver.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
                return "250 Message accepted for delivery"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class Mosquitto:
    """A Mosquitto broker (the Debian package) of the test's own on 127.0.0.1:``port``."""

    def __init__(self, tmp: Path, port: int | None = None):
        self.port = port or free_port()
        self.tmp = tmp
        self.process: subprocess.Popen | None = None

    def start(self) -> Mosquitto:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        config = self.tmp / f"mosquitto-{self.port}.conf"
        config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        wait_for(lambda: port_open(self.port), 10)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class MqttListener:
    """A paho-mqtt subscriber keeping (topic, payload, retained) of everything under ``topics``."""

    def __init__(self, port: int, *topics: str):
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        subscribed = threading.Event()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, bool(m.retain)))
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe([(t, 1) for t in topics])
        if not subscribed.wait(10):
            raise AssertionError("MQTT subscription not acknowledged")

    def on(self, topic: str) -> list[bytes]:
        return [payload for t, payload, _ in self.messages if t == topic]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
