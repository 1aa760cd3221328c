"""The central data core: tables, migrations, typed records, live events, shared settings and logging.

Both central processes stand on it: the ingest (``central_server``) writes,
the dashboard (``dashboard``) reads, and neither imports the other. Nothing
here knows about a process, a page or the edge agent.

    schema.py    every central table (checkpoints, detections, health, users, watchlist, ...)
    db.py        engines with the durability settings; Alembic migrations in migrations/
    records.py   frozen StoredDetection / StoredHealth / StatusChange built from rows:
                 the one author of every live event payload; CheckpointStatus
    metrics.py   the one reader of health metrics (numbers under fleet_protocol.Metric keys)
    live.py      live event names and the publisher interface (Redis or none)
    lists.py     the watchlist and allow-list (matching rule, CSV import/export)
    audit.py     the audit log: who did what to whose data, when, from where
    corrections.py  misread corrections (original read kept) and the labelled set for retraining
    pdpa.py      everything held on a registration: export, erase, legal holds
    alerts.py    stored alerts, watchlist matching at ingest, the delivery queue
    config.py    CommonSettings;  logs.py  structured logging
"""
