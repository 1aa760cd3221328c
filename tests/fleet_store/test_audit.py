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


def test_filters_and_keyset_pages(engine):
    """Actor, exact action, action prefix, plate, time range and before_id each narrow the records."""
    from sqlalchemy import insert

    from fleet_store.audit import AuditFilter, search, stream
    from fleet_store.schema import audit_log

    start = datetime(2026, 11, 1, tzinfo=UTC)
    actions = ("search", "user.add", "user.role", "view")
    rows = [{"at": start + timedelta(minutes=n), "actor": f"u{n % 3}", "action": actions[n % 4], "subject": "",
             "plate": "กข1" if n % 5 == 0 else None, "remote": "10.0.0.1"} for n in range(600)]
    with engine.begin() as conn:
        conn.execute(insert(audit_log), rows)
    assert len(search(engine, AuditFilter(actor="u1"), 1000)) == 200
    assert len(search(engine, AuditFilter(action="user."), 1000)) == 300
    assert len(search(engine, AuditFilter(action="user"), 1000)) == 0
    assert {e.action for e in search(engine, AuditFilter(action="view"), 1000)} == {"view"}
    assert len(search(engine, AuditFilter(plate="กข1"), 1000)) == 120
    window = search(engine, AuditFilter(since=start + timedelta(minutes=10), until=start + timedelta(minutes=20)))
    assert len(window) == 10
    seen, before = [], None
    while True:
        page = search(engine, AuditFilter(actor="u2", before_id=before), 70)
        if not page:
            break
        seen += [e.id for e in page]
        before = page[-1].id
    assert len(seen) == len(set(seen)) == 200 and seen == sorted(seen, reverse=True)
    assert [e.id for e in stream(engine, AuditFilter(actor="u2"))] == sorted(seen)
