"""Exceptions with messages a user can act on: each names the file or field at fault."""

from __future__ import annotations

__all__ = [
    "FusionRSError",
    "ImageReadError",
    "EmptyImageFileError",
    "TruncatedImageError",
    "NotAnImageError",
    "ImageTooLargeError",
    "UnsupportedImageError",
    "RecordError",
    "PairSizeMismatchError",
    "LocatorError",
]


class FusionRSError(Exception):
    """Base class: catch this to handle every error fusionrs raises on purpose."""


class ImageReadError(FusionRSError, ValueError):
    """An image could not be read. `source` names the file (or the kind of in-memory input)."""

    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class EmptyImageFileError(ImageReadError):
    """The file has zero bytes."""


class TruncatedImageError(ImageReadError):
    """The header decodes but the pixel data ends early."""


class NotAnImageError(ImageReadError):
    """The bytes are not in any image format we can decode (e.g. text named .png)."""


class ImageTooLargeError(ImageReadError):
    """More pixels than the configured limit: tile the scene or raise the limit on purpose."""


class UnsupportedImageError(ImageReadError):
    """A decodable image whose mode, depth or band layout has no defined conversion."""


class RecordError(FusionRSError, ValueError):
    """A record field is invalid. `record_id` and `field` say where."""

    def __init__(self, record_id: str, field: str, reason: str):
        self.record_id = record_id
        self.field = field
        self.reason = reason
        super().__init__(f"record {record_id!r}, field {field!r}: {reason}")


class PairSizeMismatchError(RecordError):
    """RGB and IR of one record differ in size, so they are not pixel-aligned."""


class LocatorError(RecordError):
    """A source locator is absolute or escapes its root with '..'."""
