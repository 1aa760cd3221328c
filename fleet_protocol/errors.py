"""The protocol's error codes and its one exception type.

Every refusal the ingest sends carries one of these codes. Senders decide from
the code alone whether to retry (``retryable``) or to give the message up as
rejected: a validation error will fail the same way forever, a storage outage
will not.
"""

from __future__ import annotations

import enum


class ErrorCode(str, enum.Enum):
    """Machine-readable error codes, stable across versions (documented in docs/protocol.md)."""

    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_TABLE = "unknown_table"
    UNKNOWN_ACTION = "unknown_action"
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"
    FIELD_TOO_LONG = "field_too_long"
    MESSAGE_TOO_LARGE = "message_too_large"
    INVALID_BASE64 = "invalid_base64"
    INVALID_IMAGE = "invalid_image"
    IMAGE_TOO_LARGE = "image_too_large"
    INVALID_TIMESTAMP = "invalid_timestamp"
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    INTERNAL_ERROR = "internal_error"

    @property
    def retryable(self) -> bool:
        """True when the same message may succeed later (server-side trouble or back-off)."""
        return self in _RETRYABLE


_RETRYABLE = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL_ERROR})


class ProtocolError(Exception):
    """A message (or answer) that breaks the protocol.

    ``code`` is an :class:`ErrorCode`; ``event_id`` is the message's event id when
    it could be read before the error was found, so the answer can still be matched.
    """

    def __init__(self, code: ErrorCode, message: str, event_id: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.event_id = event_id

    def __repr__(self) -> str:
        return f"ProtocolError({self.code.value!r}, {self.message!r})"
