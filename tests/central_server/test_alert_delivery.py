"""A watchlist detection sent over the real protocol reaches each real receiver exactly once.

For every channel (webhook, LINE Messaging API stand-in, SMTP via aiosmtpd,
MQTT via Mosquitto): the in-process ingest delivers one notification for a hit
and none for its repeat; and with the receiver down, the ingest process
restarted and the receiver back up, the notification still arrives exactly once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.asyncio.client import connect

from central_server import auth
from central_server.notify import DeliveryError, LineChannel
from fleet_store import alerts, db
from fleet_store.alerts import Alert, Delivery, DeliveryEvent, Rule
from fleet_store.lists import EntryFields, ListKind, add_entry
from tests.support.ingest import ingest_process, ingest_settings, running_ingest
from tests.support.messages import detection, dumps
from tests.support.receivers import (
    LineApi,
    Mosquitto,
    MqttListener,
    SmtpReceiver,
    WebhookReceiver,
    free_port,
    port_open,
    wait_for,
)

SECRET = "webhook-secret"
LINE_TOKEN = "line-channel-token"
PLATE, PROVINCE = "1กข1234", "กรุงเทพมหานคร"


@dataclass
class Receiver:
    """A channel's real receiver, the settings that point the ingest at it, and what it got."""

    settings: dict[str, Any]
    start: Any
    stop: Any
    count: Any
    last: Any  # the last notification as a dict: the alert payload (or what carries its text)


def _webhook(tmp_path, port: int) -> Receiver:
    r = WebhookReceiver(port)
    return Receiver({"alert_webhook_url": r.url + "/hook", "alert_webhook_secret": SECRET}, r.start, r.stop,
                    lambda: len(r.received), lambda: r.received[-1])


def _line(tmp_path, port: int) -> Receiver:
    r = LineApi(LINE_TOKEN, port)
    return Receiver({"alert_line_token": LINE_TOKEN, "alert_line_to": "Uabc", "alert_line_api_url": r.url},
                    r.start, r.stop, lambda: len(r.pushed), lambda: r.pushed[-1])


def _email(tmp_path, port: int) -> Receiver:
    r = SmtpReceiver(port)
    return Receiver({"alert_smtp_host": "127.0.0.1", "alert_smtp_port": port, "alert_smtp_starttls": False,
                     "alert_email_to": "guard@example.com"}, r.start, r.stop,
                    lambda: len(r.messages), lambda: r.messages[-1])


@pytest.fixture(scope="module")
def broker_port(tmp_path_factory):
    """The Mosquitto on 127.0.0.1:1883 when one runs there, else one of the tests' own."""
    if port_open(1883):
        yield 1883
        return
    if not shutil.which("mosquitto") and not os.path.exists("/usr/sbin/mosquitto"):
        pytest.skip("Mosquitto is not installed (apt-get install mosquitto)")
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto")).start()
    yield broker.port
    broker.stop()


class _MqttReceiver:
    def __init__(self, tmp_path, port: int, shared: int | None):
        self.broker = None if shared else Mosquitto(tmp_path, port)
        self.port = shared or port
        self.prefix = f"aicamera-test-{uuid.uuid4().hex[:8]}"
        self.listener: MqttListener | None = None

    def start(self):
        if self.broker:
            self.broker.start()
        self.listener = MqttListener(self.port, f"{self.prefix}/#")

    def stop(self):
        if self.listener:
            self.listener.close()
        if self.broker:
            self.broker.stop()

    def alerts(self) -> list[bytes]:
        return self.listener.on(f"{self.prefix}/alert") if self.listener else []


def _mqtt(tmp_path, port: int, shared: int | None = None) -> Receiver:
    r = _MqttReceiver(tmp_path, port, shared)
    return Receiver({"alert_mqtt_url": f"mqtt://127.0.0.1:{r.port}", "alert_mqtt_prefix": r.prefix,
                     "alert_mqtt_discovery_prefix": r.prefix + "/ha"}, r.start, r.stop,
                    lambda: len(r.alerts()), lambda: json.loads(r.alerts()[-1]))


RECEIVERS = {"webhook": _webhook, "line": _line, "email": _email, "mqtt": _mqtt}


def _prepare(settings) -> str:
    engine = db.make_engine(settings.central_db_url)
    db.upgrade(engine)
    add_entry(engine, ListKind.WATCH, EntryFields(PLATE, PROVINCE, "stolen car"), "test")
    token = auth.add_checkpoint(engine, "1")
    engine.dispose()
    return token


