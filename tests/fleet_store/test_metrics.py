"""Health metrics are read from declared numeric keys, with the old senders' string forms still understood."""

from __future__ import annotations

from fleet_protocol import Metric
from fleet_store.metrics import metric, metrics_of


def test_declared_keys_are_read_as_numbers():
    """The edge's numeric keys come back as floats under their Metric names."""
    info = {"cpu_percent": 12, "memory_percent": 45.5, "disk_percent": 41, "temperature_c": 61.2,
            "outbox_backlog": 17, "uptime_s": 3600}
    assert metrics_of(info) == {"cpu_percent": 12.0, "memory_percent": 45.5, "disk_percent": 41.0,
                                "temperature_c": 61.2, "outbox_backlog": 17.0, "uptime_s": 3600.0}


def test_old_senders_string_forms_stay_readable():
    """The DESIGN.md seed's "45%" strings and the old names are understood."""
    assert metrics_of({"memory_usage": "45%", "cpu_usage": "12%", "disk_usage": "41%", "temperature": "51.2C"}) == {
        "memory_percent": 45.0, "cpu_percent": 12.0, "disk_percent": 41.0, "temperature_c": 51.2}


def test_declared_key_wins_over_an_old_name():
    """When both forms are present the number under the declared key is used."""
    assert metric({"cpu_percent": 7, "cpu_usage": "12%"}, Metric.CPU_PERCENT) == 7.0


def test_junk_values_are_ignored_not_guessed():
    """Booleans, lists and text without a leading number give no figure (and no error)."""
    assert metrics_of({"cpu_percent": True, "memory_usage": "high", "disk_percent": [1], "temperature_c": None}) == {}
