"""Detection search: partial plate (Thai or Latin), province, checkpoint, time range, minimum confidence.

A detection whose read was corrected is found by its corrected read and by
every read before a correction (``detection_corrections``). Plate parts of
three characters or more use the trigram index made by migration 0002
(SQLite: FTS5 ``trigram`` table; PostgreSQL: ``pg_trgm`` GIN
index), so a search stays fast on millions of rows. Shorter parts fall back to
scanning newest-first, which stops as soon as a page is full. Pages are keyset
paginated by id (newest first): no OFFSET, no total count.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select, text, union

from fleet_store.schema import detection_corrections, lpr_detections

from .errors import SearchError

PAGE_SIZE = 50
EXPORT_LIMIT = 100_000
_LIKE_SPECIALS = str.maketrans("", "", "%_\\")
_FTS_IDS = text("SELECT rowid FROM lpr_detections_plate_fts WHERE license_plate LIKE :fts_pattern")
CSV_COLUMNS = ("id", "timestamp", "checkpoint_id", "license_plate", "province", "confidence",
               "province_confidence", "plate_raw", "hostname", "vehicle_type", "vehicle_color", "latitude",
               "longitude", "image_path", "image_sha256", "plate_image_path", "received_at")
# Excel on Windows (Thai locale included) reads a CSV as the ANSI code page unless it starts with a BOM.
UTF8_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to look for; every field is optional. Times are aware."""

    plate: str = ""
    province: str = ""
    checkpoint_id: str = ""
    start: datetime | None = None
    end: datetime | None = None
    min_confidence: float | None = None
    before_id: int | None = None
    checkpoint_ids: frozenset[str] | None = None  # the user's sites; None: every checkpoint

    def __post_init__(self) -> None:
        if self.start and self.end and self.start >= self.end:
            raise SearchError("the start of the time range must be before its end")
        if self.min_confidence is not None and not 0 <= self.min_confidence <= 100:
            raise SearchError("minimum confidence must be between 0 and 100")

    @property
    def plate_part(self) -> str:
        """The plate text as searched (trimmed, LIKE wildcards removed)."""
        return self.plate.strip().translate(_LIKE_SPECIALS)


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of results, newest first; ``next_before`` continues to older rows."""

    rows: list
    next_before: int | None


def _corrected(condition):
    """Ids of detections whose read before a correction met ``condition`` (search finds both reads)."""
    return select(detection_corrections.c.detection_id).where(condition)


def _statement(engine: Engine, query: SearchQuery):
    t, c = lpr_detections.c, detection_corrections.c
    statement = select(lpr_detections).order_by(t.id.desc())
    part = query.plate_part
    if part:
        pattern = f"%{part}%"
        earlier = _corrected(c.before_plate.ilike(pattern))
        if len(part) >= 3:
            # The trigram index finds every match at once; one id list (the union) lets the planner
            # use it. An OR with the corrections made PostgreSQL walk the table newest-first testing
            # each row instead (it guessed half the rows match): ~320 ms a search at 1,000,000 rows.
            if engine.dialect.name == "sqlite":
                current = _FTS_IDS.bindparams(fts_pattern=pattern).columns(rowid=t.id.type)
            else:
                current = select(t.id).where(t.license_plate.ilike(pattern))
            statement = statement.where(t.id.in_(union(earlier, current)))
        else:  # no trigram: walking newest-first stops as soon as a page is full
            statement = statement.where(t.license_plate.ilike(pattern) | t.id.in_(earlier))
    if query.province:
        statement = statement.where((t.province == query.province)
                                    | t.id.in_(_corrected(c.before_province == query.province)))
    if query.checkpoint_id:
        statement = statement.where(t.checkpoint_id == query.checkpoint_id)
    if query.checkpoint_ids is not None:
        statement = statement.where(t.checkpoint_id.in_(sorted(query.checkpoint_ids)))
    if query.start:
        statement = statement.where(t.timestamp >= query.start)
    if query.end:
        statement = statement.where(t.timestamp < query.end)
    if query.min_confidence is not None:
        statement = statement.where(t.confidence >= query.min_confidence)
    if query.before_id is not None:
        statement = statement.where(t.id < query.before_id)
    return statement


def search(engine: Engine, query: SearchQuery, page_size: int = PAGE_SIZE) -> SearchPage:
    """One page of matching detections."""
    with engine.connect() as conn:
        rows = conn.execute(_statement(engine, query).limit(page_size + 1)).all()
    more = len(rows) > page_size
    rows = rows[:page_size]
    return SearchPage(rows, rows[-1].id if more and rows else None)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A spreadsheet whose list separator is ';' (or that splits on tabs or lines) starts a new cell
# after any of these, whatever the quoting: a formula character right after one is guarded too.
_SEPARATED_FORMULA = re.compile(r"([;,\t\r\n|])(?=[=+\-@])")


def _cell(value):
    """A CSV cell a spreadsheet will not run as a formula: numbers stay numbers, text is guarded."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    value = _SEPARATED_FORMULA.sub(r"\1'", str(value))
    return "'" + value if value.startswith(_FORMULA_START) else value


def export_csv(engine: Engine, query: SearchQuery, tz, limit: int = EXPORT_LIMIT) -> Iterator[str]:
    """Matching detections as CSV text chunks (a BOM and the header first; times in ``tz``), at most ``limit`` rows."""
    buffer = io.StringIO()
    buffer.write(UTF8_BOM)
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=1000).execute(_statement(engine, query).limit(limit))
        for n, row in enumerate(result, 1):
            values = row._mapping
            writer.writerow([_cell(values[c].astimezone(tz) if c in ("timestamp", "received_at") else values[c])
                             for c in CSV_COLUMNS])
            if n % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()