async def _send(url: str, token: str, *messages) -> list[dict]:
    answers = []
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        for message in messages:
            await ws.send(dumps(message))
            answers.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    return answers


def _hit(jpeg=None, **fields):
    return detection(jpeg, license_plate=PLATE, province=PROVINCE, **fields)


def _check_notification(channel: str, got, alert_id: int) -> None:
    """The notification carries the alert in the channel's documented form."""
    if channel == "webhook":
        body = got.body
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert got.headers["x-aicamera-signature"] == expected
        assert got.headers["idempotency-key"] == f"alert-{alert_id}-opened-webhook"
        payload = got.json()
        assert (payload["id"], payload["rule"], payload["event"]) == (alert_id, "watchlist", "opened")
        assert payload["detail"]["license_plate"] == PLATE and payload["detail"]["note"] == "stolen car"
    elif channel == "line":
        assert got["to"] == "Uabc" and PLATE in got["messages"][0]["text"]
    elif channel == "email":
        _sender, rcpt, message = got
        assert rcpt == ["guard@example.com"] and PLATE in message["Subject"]
        assert message["Message-ID"] == f"<alert-{alert_id}-opened-email@aicamera>"
    else:
        assert (got["id"], got["event_type"]) == (alert_id, "watchlist")


def _only_alert(settings) -> Alert:
    engine = db.make_engine(settings.central_db_url)
    try:
        [alert] = alerts.list_alerts(engine)
        return alert
    finally:
        engine.dispose()


