"""The edge agent's one exception hierarchy.

Everything the agent raises on purpose derives from :class:`EdgeError`, so the
command line can turn it into a clear message and an exit status instead of a
traceback.
"""

from __future__ import annotations


class EdgeError(Exception):
    """Base class for the edge agent's own errors."""


class ConfigError(EdgeError):
    """Settings are missing or invalid; the message says which and how to fix it."""


class OutboxError(EdgeError):
    """The local outbox database cannot be opened, migrated or written."""


class ImageError(EdgeError):
    """An image given to the outbox is not a usable picture."""
