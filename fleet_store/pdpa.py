"""Everything held on one registration: export it, erase it, or hold it (Thailand's PDPA).

A registration is matched as :mod:`fleet_store.lists` compares plates: without
spaces or dashes, Latin letters upper-cased. A detection belongs to it when its
current read is that plate, or a read before a correction was (so a misread
that was fixed is found too); with a province, only reads of that province.

- :func:`export_plate` writes one zip: ``manifest.json``, ``detections.csv``,
  ``corrections.csv``, ``list_entries.csv``, ``alerts.csv`` (watchlist hits on it), ``audit.csv`` (every audit record
  about the plate or one of its detections) and ``images/`` (scenes and crops).
- :func:`erase_plate` deletes the image files, then the detections (their
  corrections go with them), the plate's watchlist/allow-list entries and its watchlist alerts, and
  records the erasure in the audit log. It is refused while a legal hold
  (:func:`hold`) covers the plate. Audit records are kept: they are the proof of
  who accessed the data and of the erasure itself.

Both are audited (``plates.export``, ``plates.erase``, ``plates.hold``,
``plates.unhold``).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select
from sqlalchemy.exc import IntegrityError

from fleet_protocol import THAI_PROVINCES

from .alerts import watch_subject
from .audit import AuditEntry, record
from .imagefiles import remove_stored_images, stored_image
from .lists import ListKind, normalise
from .schema import alert_deliveries, alerts, audit_log, detection_corrections, lpr_detections, plate_holds


class PlateError(ValueError):
    """A plate request that cannot be done; the message says why."""


class PlateHeld(PlateError):
    """The plate is under a legal hold: it may be exported but not erased."""


@dataclass(frozen=True, slots=True)
class PlateKey:
    """A registration as matched: normalised plate, and a province or ``""`` for every province."""

    plate: str
    province: str = ""

    @classmethod
    def of(cls, plate: str, province: str = "") -> PlateKey:
        """Normalise and check; raises :class:`PlateError`."""
        key = normalise(plate)
        if not key or len(key) > 32 or any(c in key for c in "*?%_\\"):
            raise PlateError("give one registration (1-32 characters, no wildcards)")
        if province and province not in THAI_PROVINCES:
            raise PlateError(f"{province!r} is not a Thai province")
        return cls(key, province)

    @property
    def label(self) -> str:
        return f"{self.plate} {self.province}".strip()


@dataclass(frozen=True, slots=True)
class Hold:
    """A legal hold on a registration."""

    plate: str
    province: str
    reason: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What :func:`export_plate` wrote."""

    path: Path
    detections: int
    images: int
    corrections: int
    list_entries: int
    audit_entries: int


@dataclass(frozen=True, slots=True)
class EraseResult:
    """What :func:`erase_plate` removed."""

    detections: int
    files: int
    list_entries: int


def _normalised(column):
    """SQL for :func:`fleet_store.lists.normalise` of a column (spaces and dashes out, upper case)."""
    return func.upper(func.replace(func.replace(column, " ", ""), "-", ""))


def detection_ids(conn: Connection, key: PlateKey) -> list[int]:
    """Ids of every detection held on ``key`` (current read or a read before a correction)."""
    d, c = lpr_detections.c, detection_corrections.c
    current = select(d.id).where(_normalised(d.license_plate) == key.plate)
    earlier = select(c.detection_id).where(_normalised(c.before_plate) == key.plate)
    if key.province:
        current = current.where(d.province == key.province)
        earlier = earlier.where(c.before_province == key.province)
    return sorted(set(conn.execute(current).scalars()) | set(conn.execute(earlier).scalars()))


def _list_entries(conn: Connection, key: PlateKey) -> list[tuple[ListKind, object]]:
    found = []
    for kind in ListKind:
        t = kind.table.c
        query = select(kind.table).where(t.pattern == key.plate)
        if key.province:
            query = query.where(t.province.in_(("", key.province)))
        found += [(kind, row) for row in conn.execute(query)]
    return found


