"""Reliability and attack scenarios run against the real processes (``make chaos``).

Each scenario is a plain function returning a :class:`chaos.report.Outcome`; the
fast variants run inside ``make test`` (tests/chaos), the full-size ones from
``python -m chaos``, which prints the table kept in docs/reliability.md.
"""
