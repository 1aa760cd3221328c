"""The old design, for comparison only: one INSERT + COMMIT per message, base64 image in SQLite.

No validation, no dedupe, no image files — exactly what the project replaces.
``python -m bench.naive_server PORT DB_PATH``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys

from websockets.asyncio.server import serve

SCHEMA = """CREATE TABLE IF NOT EXISTS lpr_detection (id INTEGER PRIMARY KEY AUTOINCREMENT,
license_plate TEXT, confidence REAL, checkpoint_id TEXT, timestamp TEXT, hostname TEXT, image TEXT,
received_at TEXT DEFAULT CURRENT_TIMESTAMP)"""


async def main(port: int, path: str) -> None:
    db = sqlite3.connect(path)
    db.execute(SCHEMA)

    async def handler(ws):
        async for raw in ws:
            data = json.loads(raw)["data"]
            cur = db.execute("INSERT INTO lpr_detection (license_plate, confidence, checkpoint_id, timestamp,"
                             " hostname, image) VALUES (?,?,?,?,?,?)",
                             (data["license_plate"], data["confidence"], data["checkpoint_id"],
                              data["timestamp"], data["hostname"], data["image"]))
            db.commit()
            await ws.send(json.dumps({"status": "success", "message": "Data saved successfully",
                                      "record_id": cur.lastrowid, "table": "lpr_detection",
                                      "action": "insert", "event_id": data.get("event_id")}))

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with serve(handler, "127.0.0.1", port, compression=None, max_size=2**23):
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
