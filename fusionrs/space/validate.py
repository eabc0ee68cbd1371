"""Upload checks for the Space: file type, file size and megapixels, each failure a friendly `gr.Error`.

All decoding goes through `fusionrs.core.image_io.load_image`, which checks width x height from the header
before decoding pixels, so a decompression bomb is refused without being expanded. The Space's events run with
`preprocess=False` and call `decode_upload`, so these checks come before gradio's own `PIL.Image.open`
(which would fail on a non-image with an unfriendly trace). Not a gr.Image subclass on purpose: gradio
writes a .pyi stub beside every component subclass's module at import, which fails on a read-only install.
"""

from __future__ import annotations

import base64
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from fusionrs.core.image_io import load_image
from fusionrs.errors import (
    EmptyImageFileError,
    ImageReadError,
    ImageTooLargeError,
    NotAnImageError,
    TruncatedImageError,
    UnsupportedImageError,
)

__all__ = ["UploadLimits", "decode_upload", "friendly_message", "load_upload"]

ACCEPTED = "PNG, JPEG, TIFF, WebP or BMP"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int
    max_pixels: int

    @property
    def max_megapixels(self) -> float:
        return self.max_pixels / 1e6


def friendly_message(error: ImageReadError, what: str, limits: UploadLimits) -> str:
    """One sentence a user can act on, for each way an upload can fail.

    Args:
        error: the `ImageReadError` that `load_image` raised.
        what: how the message names the upload (e.g. "RGB image").
        limits: the Space's upload limits (the megapixel limit is quoted for too-large images).

    Returns:
        The message for the error's type (too large, empty, not an image, damaged, unsupported
        layout), or a generic "could not be read" with the error's reason.
    """
    if isinstance(error, ImageTooLargeError):
        return (f"The {what} is too large: {error.reason.split(' is over')[0]}. This Space accepts up to "
                f"{limits.max_megapixels:g} megapixels; please downscale or crop it.")
    if isinstance(error, EmptyImageFileError):
        return f"The {what} file is empty (0 bytes). Please upload a {ACCEPTED} image."
    if isinstance(error, NotAnImageError):
        return f"The {what} is not an image this Space can read. Please upload a {ACCEPTED} image."
    if isinstance(error, TruncatedImageError):
        return f"The {what} file looks damaged or incomplete (it cannot be decoded). Please upload it again."
    if isinstance(error, UnsupportedImageError):
        return f"The {what} has a layout this Space cannot convert: {error.reason}"
    return f"The {what} could not be read: {error.reason}"


def load_upload(path: str | os.PathLike, *, mode: str, limits: UploadLimits, what: str = "image",
                name: str | None = None) -> Image.Image:
    """Check and decode one uploaded file into an `RGB` or `L` image, or raise `gr.Error`.

    Args:
        path: the uploaded file on disk.
        mode: "RGB" or "L".
        limits: the maximum file size in bytes and image size in pixels.
        what: how error messages name the upload.
        name: the file name for error messages (default: the name of `path`).

    Returns:
        The decoded PIL image in `mode`.

    Raises:
        gradio.Error: when the file cannot be read from disk, is not a regular file, is larger than
            `limits.max_bytes`, or `load_image` refuses it (too many pixels, empty, not an image, damaged,
            unsupported), with a message from `friendly_message`; any other decoder failure is
            "could not be decoded" (logged with its traceback).
    """
    path = Path(path)
    label = name or path.name
    try:
        info = path.stat()
    except OSError:
        raise gr.Error(f"The {what} upload did not arrive; please try again.") from None
    if not stat.S_ISREG(info.st_mode):
        raise gr.Error(f"The {what} upload is not a file. Please upload a {ACCEPTED} image.")
    size = info.st_size
    if size > limits.max_bytes:
        raise gr.Error(f"The {what} file is too large: {size / 2**20:.1f} MB; this Space accepts files up to "
                       f"{limits.max_bytes / 2**20:g} MB. Please downscale it or save it as JPEG/PNG.")
    return _load(path, mode=mode, limits=limits, what=what, name=label)


