"""Plate lists: the matching rule, storage, and CSV import/export (all-or-nothing, per-line errors)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fleet_protocol.platerule import matches, normalise, one_edit_apart  # the rule both ends share
from fleet_store.lists import (
    EntryFields,
    ListError,
    ListKind,
    add_entry,
    catches,
    export_csv,
    import_csv,
    list_entries,
    remove_entry,
    update_entry,
)

BKK = ZoneInfo("Asia/Bangkok")
WATCH, ALLOW = ListKind.WATCH, ListKind.ALLOW


@pytest.mark.parametrize(("pattern", "plate", "hit"), [
    ("ABC1234", "ABC1234", True),
    ("abc 1234", "ABC-1234", True),
    ("ABC*", "ABC1234", True),
    ("ABC*", "XABC1234", False),
    ("*123*", "กข 1234", True),
    ("กข????", "กข 1234", True),
    ("กข???", "กข 1234", False),
    ("A.C", "ABC", False),
    ("1234", "ABC1234", False),
])
def test_matching_rule(pattern, plate, hit):
    """Whole-plate match after removing spaces/dashes; * any run, ? one character, others literal."""
    assert matches(pattern, plate) is hit


@pytest.mark.parametrize(("pattern", "plate", "hit"), [
    ("1กข1234", "1กข1234", True),
    ("1กข1234", "1คข1234", True),    # one consonant misread
    ("1กข1234", "กข1234", True),     # leading digit missed
    ("1กข1234", "1กข12345", True),   # one character extra
    ("1กข1234", "1คข1235", False),   # two differences
    ("ABC*", "ABD1234", False),      # wildcard patterns never take a tolerance
])
def test_one_character_tolerance(pattern, plate, hit):
    """tolerance=1 also catches a plate one substitution, insertion or deletion away."""
    assert matches(pattern, plate, tolerance=1) is hit
    assert one_edit_apart(normalise(pattern), normalise(plate)) is hit or "*" in pattern


def test_province_and_expiry_decide_too(sqlite_engine):
    """An entry naming a province catches only that province; an expired entry catches nothing."""
    now = datetime.now(UTC)
    bangkok = add_entry(sqlite_engine, WATCH, EntryFields("1กข1234", "กรุงเทพมหานคร"), "boss")
    anywhere = add_entry(sqlite_engine, WATCH, EntryFields("1กข1234", expires_at=now + timedelta(days=1)), "boss")
    assert catches(bangkok, "1กข 1234", "กรุงเทพมหานคร", now) and not catches(bangkok, "1กข1234", "เชียงใหม่", now)
    assert catches(anywhere, "1กข1234", "เชียงใหม่", now)
    assert not catches(anywhere, "1กข1234", "เชียงใหม่", now + timedelta(days=2))
    assert [e.id for e in list_entries(sqlite_engine, WATCH, now + timedelta(days=2))] == [bangkok.id]


def test_entries_are_checked_normalised_and_unique(sqlite_engine):
    """Patterns are kept normalised; duplicates, bad provinces, tolerance on the allow-list are refused."""
    entry = add_entry(sqlite_engine, WATCH, EntryFields("abc 12*", note="stolen", tags=("Police", "police")), "boss")
    assert entry.pattern == "ABC12*" == normalise("ABC-12*") and entry.fields.tags == ("police",)
    for kind, bad in ((WATCH, EntryFields("ABC12*")), (WATCH, EntryFields("**")),
                      (WATCH, EntryFields("X1", province="Bangkok")), (ALLOW, EntryFields("X1", tolerance=1)),
                      (WATCH, EntryFields("X1", site="A")), (WATCH, EntryFields("X1", tags=("a b",)))):
        with pytest.raises(ListError):
            add_entry(sqlite_engine, kind, bad, "boss")
    changed = update_entry(sqlite_engine, WATCH, entry.id, EntryFields("ABC12*", note="found", tolerance=0))
    assert changed.note == "found" and changed.updated_at is not None
    assert [e.pattern for e in list_entries(sqlite_engine, WATCH)] == ["ABC12*"]
    assert remove_entry(sqlite_engine, WATCH, entry.id) and not remove_entry(sqlite_engine, WATCH, entry.id)


def test_allowlist_entries_are_scoped_to_a_site_or_checkpoint(sqlite_engine):
    """The same plate may be allowed at two sites; site and checkpoint are part of what makes an entry."""
    add_entry(sqlite_engine, ALLOW, EntryFields("1กข1234", site="Village A"), "boss")
    add_entry(sqlite_engine, ALLOW, EntryFields("1กข1234", site="Village B"), "boss")
    with pytest.raises(ListError, match="already"):
        add_entry(sqlite_engine, ALLOW, EntryFields("1กข 1234", site="Village A"), "boss")
    assert [e.fields.site for e in list_entries(sqlite_engine, ALLOW)] == ["Village A", "Village B"]


def test_csv_round_trips_thai_with_tags_and_expiry(sqlite_engine):
    """Export then import into an empty list gives the same entries; Thai survives; the BOM is accepted."""
    add_entry(sqlite_engine, WATCH, EntryFields("1กข1234", "เชียงใหม่", "=HYPERLINK(x)", ("stolen", "police"),
                                                datetime(2027, 1, 31, 16, 59, 59, tzinfo=UTC), 1), "boss")
    text = export_csv(sqlite_engine, WATCH, BKK)
    assert text.startswith("\ufeff") and '"\'=HYPERLINK(x)"' in text and '"2027-01-31T23:59:59+07:00"' in text
    remove_entry(sqlite_engine, WATCH, list_entries(sqlite_engine, WATCH)[0].id)
    assert import_csv(sqlite_engine, WATCH, text, "importer", BKK).added == 1
    [entry] = list_entries(sqlite_engine, WATCH)
    assert entry.fields == EntryFields("1กข1234", "เชียงใหม่", "=HYPERLINK(x)", ("stolen", "police"),
                                       datetime(2027, 1, 31, 16, 59, 59, tzinfo=UTC), 1)


def test_import_writes_nothing_when_any_line_is_bad(sqlite_engine):
    """Every bad line is reported with its number and nothing is written; a good file then adds and updates."""
    add_entry(sqlite_engine, WATCH, EntryFields("ZZ9999", note="old"), "boss")
    bad = ("plate,province,note,tags,expires,tolerance\n"
           "1กข1234,เชียงใหม่,ok,,2027-01-31,0\n"
           ",,no plate,,,\n"
           "2กข1234,Narnia,,,,\n"
           "3กข1234,,,,next tuesday,\n"
           "4กข1234,,,,,2\n"
           "1กข 1234,เชียงใหม่,again,,,\n")
    result = import_csv(sqlite_engine, WATCH, bad, "importer", BKK)
    assert [e.split(":")[0] for e in result.errors] == ["line 3", "line 4", "line 5", "line 6", "line 7"]
    assert "repeats line 2" in result.errors[-1]
    assert [e.pattern for e in list_entries(sqlite_engine, WATCH)] == ["ZZ9999"]
    good = "plate,note,expires\n1กข1234,ok,2027-01-31\nZZ9999,new note,\n"
    result = import_csv(sqlite_engine, WATCH, good, "importer", BKK)
    assert (result.added, result.updated, result.errors) == (1, 1, ())
    entries = {e.pattern: e for e in list_entries(sqlite_engine, WATCH)}
    assert entries["ZZ9999"].note == "new note" and entries["1กข1234"].fields.expires_at == datetime(
        2027, 1, 31, 23, 59, 59, tzinfo=BKK)


def test_import_refuses_an_unknown_header(sqlite_engine):
    """A file whose header is not ours is refused as a whole, naming the columns expected."""
    result = import_csv(sqlite_engine, ALLOW, "registration,owner\nกข1,me\n", "importer", BKK)
    assert result.errors and "plate" in result.errors[0] and list_entries(sqlite_engine, ALLOW) == []