def _alert_ids(conn: Connection, key: PlateKey) -> list[int]:
    """Watchlist alerts about the plate (their subject is the plate as read, with its province)."""
    c = alerts.c
    subject = watch_subject(key.plate, key.province)
    match = c.subject == subject if key.province else or_(c.subject == subject, c.subject.like(f"{subject}/%"))
    return list(conn.execute(select(c.id).where(c.rule == "watchlist", match).order_by(c.id)).scalars())


def _audit_rows(conn: Connection, key: PlateKey, ids: list[int]) -> list:
    subjects = [f"detection:{i}" for i in ids]
    about = _normalised(audit_log.c.plate) == key.plate
    query = select(audit_log).where(or_(about, audit_log.c.subject.in_(subjects)) if subjects else about)
    return conn.execute(query.order_by(audit_log.c.id)).all()


# --------------------------------------------------------------------------- holds


def holds_on(conn: Connection | Engine, key: PlateKey) -> list[Hold]:
    """Holds that cover ``key``: one for every province, or for ``key``'s province (any, when it has none)."""
    query = select(plate_holds).where(plate_holds.c.plate == key.plate)
    if key.province:
        query = query.where(plate_holds.c.province.in_(("", key.province)))
    if isinstance(conn, Engine):
        with conn.connect() as c:
            rows = c.execute(query).all()
    else:
        rows = conn.execute(query).all()
    return [Hold(r.plate, r.province, r.reason, r.created_by, r.created_at) for r in rows]


def hold(engine: Engine, key: PlateKey, reason: str, actor: str) -> None:
    """Put ``key`` under a legal hold; raises :class:`PlateError` when it already is."""
    if not reason.strip() or len(reason) > 255:
        raise PlateError("a hold needs a reason (up to 255 characters), e.g. the case number")
    try:
        with engine.begin() as conn:
            conn.execute(insert(plate_holds).values(plate=key.plate, province=key.province, reason=reason.strip(),
                                                    created_by=actor[:64], created_at=datetime.now(UTC)))
            record(conn, AuditEntry(actor, "plates.hold", f"plate:{key.label}", key.plate, "", {"reason": reason}))
    except IntegrityError:
        raise PlateError(f"{key.label} is already under a legal hold") from None


def unhold(engine: Engine, key: PlateKey, actor: str) -> None:
    """Lift the hold on exactly ``key``; raises :class:`PlateError` when there is none."""
    with engine.begin() as conn:
        done = conn.execute(delete(plate_holds).where(plate_holds.c.plate == key.plate,
                                                      plate_holds.c.province == key.province))
        if not done.rowcount:
            raise PlateError(f"no legal hold on {key.label}")
        record(conn, AuditEntry(actor, "plates.unhold", f"plate:{key.label}", key.plate))


def list_holds(engine: Engine) -> list[Hold]:
    """Every legal hold, by plate."""
    with engine.connect() as conn:
        rows = conn.execute(select(plate_holds).order_by(plate_holds.c.plate, plate_holds.c.province)).all()
    return [Hold(r.plate, r.province, r.reason, r.created_by, r.created_at) for r in rows]


# --------------------------------------------------------------------------- export


