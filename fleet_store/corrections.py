"""Misread corrections: an operator fixes a detection's registration and/or province.

``lpr_detections`` then holds the corrected read (so search, statistics, lists
and exports see it); ``detection_corrections`` keeps every correction (who,
when, before, after), and the first one's ``before_*`` is what the checkpoint
read, so nothing the reader said is lost. :func:`correct` writes the row change,
the correction and its audit entry in one transaction.

:func:`export_labelled` writes the corrected detections as a labelled set for
retraining the reader: ``labels.csv`` (UTF-8) and ``crops/<id>.jpg`` (the plate
crop the checkpoint cut, else the scene).
"""

from __future__ import annotations

import csv
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, insert, select, update

from fleet_protocol import THAI_PROVINCES

from .audit import AuditEntry, record
from .imagefiles import stored_image
from .schema import detection_corrections, lpr_detections

_PLATE = re.compile(r"[^\x00-\x1f\x7f%_\\]{1,32}")
LABEL_COLUMNS = ("detection_id", "crop", "plate", "province", "read_plate", "read_province", "plate_raw",
                 "confidence", "checkpoint_id", "timestamp", "corrected_by", "corrected_at")


class CorrectionError(ValueError):
    """A correction that cannot be made; the message says why."""


@dataclass(frozen=True, slots=True)
class Correction:
    """One correction of a detection's read."""

    id: int
    detection_id: int
    at: datetime
    actor: str
    before_plate: str
    before_province: str
    after_plate: str
    after_province: str
    note: str = ""


def check_read(plate: str, province: str) -> tuple[str, str]:
    """A registration and province as stored (trimmed); raises :class:`CorrectionError` when invalid."""
    plate, province = " ".join(plate.split()), province.strip()
    if not _PLATE.fullmatch(plate):
        raise CorrectionError("the registration needs 1-32 characters (no control characters, %, _ or \\)")
    if province and province not in THAI_PROVINCES:
        raise CorrectionError(f"{province!r} is not a Thai province")
    return plate, province


def correct(engine: Engine, detection_id: int, plate: str, province: str, actor: str, remote: str = "",
            note: str = "") -> Correction:
    """Set a detection's read to ``plate``/``province``; record and audit the change.

    Raises :class:`CorrectionError` when the detection does not exist, the read is
    invalid, or nothing would change.
    """
    plate, province = check_read(plate, province)
    if len(note) > 255:
        raise CorrectionError("the note is longer than 255 characters")
    now = datetime.now(UTC)
    with engine.begin() as conn:
        row = conn.execute(select(lpr_detections.c.license_plate, lpr_detections.c.province)
                           .where(lpr_detections.c.id == detection_id).with_for_update()).first()
        if row is None:
            raise CorrectionError(f"no detection {detection_id}")
        if (row.license_plate, row.province) == (plate, province):
            raise CorrectionError("the read is already that registration and province")
        values = dict(detection_id=detection_id, at=now, actor=actor[:64], before_plate=row.license_plate,
                      before_province=row.province, after_plate=plate, after_province=province, note=note)
        new_id = conn.execute(insert(detection_corrections).values(**values)).inserted_primary_key[0]
        conn.execute(update(lpr_detections).where(lpr_detections.c.id == detection_id)
                     .values(license_plate=plate, province=province))
        record(conn, AuditEntry(actor, "correct", f"detection:{detection_id}", plate, remote,
                                {"before": [row.license_plate, row.province], "after": [plate, province],
                                 "note": note}))
    return Correction(new_id, **values)


def corrections_of(engine: Engine, detection_id: int) -> list[Correction]:
    """Every correction of a detection, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(detection_corrections).where(detection_corrections.c.detection_id == detection_id)
                            .order_by(detection_corrections.c.id)).all()
    return [_correction(r) for r in rows]


def _correction(row) -> Correction:
    return Correction(row.id, row.detection_id, row.at, row.actor, row.before_plate, row.before_province,
                      row.after_plate, row.after_province, row.note)


def original_reads():
    """A subquery: ``detection_id``, ``plate``, ``province`` as the checkpoint read them (corrected rows only)."""
    first = (select(func.min(detection_corrections.c.id))
             .group_by(detection_corrections.c.detection_id).scalar_subquery())
    c = detection_corrections.c
    return (select(c.detection_id, c.before_plate.label("plate"), c.before_province.label("province"),
                   c.actor, c.at).where(c.id.in_(first)).subquery("original_reads"))


@dataclass(frozen=True, slots=True)
class LabelledSet:
    """What :func:`export_labelled` wrote."""

    rows: int
    crops: int
    labels: Path


def export_labelled(engine: Engine, image_dir: Path, out_dir: Path, since: datetime | None = None) -> LabelledSet:
    """Write every corrected detection (corrected since ``since``) to ``out_dir`` as labels.csv + crops/."""
    out_dir = Path(out_dir)
    crops_dir = out_dir / "crops"
    crops_dir.mkdir(parents=True, exist_ok=True)
    original, d = original_reads(), lpr_detections.c
    last = (select(detection_corrections.c.detection_id, func.max(detection_corrections.c.at).label("at"),
                   func.max(detection_corrections.c.id).label("id"))
            .group_by(detection_corrections.c.detection_id).subquery("last"))
    query = (select(lpr_detections, original.c.plate.label("read_plate"), original.c.province.label("read_province"),
                    detection_corrections.c.actor.label("corrected_by"), last.c.at.label("corrected_at"))
             .join(original, original.c.detection_id == d.id).join(last, last.c.detection_id == d.id)
             .join(detection_corrections, detection_corrections.c.id == last.c.id).order_by(d.id))
    if since is not None:
        query = query.where(last.c.at >= since)
    labels, rows, crops = out_dir / "labels.csv", 0, 0
    with engine.connect() as conn, open(labels, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(LABEL_COLUMNS)
        for row in conn.execute(query):
            crop = _copy_crop(Path(image_dir), row, crops_dir)
            crops += crop is not None
            rows += 1
            writer.writerow([row.id, crop or "", row.license_plate, row.province, row.read_plate, row.read_province,
                             row.plate_raw, row.confidence, row.checkpoint_id, row.timestamp.isoformat(),
                             row.corrected_by, row.corrected_at.isoformat()])
    return LabelledSet(rows, crops, labels)


def _copy_crop(image_dir: Path, row, crops_dir: Path) -> str | None:
    """Copy the row's plate crop (else its scene) into ``crops_dir``; its path relative to the set, or None."""
    for stored in (row.plate_image_path, row.image_path):
        source = stored_image(image_dir, stored)
        if source is not None:
            target = crops_dir / f"{row.id}.jpg"
            shutil.copyfile(source, target)
            return f"crops/{target.name}"
    return None
