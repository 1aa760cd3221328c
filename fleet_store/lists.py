"""Plate lists: the watchlist (plates that raise an alert) and the allow-list (plates a gate lets in).

Both are rows of the same shape in their own table (``watchlist``,
``allowlist``). An entry holds a plate or a pattern, optionally a province, a
note, tags and an expiry; a watchlist entry may allow one character of
difference (``tolerance``); an allow-list entry may be limited to a site or one
checkpoint.

Matching (:func:`catches`, which applies ``fleet_protocol.platerule``, the
rule both ends share): plate and pattern are compared after
both lose spaces and dashes and Latin letters are upper-cased. ``*`` stands
for any run of characters and ``?`` for exactly one; anything else matches
literally and the whole plate must match. With ``tolerance=1`` a pattern
without wildcards also catches a plate one edit away (one character read
wrong, missing or extra). An entry naming a province catches only reads of
that province; an expired entry catches nothing.

CSV (``export_csv``/``import_csv``): UTF-8 (a leading BOM is written and
accepted), header ``plate,province,note,tags,expires,tolerance`` (the
allow-list adds ``site,checkpoint``); tags are separated by ``;``; ``expires``
is a date (``2027-01-31``, end of that day in the fleet's zone) or an ISO time.
An import checks every line first and writes nothing unless all are valid;
:func:`decode_csv` turns an uploaded file into text (or says which line is not UTF-8).
"""

from __future__ import annotations

import csv
import enum
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, tzinfo

from sqlalchemy import Connection, Engine, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from fleet_protocol import THAI_PROVINCES
from fleet_protocol.platerule import compiled_pattern, entry_catches, normalise

from .schema import allowlist, checkpoints, watchlist

_VALID = re.compile(r"[^\s%_\\]{1,64}")
_TAG = re.compile(r"[^\s,;]{1,32}")
MAX_TAGS = 8
UTF8_BOM = "\ufeff"


class ListError(ValueError):
    """A list entry or a CSV line that cannot be taken; the message says why."""


class ListKind(str, enum.Enum):
    """Which list."""

    WATCH = "watchlist"
    ALLOW = "allowlist"

    @property
    def table(self) -> Table:
        return watchlist if self is ListKind.WATCH else allowlist