def _deliveries(settings) -> list[alerts.DeliveryRow]:
    engine = db.make_engine(settings.central_db_url)
    try:
        return alerts.deliveries(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("channel", list(RECEIVERS))
async def test_a_hit_is_delivered_once(channel, sqlite_url, tmp_path, broker_port):
    """One watchlist detection over the protocol gives one notification; a repeat sighting gives none."""
    receiver = _mqtt(tmp_path, 0, broker_port) if channel == "mqtt" else RECEIVERS[channel](tmp_path, free_port())
    settings = ingest_settings(sqlite_url, tmp_path, alert_retry_base_seconds=0.2, **receiver.settings)
    token = _prepare(settings)
    receiver.start()
    try:
        async with running_ingest(settings) as server:
            answers = await _send(server.url, token, _hit(), _hit(), detection(None, license_plate="XYZ999"))
            assert [a["status"] for a in answers] == ["success"] * 3
            await asyncio.to_thread(wait_for, receiver.count)
            await asyncio.sleep(0.5)
        assert receiver.count() == 1
        alert = _only_alert(settings)
        assert alert.occurrences == 2
        _check_notification(channel, receiver.last(), alert.id)
        [row] = _deliveries(settings)
        assert (row.channel, row.attempts, row.delivered_at is not None) == (channel, 1, True)
    finally:
        receiver.stop()


@pytest.mark.parametrize("channel", list(RECEIVERS))
def test_delivered_once_after_the_receiver_was_down_and_the_ingest_restarted(channel, sqlite_url, tmp_path):
    """Receiver down, ingest restarted, receiver up: the queued notification arrives, exactly once."""
    port = free_port()
    receiver = RECEIVERS[channel](tmp_path, port)
    settings = ingest_settings(sqlite_url, tmp_path, alert_retry_base_seconds=0.3, alert_retry_max_seconds=1,
                               **receiver.settings)
    token = _prepare(settings)
    with ingest_process(settings) as server:
        asyncio.run(_send(server.url, token, _hit()))
        wait_for(lambda: any(r.attempts >= 2 and r.last_error for r in _deliveries(settings)))
    try:
        receiver.start()
        with ingest_process(settings):
            wait_for(receiver.count, 30)
            time.sleep(1.5)
            assert receiver.count() == 1
        [row] = _deliveries(settings)
        assert row.delivered_at is not None and row.attempts >= 3
        _check_notification(channel, receiver.last(), _only_alert(settings).id)
    finally:
        receiver.stop()


@pytest.mark.postgres
async def test_a_hit_is_delivered_once_on_postgres(pg_url, tmp_path):
    """The same path on PostgreSQL: the alert opens in the store transaction and is pushed once."""
    receiver = _webhook(tmp_path, free_port())
    settings = ingest_settings(pg_url, tmp_path, **receiver.settings)
    token = _prepare(settings)
    receiver.start()
    try:
        async with running_ingest(settings) as server:
            await _send(server.url, token, _hit(), _hit())
            await asyncio.to_thread(wait_for, receiver.count)
            await asyncio.sleep(0.3)
        assert receiver.count() == 1
    finally:
        receiver.stop()


# --------------------------------------------------------------------------- LINE error shapes


def _delivery(n: int = 1) -> Delivery:
    alert = Alert(n, Rule.WATCHLIST, "plate:X", "1", alerts_now(), alerts_now(), detail={"license_plate": "X"})
    return Delivery(n, "line", DeliveryEvent.OPENED, f"alert-{n}-opened-line", 1, alert)


def alerts_now():
    from datetime import UTC, datetime

    return datetime(2026, 11, 30, tzinfo=UTC)


def test_line_answers_are_classified():
    """401 and 429 are retried, 400 is given up, and a repeat the API already accepted (409) counts as sent."""
    api = LineApi(LINE_TOKEN).start()
    try:
        with pytest.raises(DeliveryError) as wrong_token:
            LineChannel("wrong", "Uabc", api.url).send(_delivery())
        assert not wrong_token.value.permanent and "401" in str(wrong_token.value)
        with pytest.raises(DeliveryError) as no_target:
            LineChannel(LINE_TOKEN, "", api.url).send(_delivery())
        assert no_target.value.permanent and "400" in str(no_target.value)
        api.rate_limited = 1
        with pytest.raises(DeliveryError) as limited:
            LineChannel(LINE_TOKEN, "Uabc", api.url).send(_delivery())
        assert not limited.value.permanent and "429" in str(limited.value)
        channel = LineChannel(LINE_TOKEN, "Uabc", api.url)
        channel.send(_delivery())
        channel.send(_delivery())  # the same retry key: LINE answers 409, which means it was sent
        assert len(api.pushed) == 1
        channel.send(_delivery(2))
        assert len(api.pushed) == 2
    finally:
        api.stop()


def test_mqtt_announces_itself_to_home_assistant(broker_port):
    """On connecting, the channel publishes a retained HA discovery document and 'online'; alerts carry event_type."""
    from central_server.notify import MqttChannel

    prefix = f"aicamera-test-{uuid.uuid4().hex[:8]}"
    channel = MqttChannel(f"mqtt://127.0.0.1:{broker_port}", prefix, prefix + "/ha")
    try:
        channel.send(_delivery())
    finally:
        channel.close()
    listener = MqttListener(broker_port, f"{prefix}/#")  # subscribing afterwards: only retained messages arrive
    try:
        wait_for(lambda: listener.on(f"{prefix}/status") and listener.on(f"{prefix}/ha/event/aicamera/alerts/config"))
        document = json.loads(listener.on(f"{prefix}/ha/event/aicamera/alerts/config")[0])
        assert document["state_topic"] == f"{prefix}/alert" and "watchlist" in document["event_types"]
        assert document["availability_topic"] == f"{prefix}/status"
        assert listener.on(f"{prefix}/alert") == []  # alerts are not retained
    finally:
        listener.client.publish(f"{prefix}/ha/event/aicamera/alerts/config", b"", retain=True)  # clean the broker
        listener.client.publish(f"{prefix}/status", b"", retain=True)
        time.sleep(0.2)
        listener.close()


def test_a_line_break_in_a_note_cannot_add_mail_headers():
    """A watchlist note with CR/LF and a header stays in the subject's one line; no Bcc reaches the server."""
    from central_server.config import IngestSettings
    from central_server.notify import EmailChannel

    smtp = SmtpReceiver().start()
    try:
        settings = IngestSettings(alert_smtp_host="127.0.0.1", alert_smtp_port=smtp.port, alert_smtp_starttls=False,
                                  alert_email_to="guard@example.com")
        alert = Alert(5, Rule.WATCHLIST, "plate:X", "1", alerts_now(), alerts_now(),
                      detail={"license_plate": "X1", "note": "van\r\nBcc: thief@example.com"})
        EmailChannel(settings).send(Delivery(5, "email", DeliveryEvent.OPENED, "alert-5-opened-email", 1, alert))
        [(_, rcpt, message)] = smtp.messages
        assert rcpt == ["guard@example.com"] and message["Bcc"] is None
        assert "Bcc: thief@example.com" in message["Subject"]
    finally:
        smtp.stop()
