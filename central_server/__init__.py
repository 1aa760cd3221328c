"""Central server: WebSocket ingest, storage, jobs and admin commands."""
