"""Exceptions of the central server (one hierarchy; protocol errors live in fleet_protocol)."""


class CentralError(Exception):
    """Base class for central-server errors an operator can act on."""


class CheckpointExists(CentralError):
    """``checkpoints add`` for an id that already has a live token."""


class UnknownCheckpoint(CentralError):
    """A command named a checkpoint that is not registered."""


class StorageUnavailable(CentralError):
    """The database or image directory failed; the message may be retried."""
