"""The audit log records who did what about which plate, and reads back newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fleet_store.audit import AuditEntry, entries, record


def test_records_read_back_newest_first_and_by_plate(engine):
    """Entries come back newest first; filtering by plate finds what PDPA export needs."""
    record(engine, AuditEntry("alice", "search", "detections", plate="1กข1234", remote="10.0.0.5",
                              detail={"province": "เชียงใหม่"}))
    with engine.begin() as conn:
        record(conn, AuditEntry("bob", "export", "detections.csv", remote="10.0.0.6"))
    found = entries(engine)
    assert [(e.actor, e.action) for e in found] == [("bob", "export"), ("alice", "search")]
    [about] = entries(engine, plate="1กข1234")
    assert (about.detail, about.remote) == ({"province": "เชียงใหม่"}, "10.0.0.5")
    assert entries(engine, since=datetime.now(UTC) + timedelta(minutes=1)) == []
