"""The outbox's column map: one line per carried column drives the INSERT, the claim and the upgrade."""

from __future__ import annotations

import contextlib
import sqlite3

from edge_agent.delivery import Delivery, Kind
from edge_agent.schema import (
    DETECTION_COLUMNS,
    TABLES,
    Codec,
    add_missing_columns,
    carried,
    insert_sql,
    migrate,
    returning_list,
    wire_columns,
)
from fleet_protocol import Detection, HealthReport


def test_a_new_column_is_one_line_in_the_map():
    """Adding one carried column puts it in the INSERT, the claim's RETURNING list and an upgraded table."""
    columns = (*DETECTION_COLUMNS, carried("vehicle_make", "TEXT NOT NULL DEFAULT ''", Codec.TEXT))
    names = ["event_id", *(c.name for c in wire_columns(columns))]
    assert "vehicle_make" in insert_sql("detection_results", names) and ":vehicle_make" in insert_sql(
        "detection_results", names)
    assert returning_list(columns).endswith(", vehicle_make")
    with contextlib.closing(sqlite3.connect(":memory:", isolation_level=None)) as con:
        migrate(con)
        add_missing_columns(con, "detection_results", columns)
        assert "vehicle_make" in {r[1] for r in con.execute("PRAGMA table_info(detection_results)")}


def test_every_carried_column_names_a_protocol_field():
    """Each wire name in the map is a field of the message its table becomes (a typo fails here, not at claim)."""
    messages = {Kind.DETECTION: Detection, Kind.HEALTH: HealthReport}
    for kind, columns in TABLES.items():
        known = set(messages[kind].__dataclass_fields__)
        assert {c.wire for c in wire_columns(columns)} <= known, kind


def test_lifecycle_check_comes_from_the_delivery_enum():
    """The table refuses a state the Delivery enum does not name."""
    with contextlib.closing(sqlite3.connect(":memory:", isolation_level=None)) as con:
        migrate(con)
        for state in Delivery:
            con.execute("INSERT INTO health_checks (timestamp, component, status, delivery) VALUES "
                        "('2025-01-01T00:00:00', 'c', 'PASS', ?)", (state.value,))
        try:
            con.execute("INSERT INTO health_checks (timestamp, component, status, delivery) VALUES "
                        "('2025-01-01T00:00:00', 'c', 'PASS', 'lost')")
        except sqlite3.IntegrityError:
            pass
        else:
            raise AssertionError("an unknown delivery state was stored")
