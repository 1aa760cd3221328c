"""Stored alerts and the delivery queue, on SQLite and PostgreSQL; the watchlist index against the rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from fleet_store import alerts
from fleet_store.alerts import AlertState, DeliveryEvent, Rule, WatchMatcher
from fleet_store.lists import EntryFields, ListEntry, ListIndex, ListKind, add_entry, catches, update_entry
from fleet_store.records import StoredDetection
from fleet_store.schema import alert_deliveries
from fleet_store.schema import alerts as alerts_table

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def detection(id_: int, plate: str, province: str = "", checkpoint: str = "gate-1") -> StoredDetection:
    return StoredDetection(id_, checkpoint, None, plate, province, 91.0, NOW, NOW, "pi", "", None, None, True, False)


def raise_(engine, subject="checkpoint:1", rule=Rule.OFFLINE, channels=("webhook",)):
    with engine.begin() as conn:
        return alerts.raise_alert(conn, rule, subject, "1", {"last_seen_at": None}, NOW, channels)


def test_one_open_alert_per_rule_and_subject(engine):
    """A second occurrence counts up instead of opening another alert; after closing, a new one opens."""
    first = raise_(engine)
    assert first is not None and raise_(engine) is None
    [row] = alerts.list_alerts(engine)
    assert (row.id, row.occurrences, row.state) == (first.id, 2, AlertState.OPEN)
    assert raise_(engine, rule=Rule.SILENT) is not None  # another rule, same subject: its own alert
    with engine.begin() as conn:
        [closed] = alerts.close_alerts(conn, Rule.OFFLINE, ["checkpoint:1"], NOW, ("webhook",))
    assert closed.state is AlertState.CLOSED
    assert raise_(engine) is not None
    events = [(d.alert_id, d.event) for d in alerts.deliveries(engine)]
    assert events.count((first.id, "opened")) == 1 and events.count((first.id, "closed")) == 1


def test_the_database_refuses_a_second_open_alert(engine):
    """The partial unique index, not only the code, keeps one open alert per rule and subject."""
    raise_(engine)
    row = {"rule": "offline", "subject": "checkpoint:1", "opened_at": NOW, "last_at": NOW}
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(alerts_table).values(**row))
    with engine.begin() as conn:  # a closed one beside the open one is fine
        conn.execute(insert(alerts_table).values(closed_at=NOW, **row))


def test_acknowledging(engine):
    """A hit closes when acknowledged; a condition stays open (acknowledged) until it clears; twice is refused."""
    hit = raise_(engine, "plate:AB1234", Rule.WATCHLIST)
    cond = raise_(engine)
    acked = alerts.acknowledge(engine, hit.id, "alice", NOW)
    assert (acked.acknowledged_by, acked.state, acked.closed_at) == ("alice", AlertState.CLOSED, NOW)
    assert alerts.acknowledge(engine, hit.id, "bob") is None
    assert alerts.acknowledge(engine, cond.id, "bob").state is AlertState.ACKNOWLEDGED
    assert [a.id for a in alerts.list_alerts(engine, AlertState.ACKNOWLEDGED)] == [cond.id]
    assert [a.id for a in alerts.list_alerts(engine, AlertState.CLOSED)] == [hit.id]
    assert alerts.list_alerts(engine, AlertState.OPEN) == []
    assert raise_(engine, "plate:AB1234", Rule.WATCHLIST) is not None  # seen again after the ack: a new alert


def test_matcher_opens_one_alert_per_plate_and_follows_list_changes(engine):
    """Hits on a listed plate open one alert (repeats count); a new or edited entry counts at the next batch."""
    entry = add_entry(engine, ListKind.WATCH, EntryFields("กข 1234", "กรุงเทพมหานคร", "stolen"), "t")
    matcher = WatchMatcher(("webhook", "mqtt"), refresh_seconds=0)
    with engine.begin() as conn:
        opened = matcher.match(conn, [detection(1, "กข1234", "กรุงเทพมหานคร"), detection(2, "กข1234", "ขอนแก่น"),
                                      detection(3, "กข-1234", "กรุงเทพมหานคร")], NOW)
    assert list(opened) == [1]
    [alert] = opened[1]
    assert alert.detail["note"] == "stolen" and alert.detail["entry_id"] == entry.id
    assert alert.text() == "Watchlist plate กข1234 กรุงเทพมหานคร at gate-1 (stolen)"
    assert alerts.list_alerts(engine)[0].occurrences == 2
    assert sorted(d.channel for d in alerts.deliveries(engine)) == ["mqtt", "webhook"]
    update_entry(engine, ListKind.WATCH, entry.id, EntryFields("กข 1234", "", "any province"))
    with engine.begin() as conn:
        assert list(matcher.match(conn, [detection(4, "กข1234", "ขอนแก่น")], NOW)) == [4]


def test_claims_lease_retries_and_give_up(engine):
    """A claimed delivery is not claimed again until its lease or back-off runs out; permanent errors stop it."""
    alert = raise_(engine, channels=("webhook", "line"))
    [a, b] = alerts.claim_due(engine, ["webhook", "line"], NOW, lease=60)
    assert {a.channel, b.channel} == {"webhook", "line"} and a.attempts == 1
    assert a.payload()["idempotency_key"] == f"alert-{alert.id}-opened-{a.channel}"
    assert alerts.claim_due(engine, ["webhook", "line"], NOW + timedelta(seconds=59)) == []
    retry_at = alerts.failed(engine, a, "HTTP 503", False, base=10, cap=100, now=NOW)
    assert NOW + timedelta(seconds=8) <= retry_at <= NOW + timedelta(seconds=12)
    assert alerts.failed(engine, b, "HTTP 400", True, base=10, cap=100, now=NOW) is None
    [again] = alerts.claim_due(engine, ["webhook", "line"], NOW + timedelta(seconds=13))
    assert (again.id, again.attempts) == (a.id, 2)
    alerts.delivered(engine, again.id)
    assert alerts.claim_due(engine, ["webhook", "line"], NOW + timedelta(days=1)) == []
    rows = {r.channel: r for r in alerts.deliveries(engine)}
    assert rows["webhook"].delivered_at and rows["line"].failed_at and rows["line"].last_error == "HTTP 400"


def test_a_crashed_sender_s_claims_come_back(engine):
    """A delivery claimed by a process that died is claimed again once the lease has passed."""
    raise_(engine)
    [first] = alerts.claim_due(engine, ["webhook"], NOW, lease=30)
    [second] = alerts.claim_due(engine, ["webhook"], NOW + timedelta(seconds=31), lease=30)
    assert (second.id, second.attempts, second.idempotency_key) == (first.id, 2, first.idempotency_key)


def test_only_configured_channels_are_claimed(engine):
    """A process claims only the channels it can send through."""
    raise_(engine, channels=("webhook", "email"))
    assert [d.channel for d in alerts.claim_due(engine, ["email"], NOW)] == ["email"]
    with engine.connect() as conn:
        assert conn.execute(select(alert_deliveries.c.attempts).where(
            alert_deliveries.c.channel == "webhook")).scalar_one() == 0


def test_payload_is_the_live_event():
    """Browsers and receivers get the same fields from one author."""
    alert = alerts.Alert(7, Rule.CLOCK_SKEW, "checkpoint:9", "9", NOW, NOW, detail={"skew_seconds": 95})
    event = alert.live_event()
    assert event.name == "alert" and event.payload == alert.payload()
    assert alert.payload(DeliveryEvent.OPENED)["event"] == "opened"
    assert event.payload["text"] == "Clock of checkpoint 9 off by 95 s"


PLATE_CHARS = st.sampled_from(list("AB12กข-"))
patterns = st.text(PLATE_CHARS | st.sampled_from(["*", "?"]), min_size=1, max_size=6).filter(
    lambda p: p.replace("-", "").strip("*?"))


@settings(max_examples=300, deadline=None)
@given(entries=st.lists(st.tuples(patterns, st.sampled_from(["", "ขอนแก่น"]), st.integers(0, 1)), max_size=12),
       plate=st.text(PLATE_CHARS, min_size=1, max_size=7), province=st.sampled_from(["", "ขอนแก่น", "ภูเก็ต"]))
def test_index_agrees_with_the_rule(entries, plate, province):
    """The index finds exactly the entries ``catches`` accepts, whatever the entries and the read."""
    listed = [ListEntry(i, ListKind.WATCH, EntryFields(p, prov, tolerance=t), "t", NOW)
              for i, (p, prov, t) in enumerate(entries)]
    found = {e.id for e in ListIndex(listed).matching(plate, province, NOW)}
    assert found == {e.id for e in listed if catches(e, plate, province, NOW)}


def test_old_closed_alerts_are_deleted_unless_a_notification_is_pending(engine):
    """Retention removes alerts closed before the cut-off with their deliveries; open or unsent ones stay."""
    sent = raise_(engine, "checkpoint:1")
    waiting = raise_(engine, "checkpoint:2")
    still_open = raise_(engine, "checkpoint:3", channels=())
    with engine.begin() as conn:
        alerts.close_alerts(conn, Rule.OFFLINE, ["checkpoint:1", "checkpoint:2"], NOW, ())
    for delivery in alerts.claim_due(engine, ["webhook"], NOW):
        if delivery.alert.id == sent.id:
            alerts.delivered(engine, delivery.id)
    assert alerts.delete_closed_before(engine, NOW + timedelta(days=1)) == 1
    assert {a.id for a in alerts.list_alerts(engine)} == {waiting.id, still_open.id}
    assert [d.alert_id for d in alerts.deliveries(engine)] == [waiting.id]
