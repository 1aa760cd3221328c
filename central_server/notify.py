"""Alert channels: webhook, LINE Messaging API, e-mail (SMTP) and MQTT, each behind one ``send`` method.

A channel's ``send(delivery)`` returns when the receiver accepted the
notification and raises :class:`DeliveryError` otherwise; ``permanent`` says
that trying again cannot help (the receiver refused this message itself, e.g.
HTTP 400), so the dispatcher gives up on it. Every attempt carries the
delivery's idempotency key (``alert-<id>-<event>-<channel>``) where the
receiver can use one. The formats are documented in docs/alerts.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import threading
import urllib.error
import urllib.request
import uuid
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol
from urllib.parse import urlsplit

from fleet_store.alerts import CHANNELS, Delivery, Rule

from .config import IngestSettings

log = logging.getLogger(__name__)
TIMEOUT = 10.0
USER_AGENT = "aicamera-fleet-alerts/1"
LINE_TEXT_LIMIT = 5000


class DeliveryError(Exception):
    """A notification the receiver did not accept."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class Channel(Protocol):
    name: str

    def send(self, delivery: Delivery) -> None: ...
    def close(self) -> None: ...


def body_of(delivery: Delivery) -> bytes:
    """The JSON body webhooks and MQTT carry (UTF-8, Thai kept as is)."""
    return json.dumps(delivery.payload(), ensure_ascii=False, separators=(",", ":")).encode()


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the body>`` (the ``X-Aicamera-Signature`` header)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def text_of(delivery: Delivery) -> str:
    """A short message for people (LINE, e-mail)."""
    alert = delivery.alert
    head = "RESOLVED: " if delivery.event.value == "closed" else ""
    return f"{head}{alert.text()} [alert {alert.id}, {alert.opened_at:%Y-%m-%d %H:%M:%S} UTC]"


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8",
                                              "User-Agent": USER_AGENT, **headers})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, response.read(4096), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(4096), dict(exc.headers or {})
    except (OSError, ValueError) as exc:  # refused, reset, timeout, DNS, TLS
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None


def _refusal(status: int, answer: bytes) -> DeliveryError:
    """An HTTP answer as an error: 408, 409 (busy), 425, 429 and 5xx are worth retrying; other 4xx are not."""
    permanent = 400 <= status < 500 and status not in (401, 403, 408, 409, 425, 429)
    return DeliveryError(f"HTTP {status}: {answer[:300].decode(errors='replace')}", permanent=permanent)


class WebhookChannel:
    """JSON POST to ``ALERT_WEBHOOK_URL``, signed with ``ALERT_WEBHOOK_SECRET``; any 2xx is accepted."""

    name = "webhook"

    def __init__(self, url: str, secret: str):
        self.url, self.secret = url, secret

    def send(self, delivery: Delivery) -> None:
        body = body_of(delivery)
        status, answer, _ = _post(self.url, body, {
            "X-Aicamera-Signature": signature(self.secret, body), "Idempotency-Key": delivery.idempotency_key,
            "X-Aicamera-Event": f"alert.{delivery.event.value}"})
        if not 200 <= status < 300:
            raise _refusal(status, answer)

    def close(self) -> None:
        return None


class LineChannel:
    """LINE Messaging API push: ``POST {base}/v2/bot/message/push`` with a channel access token.

    ``X-Line-Retry-Key`` (a UUID derived from the idempotency key) makes LINE
    drop a repeat of a request it already accepted: it then answers 409 with
    ``x-line-accepted-request-id``, which counts as delivered.
    """

    name = "line"

    def __init__(self, token: str, to: str, base_url: str = "https://api.line.me"):
        self.token, self.to, self.url = token, to, base_url.rstrip("/") + "/v2/bot/message/push"

    def send(self, delivery: Delivery) -> None:
        body = json.dumps({"to": self.to, "messages": [{"type": "text", "text": text_of(delivery)[:LINE_TEXT_LIMIT]}]},
                          ensure_ascii=False).encode()
        retry_key = str(uuid.uuid5(uuid.NAMESPACE_URL, "aicamera:" + delivery.idempotency_key))
        status, answer, headers = _post(self.url, body, {"Authorization": f"Bearer {self.token}",
                                                         "X-Line-Retry-Key": retry_key})
        accepted_before = status == 409 and any(k.lower() == "x-line-accepted-request-id" for k in headers)
        if not (200 <= status < 300 or accepted_before):
            raise _refusal(status, answer)

    def close(self) -> None:
        return None