def decode_upload(payload: Any, *, mode: str, limits: UploadLimits, what: str = "image",
                  required: bool = True) -> Image.Image | None:
    """An image input of an event run with `preprocess=False`: gradio has stored the upload in its cache
    (and checked it came from its upload folder) but decoded nothing, so every check here comes first.

    Args:
        payload: gradio's stored-file dict ({"path", "orig_name", ...}), a dict whose "url" is a
            base64 `data:` URL (a pasted image), a file path, or None / "" when nothing was uploaded.
        mode: "RGB" or "L".
        limits: the maximum file size in bytes and image size in pixels.
        what: how error messages name the upload.
        required: whether a missing upload is an error.

    Returns:
        The decoded PIL image in `mode`, or None when nothing was uploaded and `required` is False.

    Raises:
        gradio.Error: when a required upload is missing, the payload is not file data, or the upload fails
            a check (unreadable, not a file, too many bytes or pixels, not a decodable image).
    """
    if not (payload is None or isinstance(payload, (str, os.PathLike, dict))):
        raise gr.Error(f"The {what} must be an uploaded image file (gradio's file data, e.g. gradio_client's "
                       f"handle_file), not {type(payload).__name__}.")
    if isinstance(payload, dict) and not isinstance(payload.get("path") or "", str):
        raise gr.Error(f"The {what} file data has a {type(payload['path']).__name__} path; expected text.")
    if isinstance(payload, dict) and not payload.get("path") and str(payload.get("url") or "").startswith("data:"):
        return _decode_data_url(payload["url"], mode=mode, limits=limits, what=what)
    if isinstance(payload, dict) and not payload.get("path") and payload.get("url"):
        raise gr.Error(f"The {what} must be uploaded to this Space; it does not fetch URLs. Please upload a "
                       f"{ACCEPTED} image.")
    if payload is None or payload == "" or (isinstance(payload, dict) and not payload.get("path")):
        if required:
            raise gr.Error(f"Please upload the {what} first.")
        return None
    if isinstance(payload, dict):
        return load_upload(payload["path"], mode=mode, limits=limits, what=what, name=payload.get("orig_name"))
    return load_upload(payload, mode=mode, limits=limits, what=what)


def _decode_data_url(url: str, *, mode: str, limits: UploadLimits, what: str) -> Image.Image:
    """A pasted image arrives inline as base64; same limits as a file."""
    try:
        data = base64.b64decode(url.split(",", 1)[1], validate=False)
    except (IndexError, ValueError):
        raise gr.Error(f"The {what} is not an image this Space can read. Please upload a {ACCEPTED} image.") from None
    if len(data) > limits.max_bytes:
        raise gr.Error(f"The {what} is too large: {len(data) / 2**20:.1f} MB; this Space accepts up to "
                       f"{limits.max_bytes / 2**20:g} MB.")
    return _load(data, mode=mode, limits=limits, what=what, name=f"pasted {what}")


def _load(source: Path | bytes, *, mode: str, limits: UploadLimits, what: str, name: str) -> Image.Image:
    """`load_image` with every failure a message: its own errors by kind, anything else (a decoder bug on a
    hostile file, memory) as "could not be read", logged with its traceback."""
    try:
        return load_image(source, mode=mode, max_pixels=limits.max_pixels, name=name)
    except ImageReadError as error:
        raise gr.Error(friendly_message(error, what, limits)) from None
    except MemoryError:
        raise gr.Error(f"The {what} needs more memory to decode than this Space has; please downscale it.") from None
    except Exception:  # noqa: BLE001 - a foreign decoder error must reach the user as a message, not {"error": null}
        log.exception("decoding the %s %r failed", what, name)
        raise gr.Error(f"The {what} could not be decoded (damaged or an unsupported variant of its format). "
                       f"Please upload a {ACCEPTED} image.") from None