@dataclass(frozen=True, slots=True)
class EntryFields:
    """What a person gives for an entry (normalised and checked by :func:`check_fields`)."""

    pattern: str
    province: str = ""
    note: str = ""
    tags: tuple[str, ...] = ()
    expires_at: datetime | None = None
    tolerance: int = 0
    site: str = ""
    checkpoint_id: str = ""


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One stored entry."""

    id: int
    kind: ListKind
    fields: EntryFields
    created_by: str
    created_at: datetime
    updated_at: datetime | None = None

    @property
    def pattern(self) -> str:
        return self.fields.pattern

    @property
    def province(self) -> str:
        return self.fields.province

    @property
    def note(self) -> str:
        return self.fields.note

    def expired(self, now: datetime) -> bool:
        """True once ``expires_at`` has passed."""
        return self.fields.expires_at is not None and self.fields.expires_at <= now


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did (``errors`` empty) or why it did nothing (one message per bad line)."""

    added: int = 0
    updated: int = 0
    errors: tuple[str, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------- matching


def catches(entry: ListEntry, plate: str, province: str, now: datetime | None = None) -> bool:
    """Whether a read of ``plate`` in ``province`` at ``now`` is caught by ``entry`` (the shared rule)."""
    f = entry.fields
    return entry_catches(f.pattern, f.province, f.tolerance, f.expires_at, plate, province, now)


class ListIndex:
    """Entries arranged so a plate is checked against a few candidates, not every entry.

    Only a pre-filter: every candidate is confirmed with :func:`catches`, so the
    index can never disagree with the rule. Literal entries are found by their
    normalised text; entries with a tolerance also under each one-deletion
    variant (two strings one edit apart share a variant, the "symmetric delete"
    idea); wildcard entries are tried one by one, only after one regular
    expression made of all of them says that at least one matches.
    """

    def __init__(self, entries: Iterable[ListEntry]):
        self.size = 0
        self._keys: dict[str, list[ListEntry]] = {}
        self._wild: list[ListEntry] = []
        for entry in entries:
            self.size += 1
            literal = normalise(entry.pattern)
            if "*" in literal or "?" in literal:
                self._wild.append(entry)
                continue
            keys = {literal} | (_deletions(literal) if entry.fields.tolerance else set())
            for key in keys:
                self._keys.setdefault(key, []).append(entry)
        patterns = dict.fromkeys(compiled_pattern(e.pattern).pattern for e in self._wild)
        self._any_wild = re.compile("|".join(f"(?:{p})" for p in patterns), re.DOTALL) if patterns else None

    def matching(self, plate: str, province: str, now: datetime | None = None) -> list[ListEntry]:
        """Every entry that :func:`catches` this read, literal entries before wildcard ones."""
        key = normalise(plate)
        seen: dict[int, ListEntry] = {}
        for k in {key} | _deletions(key):
            for entry in self._keys.get(k, ()):
                seen.setdefault(entry.id, entry)
        found = sorted(seen.values(), key=lambda e: (normalise(e.pattern) != key, e.id))
        if self._any_wild is not None and self._any_wild.fullmatch(key):
            found += self._wild
        return [e for e in found if catches(e, plate, province, now)]


def _deletions(text: str) -> set[str]:
    return {text[:i] + text[i + 1:] for i in range(len(text))}


# --------------------------------------------------------------------------- checking


def check_fields(kind: ListKind, f: EntryFields) -> EntryFields:
    """The fields normalised; raises :class:`ListError` naming the first problem."""
    pattern = normalise(f.pattern)
    if not _VALID.fullmatch(pattern) or not pattern.strip("*?"):
        raise ListError("a plate or pattern needs at least one plate character (up to 64, no spaces)")
    if f.province and f.province not in THAI_PROVINCES:
        raise ListError(f"{f.province!r} is not a Thai province")
    if len(f.note) > 255:
        raise ListError("the note is longer than 255 characters")
    tags = tuple(dict.fromkeys(t.strip().lower() for t in f.tags if t.strip()))
    if len(tags) > MAX_TAGS or not all(_TAG.fullmatch(t) for t in tags):
        raise ListError(f"up to {MAX_TAGS} tags of 1-32 characters without spaces, commas or ';'")
    if f.tolerance not in (0, 1) or (kind is ListKind.ALLOW and f.tolerance):
        raise ListError("tolerance is 0 or 1 (and always 0 on the allow-list: a gate opens only for an exact read)")
    if kind is ListKind.WATCH and (f.site or f.checkpoint_id):
        raise ListError("watchlist entries apply to the whole fleet (no site or checkpoint)")
    if len(f.site) > 64 or len(f.checkpoint_id) > 64:
        raise ListError("site and checkpoint are at most 64 characters")
    expires = f.expires_at.astimezone(UTC) if f.expires_at else None
    return replace(f, pattern=pattern, tags=tags, expires_at=expires)


# --------------------------------------------------------------------------- storage


def _values(f: EntryFields) -> dict:
    return {"pattern": f.pattern, "province": f.province, "note": f.note, "tags": ",".join(f.tags),
            "expires_at": f.expires_at, "tolerance": f.tolerance, "site": f.site, "checkpoint_id": f.checkpoint_id}


def _entry(kind: ListKind, row) -> ListEntry:
    fields_ = EntryFields(row.pattern, row.province, row.note, tuple(t for t in row.tags.split(",") if t),
                          row.expires_at, row.tolerance, row.site, row.checkpoint_id)
    return ListEntry(row.id, kind, fields_, row.created_by, row.created_at, row.updated_at)


def add_entry(engine: Engine, kind: ListKind, f: EntryFields, created_by: str) -> ListEntry:
    """Add an entry; raises :class:`ListError` when it is invalid or already listed."""
    f = check_fields(kind, f)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            new_id = conn.execute(insert(kind.table).values(created_by=created_by[:64], created_at=now,
                                                            **_values(f))).inserted_primary_key[0]
    except IntegrityError:
        raise ListError(f"{_label(f)} is already on the {kind.value}") from None
    return ListEntry(new_id, kind, f, created_by[:64], now)


def update_entry(engine: Engine, kind: ListKind, entry_id: int, f: EntryFields) -> ListEntry:
    """Replace an entry's fields; raises :class:`ListError` when invalid, missing or a duplicate."""
    f = check_fields(kind, f)
    table = kind.table
    try:
        with engine.begin() as conn:
            done = conn.execute(update(table).where(table.c.id == entry_id)
                                .values(updated_at=datetime.now(UTC), **_values(f)))
            if not done.rowcount:
                raise ListError(f"no entry {entry_id} on the {kind.value}")
            row = conn.execute(select(table).where(table.c.id == entry_id)).one()
    except IntegrityError:
        raise ListError(f"{_label(f)} is already on the {kind.value}") from None
    return _entry(kind, row)


def remove_entry(engine: Engine, kind: ListKind, entry_id: int) -> bool:
    """Delete an entry; False if it did not exist."""
    with engine.begin() as conn:
        return bool(conn.execute(delete(kind.table).where(kind.table.c.id == entry_id)).rowcount)


def get_entry(engine: Engine, kind: ListKind, entry_id: int) -> ListEntry | None:
    """One entry, or None."""
    with engine.connect() as conn:
        row = conn.execute(select(kind.table).where(kind.table.c.id == entry_id)).first()
    return _entry(kind, row) if row else None


def list_entries(target: Engine | Connection, kind: ListKind, now: datetime | None = None) -> list[ListEntry]:
    """Every entry by pattern; with ``now``, only those not expired by then (``target``: engine or connection)."""
    table = kind.table
    query = select(table).order_by(table.c.pattern, table.c.province, table.c.site, table.c.checkpoint_id)
    if now is not None:
        query = query.where((table.c.expires_at.is_(None)) | (table.c.expires_at > now))
    if isinstance(target, Connection):
        return [_entry(kind, row) for row in target.execute(query)]
    with target.connect() as conn:
        return [_entry(kind, row) for row in conn.execute(query)]


def allowed_for(engine: Engine, checkpoint_id: str, now: datetime) -> list[ListEntry]:
    """The allow-list entries that apply at ``checkpoint_id`` at ``now``: those whose site (if any) is its
    site and whose checkpoint (if any) is it, and not expired."""

    t = allowlist.c
    with engine.connect() as conn:
        site = conn.execute(select(checkpoints.c.site).where(checkpoints.c.checkpoint_id == checkpoint_id)).scalar()
        rows = conn.execute(select(allowlist).where(
            (t.site == "") | (t.site == (site or "")), (t.checkpoint_id == "") | (t.checkpoint_id == checkpoint_id),
            (t.expires_at.is_(None)) | (t.expires_at > now)).order_by(t.pattern, t.province)).all()
    return [_entry(ListKind.ALLOW, r) for r in rows]


def _label(f: EntryFields) -> str:
    return " ".join(part for part in (f.pattern, f.province, f.site, f.checkpoint_id) if part)


# --------------------------------------------------------------------------- CSV


def csv_columns(kind: ListKind) -> tuple[str, ...]:
    """The CSV header for ``kind``."""
    base = ("plate", "province", "note", "tags", "expires", "tolerance")
    return base + ("site", "checkpoint") if kind is ListKind.ALLOW else base


def export_csv(engine: Engine, kind: ListKind, tz: tzinfo) -> str:
    """Every entry as CSV text (BOM first, so Excel on Thai Windows reads Thai; times in ``tz``)."""
    buffer = io.StringIO()
    buffer.write(UTF8_BOM)
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    writer.writerow(csv_columns(kind))
    for e in list_entries(engine, kind):
        f = e.fields
        expires = f.expires_at.astimezone(tz).isoformat(timespec="seconds") if f.expires_at else ""
        row = [f.pattern, f.province, _guard(f.note), ";".join(f.tags), expires, f.tolerance]
        writer.writerow(row + ([f.site, f.checkpoint_id] if kind is ListKind.ALLOW else []))
    return buffer.getvalue()


def _guard(text: str) -> str:
    """A note a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def parse_csv(kind: ListKind, text: str, tz: tzinfo) -> tuple[list[EntryFields], list[str]]:
    """Read CSV text into checked entries; return them and one error message per bad line."""
    reader = csv.DictReader(io.StringIO(text.removeprefix(UTF8_BOM)))
    columns = set(csv_columns(kind))
    if reader.fieldnames is None or "plate" not in reader.fieldnames:
        return [], ["line 1: the header must name at least 'plate' (" + ",".join(csv_columns(kind)) + ")"]
    unknown = [c for c in reader.fieldnames if c not in columns]
    if unknown:
        return [], [f"line 1: unknown column(s) {', '.join(unknown)}; expected {','.join(csv_columns(kind))}"]
    entries, errors, seen = [], [], {}
    for line, row in enumerate(reader, start=2):
        try:
            entry = check_fields(kind, _fields(row, tz))
        except (ListError, ValueError) as exc:
            errors.append(f"line {line}: {exc}")
            continue
        key = (entry.pattern, entry.province, entry.site, entry.checkpoint_id)
        if key in seen:
            errors.append(f"line {line}: {_label(entry)} repeats line {seen[key]}")
            continue
        seen[key] = line
        entries.append(entry)
    return entries, errors


def _fields(row: dict, tz: tzinfo) -> EntryFields:
    if None in row:
        raise ListError("more cells than the header has columns")
    get = lambda name: (row.get(name) or "").strip()  # noqa: E731
    tolerance = get("tolerance") or "0"
    if tolerance not in ("0", "1"):
        raise ListError(f"tolerance must be 0 or 1, not {tolerance!r}")
    return EntryFields(pattern=get("plate"), province=get("province"), note=get("note").removeprefix("'"),
                       tags=tuple(get("tags").split(";")) if get("tags") else (),
                       expires_at=parse_expiry(get("expires"), tz), tolerance=int(tolerance),
                       site=get("site"), checkpoint_id=get("checkpoint"))


def parse_expiry(text: str, tz: tzinfo) -> datetime | None:
    """``""`` (never), a date (the end of that day in ``tz``) or an ISO time (read in ``tz`` if naive)."""
    if not text:
        return None
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(23, 59, 59), tz)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ListError(f"expires must be a date like 2027-01-31 or an ISO time, not {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def decode_csv(data: bytes) -> str:
    """An uploaded CSV file as text: UTF-8 (a BOM is dropped); raises :class:`ListError` naming the line
    of the first byte that is not UTF-8 (a file saved as TIS-620 or Windows-874 by mistake)."""
    try:
        return data.decode("utf-8").removeprefix(UTF8_BOM)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ListError(f"line {line}: not UTF-8 text (save the file as 'CSV UTF-8')") from None


def import_csv(engine: Engine, kind: ListKind, text: str, created_by: str, tz: tzinfo) -> ImportResult:
    """Add or update every line of a CSV in one transaction, or nothing when any line is bad."""
    entries, errors = parse_csv(kind, text, tz)
    if errors:
        return ImportResult(errors=tuple(errors))
    with engine.begin() as conn:
        added, updated = _upsert(conn, kind, entries, created_by[:64])
    return ImportResult(added, updated)


def _upsert(conn: Connection, kind: ListKind, entries: Iterable[EntryFields], created_by: str) -> tuple[int, int]:
    table, now = kind.table, datetime.now(UTC)
    existing = {(r.pattern, r.province, r.site, r.checkpoint_id): r.id for r in conn.execute(
        select(table.c.id, table.c.pattern, table.c.province, table.c.site, table.c.checkpoint_id))}
    added = updated = 0
    for f in entries:
        found = existing.get((f.pattern, f.province, f.site, f.checkpoint_id))
        if found is None:
            conn.execute(insert(table).values(created_by=created_by, created_at=now, **_values(f)))
            added += 1
        else:
            conn.execute(update(table).where(table.c.id == found).values(updated_at=now, **_values(f)))
            updated += 1
    return added, updated