class EmailChannel:
    """One e-mail per notification over SMTP; the Message-ID comes from the idempotency key."""

    name = "email"

    def __init__(self, s: IngestSettings):
        self.s = s
        self.to = [a.strip() for a in (s.alert_email_to or "").split(",") if a.strip()]

    def send(self, delivery: Delivery) -> None:
        message = EmailMessage()
        # one line: a note with a line break must not become a header of its own
        message["Subject"] = "[AI Camera] " + " ".join(text_of(delivery).split())[:200]
        message["From"], message["To"] = self.s.alert_email_from, ", ".join(self.to)
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = f"<{delivery.idempotency_key}@aicamera>"
        message["X-Aicamera-Idempotency-Key"] = delivery.idempotency_key
        message.set_content(text_of(delivery) + "\n\n" + json.dumps(delivery.payload(), ensure_ascii=False,
                                                                    indent=2))
        try:
            with smtplib.SMTP(self.s.alert_smtp_host, self.s.alert_smtp_port, timeout=TIMEOUT) as smtp:
                if self.s.alert_smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.s.alert_smtp_user:
                    smtp.login(self.s.alert_smtp_user, self.s.alert_smtp_password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(f"recipients refused: {exc.recipients}", permanent=min(codes) >= 500) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=exc.smtp_code >= 550
                                and exc.smtp_code != 554) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        return None


class MqttChannel:
    """Publishes each notification (QoS 1) on ``PREFIX/alert``; announces itself to Home Assistant.

    On every (re)connection it publishes, retained, the Home Assistant discovery
    document of an ``event`` entity (``DISCOVERY/event/aicamera/alerts/config``)
    and ``online`` on ``PREFIX/status`` (the will says ``offline``). A send
    returns once the broker acknowledged the message (PUBACK).
    """

    name = "mqtt"

    def __init__(self, url: str, prefix: str = "aicamera", discovery_prefix: str = "homeassistant"):
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"ALERT_MQTT_URL must be mqtt://host[:port] or mqtts://..., not {url!r}")
        self.host, self.tls = parts.hostname, parts.scheme == "mqtts"
        self.port = parts.port or (8883 if self.tls else 1883)
        self.user, self.password = parts.username, parts.password
        self.prefix, self.discovery_prefix = prefix.strip("/"), discovery_prefix.strip("/")
        self._client = None
        self._lock = threading.Lock()

    @property
    def topic(self) -> str:
        return f"{self.prefix}/alert"

    def discovery(self) -> tuple[str, dict]:
        """The Home Assistant discovery topic and document."""
        return f"{self.discovery_prefix}/event/aicamera/alerts/config", {
            "name": "AI Camera alerts", "unique_id": "aicamera_alerts",
            "state_topic": self.topic, "event_types": [r.value for r in Rule],
            "availability_topic": f"{self.prefix}/status",
            "device": {"identifiers": ["aicamera_fleet"], "name": "AI Camera Fleet", "manufacturer": "AI Camera"}}

    def _connect(self):
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"aicamera-alerts-{uuid.uuid4().hex[:8]}")
        if self.user:
            client.username_pw_set(self.user, self.password)
        if self.tls:
            client.tls_set()
        client.will_set(f"{self.prefix}/status", "offline", qos=1, retain=True)
        connected = threading.Event()
        client.on_connect = lambda c, u, f, rc, p=None: connected.set() if not rc.is_failure else None
        client.connect(self.host, self.port, keepalive=30)
        client.loop_start()
        if not connected.wait(TIMEOUT):
            client.loop_stop()
            client.disconnect()
            raise DeliveryError(f"MQTT broker {self.host}:{self.port} did not accept the connection")
        topic, document = self.discovery()
        client.publish(topic, json.dumps(document), qos=1, retain=True)
        client.publish(f"{self.prefix}/status", "online", qos=1, retain=True)
        return client

    def send(self, delivery: Delivery) -> None:
        with self._lock:
            try:
                if self._client is None or not self._client.is_connected():
                    self.close()
                    self._client = self._connect()
                payload = delivery.payload() | {"event_type": delivery.alert.rule.value}
                info = self._client.publish(self.topic, json.dumps(payload, ensure_ascii=False), qos=1)
                info.wait_for_publish(TIMEOUT)
            except DeliveryError:
                raise
            except (OSError, RuntimeError, ValueError) as exc:
                self.close()
                raise DeliveryError(f"MQTT {self.host}:{self.port}: {type(exc).__name__}: {exc}") from None
            if not info.is_published():
                self.close()
                raise DeliveryError(f"MQTT {self.host}:{self.port}: no PUBACK within {TIMEOUT:.0f} s")

    def close(self) -> None:
        """Say ``offline`` (a clean disconnect sends no will) and disconnect."""
        client, self._client = self._client, None
        if client is None:
            return
        if client.is_connected():
            client.publish(f"{self.prefix}/status", "offline", qos=1, retain=True).wait_for_publish(2)
        client.loop_stop()
        client.disconnect()


def make_channels(s: IngestSettings) -> dict[str, Channel]:
    """The configured channels by name (``fleet_store.alerts.CHANNELS`` order)."""
    made: dict[str, Channel] = {}
    for name in s.alert_channels:
        if name == "webhook":
            made[name] = WebhookChannel(s.alert_webhook_url, s.alert_webhook_secret)
        elif name == "line":
            made[name] = LineChannel(s.alert_line_token, s.alert_line_to, s.alert_line_api_url)
        elif name == "email":
            made[name] = EmailChannel(s)
        elif name == "mqtt":
            made[name] = MqttChannel(s.alert_mqtt_url, s.alert_mqtt_prefix, s.alert_mqtt_discovery_prefix)
    assert set(made) <= set(CHANNELS)
    return made
