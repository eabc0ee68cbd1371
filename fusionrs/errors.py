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
    "CardValidationError",
    "HubOfflineError",
    "HubRepoNotFoundError",
    "FolderError",
    "CheckpointLoadError",
    "CheckpointLayoutError",
    "OpenClipConversionError",
    "EvaluationDataError",
    "ClipLoadError",
    "AdapterLoadError",
    "SourceSpecError",
    "SpaceConfigError",
    "NotConfiguredError",
    "HitUavError",
    "UnknownSpecError",
    "DatasetFolderError",
    "SkippedEntryError",
    "ImageFileNotFoundError",
    "OutsideSourceRootError",
    "SpecialFileError",
    "ImageFileTooLargeError",
    "CorruptImageError",
    "OutputFolderError",
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


class ImageFileNotFoundError(ImageReadError, FileNotFoundError):
    """The path does not exist. Also a FileNotFoundError, so existing `except OSError` code still works."""


class OutsideSourceRootError(ImageReadError):
    """The path resolves outside its source root (a symlinked file or folder, or '..'); never read."""


class SpecialFileError(NotAnImageError):
    """A FIFO, a device or a socket: refused from its `stat` alone, never opened."""


class ImageFileTooLargeError(ImageTooLargeError):
    """The file has more bytes than the cap; refused from its size before any byte is read."""


class CorruptImageError(TruncatedImageError):
    """A decoder failed on malformed data with an exception of its own (chained as `__cause__`)."""


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



class CardValidationError(FusionRSError, ValueError):
    """A card's metadata breaks a hub rule; the message lists every problem found."""


class HubOfflineError(FusionRSError):
    """A hub repo id was given while the hub is unreachable by configuration and the repo is not cached."""


class HubRepoNotFoundError(FusionRSError):
    """The hub answered that the repo (or revision) does not exist, or is private without a token."""


class FolderError(FusionRSError):
    """The folder is not a valid folder of the kind being pushed; the message names what is missing."""


class CheckpointLoadError(FusionRSError, ValueError):
    """The checkpoint file could not be read safely."""


class CheckpointLayoutError(FusionRSError, ValueError):
    """The checkpoint's keys or shapes are not those of a DiffV2IR model."""


class OpenClipConversionError(FusionRSError, ValueError):
    """The checkpoint or the architecture cannot be converted as asked; the message names the keys or fields."""


class EvaluationDataError(FusionRSError):
    """The evaluation data is missing or unusable (wrong folder, unknown split, no rows)."""


class ClipLoadError(FusionRSError):
    """A CLIP model folder is missing, incomplete or holds another kind of model."""


class AdapterLoadError(FusionRSError):
    """A peft adapter folder does not load onto its base: its config, its base, or its weights (missing or
    unexpected keys); the message names the file and the field or keys."""


class SourceSpecError(FusionRSError, ValueError):
    """A `KIND:PATH` source specification or a source's annotation file is unusable."""


class SkippedEntryError(FusionRSError, ValueError):
    """A source entry is left out (malformed, outside the source root, ...); the message is the reason."""


class SpaceConfigError(FusionRSError):
    """A Space setting is invalid; the message names the setting (flag or environment variable)."""


class NotConfiguredError(FusionRSError):
    """The tab needs a model this Space was started without; the message says how to configure it."""


class HitUavError(FusionRSError, ValueError):
    """The HIT-UAV folder or one of its records is missing or malformed (the message names it)."""


class UnknownSpecError(FusionRSError, ValueError):
    """A spec string (translator, captioner, model preset, ...) names nothing fusionrs knows; the message lists the choices."""


class DatasetFolderError(FusionRSError, FileNotFoundError):
    """A dataset folder is missing or is not a FusionRS/datasets folder; the message names it."""


class OutputFolderError(FusionRSError, FileExistsError):
    """An output folder cannot be (re)written: it is an input of the same run, a non-empty folder
    fusionrs did not write, not writable, or on a disk without room; the message names it and why."""