def _csv(rows, columns) -> str:
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_text(row[c]) for c in columns])
    return buffer.getvalue()


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def export_plate(engine: Engine, image_dir: Path, key: PlateKey, out: Path, actor: str) -> ExportResult:
    """Write everything held on ``key`` into the zip ``out`` and audit the export."""
    with engine.connect() as conn:
        ids = detection_ids(conn, key)
        rows = conn.execute(select(lpr_detections).where(lpr_detections.c.id.in_(ids))
                            .order_by(lpr_detections.c.id)).mappings().all() if ids else []
        fixes = conn.execute(select(detection_corrections).where(detection_corrections.c.detection_id.in_(ids))
                             .order_by(detection_corrections.c.id)).mappings().all() if ids else []
        entries = _list_entries(conn, key)
        alert_ids = _alert_ids(conn, key)
        alert_rows = conn.execute(select(alerts).where(alerts.c.id.in_(alert_ids))
                                  .order_by(alerts.c.id)).mappings().all() if alert_ids else []
        audit_rows = [r._mapping for r in _audit_rows(conn, key, ids)]
    images = 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("detections.csv", _csv(rows, [c.name for c in lpr_detections.columns]))
        archive.writestr("corrections.csv", _csv(fixes, [c.name for c in detection_corrections.columns]))
        archive.writestr("list_entries.csv", _csv([{"list": kind.value, **row._mapping} for kind, row in entries],
                                                  ["list", "pattern", "province", "note", "tags", "expires_at",
                                                   "site", "checkpoint_id", "created_by", "created_at"]))
        archive.writestr("alerts.csv", _csv(alert_rows, [c.name for c in alerts.columns]))
        archive.writestr("audit.csv", _csv(audit_rows, [c.name for c in audit_log.columns]))
        for row in rows:
            for column, suffix in (("image_path", ""), ("plate_image_path", "-plate")):
                source = stored_image(Path(image_dir), row[column])
                if source is not None:
                    archive.write(source, f"images/{row['id']}{suffix}.jpg")
                    images += 1
        result = ExportResult(Path(out), len(rows), images, len(fixes), len(entries), len(audit_rows))
        manifest = {"plate": key.plate, "province": key.province or None,
                    "generated_at": datetime.now(UTC).isoformat(timespec="seconds"), "by": actor,
                    "counts": {**{k: v for k, v in asdict(result).items() if k != "path"}, "alerts": len(alert_rows)}}
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    record(engine, AuditEntry(actor, "plates.export", f"plate:{key.label}", key.plate, "",
                              {"file": str(out)[:200], "detections": len(rows), "images": images}))
    return result


# --------------------------------------------------------------------------- erase


def erase_plate(engine: Engine, image_dir: Path, key: PlateKey, actor: str, reason: str = "") -> EraseResult:
    """Delete every detection, image file and list entry held on ``key``; record the erasure.

    Raises :class:`PlateHeld` under a legal hold (nothing is touched). Files go
    first: one that cannot be removed (other than already missing) raises
    ``OSError`` before any row is deleted, so a retry finds everything again.
    """
    held = holds_on(engine, key)
    if held:
        raise PlateHeld(f"{key.label} is under a legal hold ({held[0].reason}); lift it with 'plates unhold' first")
    with engine.connect() as conn:
        ids = detection_ids(conn, key)
        paths = conn.execute(select(lpr_detections.c.image_path, lpr_detections.c.plate_image_path)
                             .where(lpr_detections.c.id.in_(ids))).all() if ids else []
    files = remove_stored_images(Path(image_dir), [p for row in paths for p in row if p], "erasure")
    with engine.begin() as conn:
        if holds_on(conn, key):  # a hold placed while the files went: keep the rows, say so
            raise PlateHeld(f"{key.label} was put under a legal hold during the erasure")
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            conn.execute(delete(detection_corrections).where(detection_corrections.c.detection_id.in_(chunk)))
            conn.execute(delete(lpr_detections).where(lpr_detections.c.id.in_(chunk)))
        listed = 0
        for kind, row in _list_entries(conn, key):
            listed += conn.execute(delete(kind.table).where(kind.table.c.id == row.id)).rowcount
        alert_ids = _alert_ids(conn, key)
        if alert_ids:  # watchlist hits name the plate (subject and detail) and their queued deliveries
            conn.execute(delete(alert_deliveries).where(alert_deliveries.c.alert_id.in_(alert_ids)))
            conn.execute(delete(alerts).where(alerts.c.id.in_(alert_ids)))
        result = EraseResult(len(ids), files, listed)
        record(conn, AuditEntry(actor, "plates.erase", f"plate:{key.label}", key.plate, "",
                                {**{k: v for k, v in asdict(result).items()}, "alerts": len(alert_ids),
                                 "reason": reason}))
    return result


