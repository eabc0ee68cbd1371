"""One image reader for every input the package meets: paths, bytes, PIL images and numpy arrays.

`load_image` returns a fully decoded ``RGB`` or ``L`` image. Anything that is not already 8-bit
RGB/L goes through a named, recorded conversion (alpha, palette, CMYK, 16-bit/float thermal,
multi-band GeoTIFF); the rule used is written to ``image.info["fusionrs_conversion"]`` so the
dataset builder can keep it in provenance. Files that cannot be read raise a specific
`fusionrs.errors.ImageReadError` subclass naming the file, whatever the decoder itself raised;
`scan_images` / `iter_images` turn those into a report instead of stopping a batch.
`read_source_bytes` reads one file of a source archive safely: never outside the source root,
never a FIFO or device, never more than a byte cap. See docs/image_io.md for the full behaviour table.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import stat
import struct
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from fusionrs.errors import (  # the file-level image errors are re-exported here
    CorruptImageError,
    EmptyImageFileError,
    ImageFileNotFoundError,
    ImageFileTooLargeError,
    ImageReadError,
    ImageTooLargeError,
    NotAnImageError,
    OutsideSourceRootError,
    SpecialFileError,
    TruncatedImageError,
    UnsupportedImageError,
)

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_MAX_PIXELS",
    "THERMAL_RULES",
    "CorruptImageError",
    "ImageFileNotFoundError",
    "ImageFileTooLargeError",
    "ImageScanReport",
    "OutsideSourceRootError",
    "SpecialFileError",
    "load_image",
    "iter_images",
    "read_source_bytes",
    "scan_images",
]

logger = logging.getLogger(__name__)


def _max_pixels_from_env() -> int:
    value = os.environ.get("FUSIONRS_MAX_PIXELS", "200000000")
    try:
        return int(value.replace("_", ""))
    except ValueError:
        raise ValueError(f"FUSIONRS_MAX_PIXELS must be an integer pixel count, got {value!r}") from None


# 200 MP is a 14k x 14k scene: about 600 MB as RGB, which still fits in memory. Read once at import.
DEFAULT_MAX_PIXELS: int = _max_pixels_from_env()
# A file's bytes stay in memory while it decodes. 1 GiB is above an uncompressed 200 MP RGB scene
# (600 MB); a bigger single file is not one record's image and should be tiled first.
DEFAULT_MAX_FILE_BYTES: int = 1 << 30
# Decoded bytes per pixel allowed on the tifffile path (4 bands of 16 bits): its band count comes
# from a header field, so a tiny corrupt file could otherwise ask for an array of any size.
MAX_DECODED_BYTES_PER_PIXEL = 8
# Pages read on the tifffile path (one page per band is a layout it supports). tifffile follows a
# chain of IFD offsets and does not notice one that points back at itself: without a cap a 3 KB
# corrupt file keeps it busy forever.
MAX_TIFF_PAGES = 1024

# Rules that map 16-bit / 32-bit / float data (thermal, multispectral) to 8 bits:
#   percentile: linear stretch, 2nd percentile -> 0 and 98th -> 255 (robust to hot/dead pixels);
#   minmax:     linear stretch, min -> 0 and max -> 255;
#   fixed16:    value >> 8 for integer data in 0..65535 (same mapping for every image, no stretch).
THERMAL_RULES: tuple[str, ...] = ("percentile", "minmax", "fixed16")
PERCENTILES = (2, 98)

TARGET_MODES = ("RGB", "L")
# Modes PIL decodes that need the thermal rule instead of a plain PIL convert.
HIGH_DEPTH_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
# Modes with a defined conversion (see docs/image_io.md); anything else is UnsupportedImageError.
PIL_MODES = ("RGB", "L", "1", "P", "PA", "RGBA", "LA", "CMYK", "YCbCr", *HIGH_DEPTH_MODES)

_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_SIGNATURES = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"GIF8": "GIF",
    b"BM": "BMP",
    **{signature: "TIFF" for signature in _TIFF_SIGNATURES},
}
_ORIENTATION = ExifTags.Base.Orientation
# TIFF PhotometricInterpretation values whose samples the tifffile path can use as they are.
# Anything else (MinIsWhite, palette, CMYK, YCbCr, CIELab/ICCLab/ITULab, LogLuv, CFA, ...) would
# come out as silently wrong colours, so it is refused.
_TIFFFILE_PHOTOMETRIC = {None: "none", 1: "MinIsBlack", 2: "RGB"}
_SPECIAL_FILE_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


# ---------------------------------------------------------------------------------------------
# Loading one image
# ---------------------------------------------------------------------------------------------


def load_image(
    source: str | os.PathLike | bytes | Image.Image | np.ndarray,
    *,
    mode: str = "RGB",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    bands: Sequence[int] | None = None,
    thermal_rule: str = "percentile",
    name: str | None = None,
) -> Image.Image:
    """Decode `source` into a loaded PIL image in `mode` ("RGB" or "L").

    Args:
        source: a file path, the encoded bytes of a file, a PIL image or a numpy array
            (HxW, HxWx1, HxWx3, HxWx4 uint8 as RGBA, or HxWxC bands with `bands`).
        mode: target mode, "RGB" or "L" (IR images are "L").
        max_pixels: width*height above which ImageTooLargeError is raised before decoding;
            None disables the limit (the image must then fit in memory).
        bands: 0-based band indices (1 or 3 of them) to read from a multi-band TIFF, a numpy
            array or a plain PIL image. Default: the first 3 bands for RGB, the first for L.
        thermal_rule: one of THERMAL_RULES, used for 16-bit, 32-bit and float data.
        name: label used in error messages instead of the path (useful for bytes inputs).

    Returns:
        A new image. When a conversion was applied, ``info["fusionrs_conversion"]`` records it,
        e.g. ``"I;16->L percentile(2,98) lo=1234 hi=5678; L->RGB replicate"``.

    Raises:
        ImageFileNotFoundError, EmptyImageFileError, NotAnImageError (SpecialFileError for a
        FIFO, device or socket, refused without opening it), TruncatedImageError (CorruptImageError
        when the decoder itself raised, e.g. ZeroDivisionError or zlib.error, chained as
        ``__cause__``), ImageTooLargeError, UnsupportedImageError (LAB and other modes without a
        defined conversion): all ImageReadError, each naming the file. No other exception
        escapes from decoding; MemoryError and KeyboardInterrupt are never caught.
        ValueError: `mode`, `thermal_rule` or the length of `bands` is invalid (before any read).
        TypeError: `source` is none of the accepted types.
    """
    _check_arguments(mode, thermal_rule, bands)
    bands = None if bands is None else tuple(int(band) for band in bands)
    label = _label_for(source, name)
    try:
        image, notes = _load_source(source, mode, max_pixels, bands, thermal_rule, label)
    except (ImageReadError, MemoryError):
        raise
    except Exception as error:
        # Decoders raise whatever their parsing code hit on malformed data (ZeroDivisionError,
        # TypeError, zlib.error, struct.error, AssertionError, RuntimeError, ...): one bad file must
        # reach callers as the package's error naming it. MemoryError and KeyboardInterrupt pass.
        raise CorruptImageError(label, f"the decoder failed on malformed data ({_describe(error)})") from error

    # Metadata is not carried over: EXIF orientation is already applied, and an ICC profile or
    # palette from the source would describe the wrong pixels after conversion.
    image.info = {"fusionrs_conversion": "; ".join(notes)} if notes else {}
    return image


def _label_for(source, name: str | None) -> str:
    if name:
        return name
    if isinstance(source, np.ndarray):
        return f"<numpy array {'x'.join(map(str, source.shape))} {source.dtype}>"
    if isinstance(source, Image.Image):
        return getattr(source, "filename", "") or "<PIL image>"
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    raise TypeError(f"load_image takes a path, bytes, a PIL image or a numpy array, not {type(source).__name__}")


def _describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _load_source(source, mode: str, max_pixels: int | None, bands, thermal_rule: str, label: str
                 ) -> tuple[Image.Image, list[str]]:
    if isinstance(source, np.ndarray):
        if source.ndim >= 2:
            _check_pixel_limit(source.shape[1], source.shape[0], max_pixels, label)
        return _array_to_target(source, mode, bands, thermal_rule, label, _array_kind(source))
    if isinstance(source, Image.Image):
        _check_pixel_limit(*source.size, max_pixels, label)
        _load_pixels(source, label)
        image, notes = _pil_to_target(source, mode, bands, thermal_rule, label)
        if image is source:  # never hand back (and later mutate) the caller's own object
            image = source.copy()
        return image, notes
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise EmptyImageFileError(label, "zero bytes: there is no image data at all")
        return _decode(io.BytesIO(source), mode, max_pixels, bands, thermal_rule, label)
    with _open_regular_file(Path(source), label) as file:
        return _decode(file, mode, max_pixels, bands, thermal_rule, label)


def _refuse_special_file(info: os.stat_result, label: str) -> None:
    for is_kind, kind in _SPECIAL_FILE_KINDS:
        if is_kind(info.st_mode):
            raise SpecialFileError(label, f"is {kind}, not an image file; refused without opening it")
    if stat.S_ISDIR(info.st_mode):
        raise NotAnImageError(label, "is a directory, not an image file")
    if not stat.S_ISREG(info.st_mode):
        raise NotAnImageError(label, "is not a regular file")


def _open_regular_file(path: Path, label: str) -> IO[bytes]:
    """Open a path for reading only once `stat` says it is a non-empty regular file.

    A FIFO would block `open()` until a writer appears and a device never ends, so both are refused
    from their `stat`. O_NONBLOCK guards the window between the stat and the open."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ImageFileNotFoundError(label, "no such file") from None
    except (OSError, ValueError) as error:  # ELOOP, ENAMETOOLONG, a NUL byte in the name, ...
        raise ImageReadError(label, f"cannot stat the file: {_describe(error)}") from error
    _refuse_special_file(info, label)
    if info.st_size == 0:
        raise EmptyImageFileError(label, "the file is empty (zero bytes)")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        # `opener` keeps `file.name` the path (tifffile reads it), where os.fdopen would give an int.
        file = open(path, "rb", opener=lambda name, _flags: os.open(name, flags))
    except PermissionError as error:
        raise ImageReadError(label, f"cannot open the file: {error.strerror}") from error
    except OSError as error:
        raise ImageReadError(label, f"cannot open the file: {_describe(error)}") from error
    try:
        _refuse_special_file(os.fstat(file.fileno()), label)  # replaced between the stat and the open
    except ImageReadError:
        file.close()
        raise
    return file


def _check_arguments(mode: str, thermal_rule: str, bands: Sequence[int] | None) -> None:
    if mode not in TARGET_MODES:
        raise ValueError(f"mode must be one of {TARGET_MODES}, got {mode!r}")
    if thermal_rule not in THERMAL_RULES:
        raise ValueError(f"thermal_rule must be one of {THERMAL_RULES}, got {thermal_rule!r}")
    if bands is not None and len(bands) not in (1, 3):
        raise ValueError(f"bands must list 1 band (grey) or 3 bands (RGB), got {tuple(bands)}")


def _check_pixel_limit(width: int, height: int, max_pixels: int | None, label: str) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            label,
            f"{width}x{height} = {width * height:,} pixels is over max_pixels={max_pixels:,}; "
            "pass max_pixels=None to load it anyway (it must fit in memory), or process it in "
            "overlapping windows with fusionrs.core.tiling.iter_tiles",
        )


def _decode(
    file: IO[bytes], mode: str, max_pixels: int | None, bands, thermal_rule: str, label: str
) -> tuple[Image.Image, list[str]]:
    """Decode an open binary file: header and size check first, pixels second."""
    head = file.read(16)
    file.seek(0)
    is_tiff = head[:4] in _TIFF_SIGNATURES
    try:
        with _pil_size_check_disabled():
            image = Image.open(file)
    except UnidentifiedImageError:
        if is_tiff:  # e.g. a 5-band or band-interleaved GeoTIFF: PIL has no mode for it
            array = _read_tiff_bands(file, label, max_pixels)
            return _array_to_target(array, mode, bands, thermal_rule, label, f"TIFF {_array_kind(array)}")
        known_format = _format_from_signature(head)
        if known_format:
            raise TruncatedImageError(
                label, f"starts like a {known_format} file but its header cannot be decoded (truncated or corrupt)"
            ) from None
        raise NotAnImageError(label, f"not an image file in any format PIL can read (starts with {head[:8]!r})") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as error:
        raise TruncatedImageError(label, f"the header cannot be decoded (truncated or corrupt): {error}") from error

    _check_pixel_limit(*image.size, max_pixels, label)
    if is_tiff and image.mode in HIGH_DEPTH_MODES and getattr(image, "tag_v2", {}).get(262) == 0:
        # PIL inverts 1- and 8-bit MinIsWhite but hands 16-bit/float MinIsWhite over as is.
        raise UnsupportedImageError(label, f"{image.mode} TIFF with MinIsWhite photometric (0 is white) has no defined conversion")
    if is_tiff and _needs_tifffile(image):
        array = _read_tiff_bands(file, label, max_pixels)
        return _array_to_target(array, mode, bands, thermal_rule, label, f"TIFF {_array_kind(array)}")
    _load_pixels(image, label)
    return _pil_to_target(image, mode, bands, thermal_rule, label)


def _load_pixels(image: Image.Image, label: str) -> None:
    # PIL raises OSError("image file is truncated ...") here; ImageFile.LOAD_TRUNCATED_IMAGES would
    # instead fill the missing rows with grey, silently. We never allow that.
    try:
        with _pil_size_check_disabled():
            image.load()
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as error:
        raise TruncatedImageError(label, f"the pixel data cannot be decoded (truncated or corrupt): {error}") from error


def _format_from_signature(head: bytes) -> str | None:
    for signature, format_name in _SIGNATURES.items():
        if head.startswith(signature):
            return format_name
    return None


_pil_limit_lock = threading.Lock()
_pil_limit_users = 0
_pil_limit_saved: int | None = None


@contextlib.contextmanager
def _pil_size_check_disabled():
    """Switch off PIL's own decompression-bomb check while we open and decode.

    PIL raises DecompressionBombError at 2x its own limit (~179 MP) from inside Image.open, before
    our max_pixels check could run, and warns from ~89 MP. We check width*height ourselves right
    after reading the header. Counted, so overlapping calls from several threads restore PIL's
    value only when the last one leaves.
    """
    global _pil_limit_users, _pil_limit_saved
    with _pil_limit_lock:
        if _pil_limit_users == 0:
            _pil_limit_saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _pil_limit_users += 1
    try:
        yield
    finally:
        with _pil_limit_lock:
            _pil_limit_users -= 1
            if _pil_limit_users == 0:
                Image.MAX_IMAGE_PIXELS = _pil_limit_saved


# ---------------------------------------------------------------------------------------------
# Reading one file of a source archive: inside the root, regular, bounded
# ---------------------------------------------------------------------------------------------


def read_source_bytes(
    root: str | os.PathLike,
    locator: str | os.PathLike,
    *,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    name: str | None = None,
) -> bytes:
    """Read the bytes of one file of a source archive, refusing anything that is not plainly its own.

    The checks run in this order, and all of them before the file is opened:

    1. `root` is resolved (it may itself be a symlink) and `root / locator` is resolved through
       every symlink; a result outside the resolved root is refused (a symlinked file or folder
       pointing elsewhere, an absolute locator elsewhere, or '..').
    2. `lstat` of the resolved path must show a regular file: a FIFO, a character or block device
       (e.g. a link to /dev/zero) or a socket is refused without being opened, so it can neither
       block nor stream forever; a directory or a symlink loop is refused too.
    3. Its size must be 1..max_bytes.

    The file is then opened with O_NOFOLLOW and O_NONBLOCK, checked to be the same inode that
    was stat-ed, and read with at most ``max_bytes + 1`` bytes requested, so a file that grows
    (or is swapped) after the checks still cannot exhaust memory.

    Args:
        root: the source root folder (a symlink to a folder is fine).
        locator: the file's path relative to `root` (an absolute path is accepted only when it
            resolves inside `root`).
        max_bytes: the largest file accepted, in bytes. Defaults to `DEFAULT_MAX_FILE_BYTES` (1 GiB).
        name: label used in error messages instead of ``root / locator``.

    Returns:
        The file's bytes (for `load_image(data, name=...)`, or to store them as they are).

    Raises:
        OutsideSourceRootError: the path resolves outside the root.
        SpecialFileError: a FIFO, device or socket.
        NotAnImageError: a directory or another non-regular file.
        ImageFileNotFoundError: the file (or the root) does not exist, or is a dangling symlink.
        EmptyImageFileError: the file has zero bytes.
        ImageFileTooLargeError: the file has more than `max_bytes` bytes.
        ImageReadError: the file cannot be opened (permissions, a symlink loop, a NUL byte in
            the name) or changed between the checks and the read. All of these are
            ImageReadError subclasses naming the file, never the target of a link.
    """
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be a positive byte count, got {max_bytes!r}")
    label = (name or str(Path(root) / locator)).replace("\0", "\\0")
    path = _resolve_inside_root(root, locator, label)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise ImageFileNotFoundError(label, "no such file (or a symlink to a missing file)") from None
    except OSError as error:
        raise ImageReadError(label, f"cannot stat the file: {_describe(error)}") from error
    if stat.S_ISLNK(info.st_mode):  # realpath leaves a link it could not resolve: a loop
        raise ImageReadError(label, "is a symlink that does not resolve (a symlink loop)")
    _refuse_special_file(info, label)
    _check_file_size(info.st_size, max_bytes, label)

    flags = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
             | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0))
    try:
        descriptor = os.open(path, flags)
    except PermissionError as error:
        raise ImageReadError(label, f"cannot open the file: {error.strerror}") from error
    except OSError as error:  # ELOOP: replaced by a symlink after the checks
        raise ImageReadError(label, f"cannot open the file (it changed after it was checked): {_describe(error)}") from error
    try:
        opened = os.fstat(descriptor)
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino) or not stat.S_ISREG(opened.st_mode):
            raise ImageReadError(label, "the file was replaced between its checks and the read; refused")
        data = _read_at_most(descriptor, max_bytes + 1)
    finally:
        os.close(descriptor)
    _check_file_size(len(data), max_bytes, label)  # it grew after the size check
    return data


def _resolve_inside_root(root: str | os.PathLike, locator: str | os.PathLike, label: str) -> Path:
    try:
        real_root = os.path.realpath(root, strict=True)
        is_folder = os.path.isdir(real_root)
        # realpath walks every component, so `a/../b` through a linked `a` is judged where it lands.
        resolved = os.path.realpath(os.path.join(real_root, locator))
    except FileNotFoundError:
        raise ImageFileNotFoundError(label, "the source root does not exist") from None
    except (OSError, ValueError) as error:  # a NUL byte in the name, ENAMETOOLONG, ...
        raise ImageReadError(label, f"cannot resolve the path: {_describe(error)}") from error
    if not is_folder:
        raise NotAnImageError(label, "the source root is not a folder")
    if os.path.commonpath([real_root, resolved]) != real_root:
        raise OutsideSourceRootError(
            label, "resolves outside its source root (a symlinked file or folder, or '..'); refused unread"
        )
    return Path(resolved)


def _check_file_size(size: int, max_bytes: int, label: str) -> None:
    if size == 0:
        raise EmptyImageFileError(label, "the file is empty (zero bytes)")
    if size > max_bytes:
        raise ImageFileTooLargeError(label, f"the file has {size:,} bytes, over the cap of max_bytes={max_bytes:,}")


def _read_at_most(descriptor: int, limit: int) -> bytes:
    chunks, remaining = [], limit
    while remaining > 0:
        chunk = os.read(descriptor, min(remaining, 1 << 24))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------------------------------------
# Multi-band TIFF (optional extra: tifffile)
# ---------------------------------------------------------------------------------------------


def _needs_tifffile(image: Image.Image) -> bool:
    """PIL mis-reads some TIFFs it can open: 16-bit RGB is cut to 8 bits, band-interleaved
    16-bit 4-band files open as I;16 and fail on load. Those go through tifffile, but only when
    their samples are plain intensities or RGB: a CIELab TIFF opens as PIL "LAB" and must stay
    refused (tifffile would hand its L*a*b* samples over as if they were RGB)."""
    tags = getattr(image, "tag_v2", {})
    if tags.get(262) not in _TIFFFILE_PHOTOMETRIC:
        return False
    samples = tags.get(277, 1)
    bits = tags.get(258, 8)
    bits = max(bits) if isinstance(bits, tuple) else bits
    return image.mode not in PIL_MODES or samples > 4 or (samples > 1 and bits > 8)


def _read_tiff_bands(file: IO[bytes], label: str, max_pixels: int | None) -> np.ndarray:
    """Read the first image of a TIFF as an HxW or HxWxC array, checking its size before decoding."""
    try:
        import tifffile
    except ImportError:
        raise UnsupportedImageError(
            label,
            "this TIFF has more than 4 bands or more than 8 bits in several bands, which needs the "
            "optional 'tifffile' package: pip install fusionrs[geo]",
        ) from None
    file.seek(0)
    try:
        with tifffile.TiffFile(file) as tif:
            for count, _page in enumerate(tif.pages, start=1):
                if count > MAX_TIFF_PAGES:
                    raise UnsupportedImageError(
                        label, f"TIFF with more than {MAX_TIFF_PAGES} pages (or a page chain that loops); refused"
                    )
            series = tif.series[0]
            axes, shape = series.axes, series.shape
            photometric = series.keyframe.tags.valueof(262)
            if photometric not in _TIFFFILE_PHOTOMETRIC:
                raise UnsupportedImageError(
                    label, f"TIFF photometric interpretation {photometric} ({_photometric_name(tifffile, photometric)}) "
                    "has no defined conversion: only MinIsBlack and RGB samples are read"
                )
            _check_pixel_limit(shape[axes.index("X")], shape[axes.index("Y")], max_pixels, label)
            _check_decoded_size(shape, series.dtype, max_pixels, label)
            array = series.asarray()
    except (ImageReadError, MemoryError):
        raise
    except (tifffile.TiffFileError, OSError, ValueError, IndexError, KeyError, struct.error) as error:
        raise TruncatedImageError(label, f"the TIFF cannot be decoded (truncated or corrupt): {error}") from error
    if array.ndim == 3 and not axes.endswith("S"):
        array = np.moveaxis(array, 0, -1)  # band-interleaved ('SYX') or one page per band ('QYX')
    if array.ndim not in (2, 3):
        raise UnsupportedImageError(label, f"TIFF with axes {axes!r} and shape {shape}: expected one 2-D image")
    return array


def _photometric_name(tifffile, value) -> str:
    try:
        return tifffile.PHOTOMETRIC(value).name
    except (ValueError, TypeError):
        return "unknown"


def _check_decoded_size(shape: Sequence[int], dtype, max_pixels: int | None, label: str) -> None:
    """The band count and dtype come from header fields: bound the array before it is allocated."""
    if max_pixels is None:
        return
    decoded = int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
    if decoded > max_pixels * MAX_DECODED_BYTES_PER_PIXEL:
        raise ImageTooLargeError(
            label,
            f"TIFF of shape {tuple(shape)} {np.dtype(dtype)} would decode to {decoded:,} bytes, over "
            f"{MAX_DECODED_BYTES_PER_PIXEL} bytes x max_pixels={max_pixels:,}; pass max_pixels=None to load it anyway",
        )


# ---------------------------------------------------------------------------------------------
# Conversions to the target mode; each returns (image, notes) where notes record what was done
# ---------------------------------------------------------------------------------------------


def _pil_to_target(
    image: Image.Image, mode: str, bands, thermal_rule: str, label: str
) -> tuple[Image.Image, list[str]]:
    notes = []
    orientation = image.getexif().get(_ORIENTATION, 1)
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        image = ImageOps.exif_transpose(image)
        notes.append(f"EXIF orientation {orientation} applied")

    source_mode = image.mode
    if source_mode not in PIL_MODES:
        raise UnsupportedImageError(label, f"PIL mode {source_mode!r} has no defined conversion to {mode}")
    if source_mode in HIGH_DEPTH_MODES or bands is not None:
        if source_mode in ("P", "PA"):
            raise UnsupportedImageError(label, "bands= cannot be used on a palette image (its bands are palette indices)")
        image, array_notes = _array_to_target(np.asarray(image), mode, bands, thermal_rule, label, source_mode)
        return image, notes + array_notes

    if source_mode in ("P", "PA"):
        # Through RGBA only when the palette has transparency, which is then composited below.
        expanded = "RGBA" if source_mode == "PA" or "transparency" in image.info else "RGB"
        image = image.convert(expanded)
        notes.append(f"{source_mode}->{expanded} palette")
    elif source_mode == "1":
        image = image.convert("L")
    elif source_mode in ("CMYK", "YCbCr"):
        image = image.convert("RGB")
        notes.append(f"{source_mode}->RGB PIL convert" + (" (no ICC)" if source_mode == "CMYK" else ""))

    if image.mode in ("RGBA", "LA"):
        with_alpha = image.mode
        image = _composite_over_black(image)
        notes.append(f"{with_alpha}->{image.mode} alpha over black")

    if image.mode != mode:
        notes.append(f"{image.mode}->{mode} " + ("replicate" if mode == "RGB" else "luma ITU-R 601"))
        image = image.convert(mode)
    return image, notes


def _composite_over_black(image: Image.Image) -> Image.Image:
    """Transparent pixels are no-data: premultiply by alpha so they become 0 (black)."""
    array = np.asarray(image).astype(np.uint16)
    colour, alpha = array[..., :-1], array[..., -1:]
    result = ((colour * alpha + 127) // 255).astype(np.uint8)
    if image.mode == "LA":
        return Image.fromarray(result[..., 0])
    return Image.fromarray(result)


def _array_kind(array: np.ndarray) -> str:
    bands = array.shape[2] if array.ndim == 3 else 1
    return f"{array.dtype}x{bands}"


def _array_to_target(
    array: np.ndarray, mode: str, bands, thermal_rule: str, label: str, kind: str
) -> tuple[Image.Image, list[str]]:
    """HxW or HxWxC array (any integer or float dtype) -> RGB/L image; `kind` names the source in notes."""
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise UnsupportedImageError(label, f"array dtype {array.dtype} is not an integer or float image")
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or 0 in array.shape:
        raise UnsupportedImageError(label, f"expected an HxW or HxWxC image array, got shape {array.shape}")

    band_count = array.shape[2]
    if bands is None and array.dtype == np.uint8 and band_count in (1, 3, 4):
        # Plain 8-bit image data: let PIL treat it like a decoded file (HxWx4 is RGBA, as in Image.fromarray).
        plain = Image.fromarray(array[..., 0] if band_count == 1 else array)
        return _pil_to_target(plain, mode, None, thermal_rule, label)

    chosen = bands if bands is not None else ((0, 1, 2) if mode == "RGB" and band_count >= 3 else (0,))
    if any(band < 0 or band >= band_count for band in chosen):
        raise UnsupportedImageError(
            label, f"bands={chosen} is out of range for a {band_count}-band image (valid: 0..{band_count - 1})"
        )
    selected = array[..., list(chosen)]
    out_mode = "L" if len(chosen) == 1 else "RGB"
    note = f"{kind}->{out_mode}"
    if chosen != tuple(range(band_count)):
        note += " bands=" + ",".join(map(str, chosen))
    if selected.dtype != np.uint8:
        selected, rule_note = _to_uint8(selected, thermal_rule, label)
        note += f" {rule_note}"
    image = Image.fromarray(selected[..., 0] if out_mode == "L" else np.ascontiguousarray(selected))
    notes = [note]
    if out_mode != mode:
        notes.append(f"{out_mode}->{mode} " + ("replicate" if mode == "RGB" else "luma ITU-R 601"))
        image = image.convert(mode)
    return image, notes


def _to_uint8(values: np.ndarray, thermal_rule: str, label: str) -> tuple[np.ndarray, str]:
    """Apply a THERMAL_RULES rule to the whole array (all selected bands share one lo/hi, so the
    relative brightness of the bands survives)."""
    if thermal_rule == "fixed16":
        if not np.issubdtype(values.dtype, np.integer):
            raise UnsupportedImageError(
                label, f"thermal_rule='fixed16' needs integer data, this is {values.dtype}: use 'percentile' or 'minmax'"
            )
        return (np.clip(values, 0, 65535) >> 8).astype(np.uint8), "fixed16(value>>8)"

    finite = values[np.isfinite(values)] if np.issubdtype(values.dtype, np.floating) else values
    if finite.size == 0:
        lo = hi = 0.0
    elif thermal_rule == "percentile":
        lo, hi = (float(v) for v in np.percentile(finite, PERCENTILES))
    else:
        lo, hi = float(finite.min()), float(finite.max())
    if hi > lo:
        scaled = values.astype(np.float32)  # in-place from here: scenes can be hundreds of MP
        scaled -= lo
        scaled *= 255.0 / (hi - lo)
        np.clip(scaled, 0, 255, out=scaled)
        np.rint(scaled, out=scaled)
        if np.issubdtype(values.dtype, np.floating):
            scaled[np.isnan(scaled)] = 0  # no-data (NaN) -> 0, like transparent pixels
    else:  # flat image: nothing to stretch; values above the level are the only signal left
        scaled = np.where(values > lo, 255.0, 0.0)
    result = scaled.astype(np.uint8)
    rule_name = f"percentile({PERCENTILES[0]},{PERCENTILES[1]})" if thermal_rule == "percentile" else "minmax"
    return result, f"{rule_name} lo={lo:.6g} hi={hi:.6g}"


# ---------------------------------------------------------------------------------------------
# Batch reading that survives bad files
# ---------------------------------------------------------------------------------------------


@dataclass
class ImageScanReport:
    """What a batch read found: paths that loaded, and (path, reason) for those that did not."""

    ok: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{len(self.ok)} image(s) ok, {len(self.failed)} failed"]
        lines += [f"  {path}: {reason}" for path, reason in self.failed]
        return "\n".join(lines)


def iter_images(
    paths: Iterable[str | os.PathLike],
    *,
    mode: str = "RGB",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    bands: Sequence[int] | None = None,
    thermal_rule: str = "percentile",
    on_error: Literal["skip", "raise"] = "skip",
    report: ImageScanReport | None = None,
) -> Iterator[tuple[str, Image.Image]]:
    """Lazily load `paths`, yielding (path, image). With on_error="skip" a file that fails is
    logged, recorded in `report` (when given) and skipped; the loop goes on.

    Args:
        paths: an iterable of image file paths (not a single path or folder); consumed lazily.
        mode: target mode, "RGB" or "L" (IR images are "L").
        max_pixels: width*height above which a file fails with ImageTooLargeError before
            decoding; None disables the limit. Defaults to `DEFAULT_MAX_PIXELS`.
        bands: 0-based band indices (1 or 3) to read from multi-band files; None uses the first
            3 bands for RGB, the first for L.
        thermal_rule: one of `THERMAL_RULES` ("percentile", "minmax", "fixed16"), used for 16-bit,
            32-bit and float data.
        on_error: "skip" logs, records and skips a file that fails; "raise" re-raises its error.
        report: an `ImageScanReport` to append each path to, in `ok` or (with the reason) in `failed`.

    Returns:
        An iterator of (path as str, loaded PIL image) for each file that loaded, in input order.

    Raises:
        ValueError: when `on_error`, `mode`, `thermal_rule` or `bands` is invalid (on the first
            `next()`, as this is a generator).
        TypeError: when `paths` is a single str, bytes or path instead of a list of paths.
        ImageReadError: with on_error="raise", the error of the first file that fails (decoder
            exceptions arrive as CorruptImageError; a MemoryError is re-raised as is).
    """
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError("pass a list of image paths; for a folder use sorted(Path(folder).iterdir())")
    _check_arguments(mode, thermal_rule, bands)  # a bad argument must fail once, not skip every file

    for path in paths:
        label = str(path)
        try:
            image = load_image(path, mode=mode, max_pixels=max_pixels, bands=bands, thermal_rule=thermal_rule)
        except Exception as error:  # a batch must not die on one file, whatever the decoder raised
            if on_error == "raise":
                raise
            reason = error.reason if isinstance(error, ImageReadError) else f"{type(error).__name__}: {error}"
            logger.warning("skipping %s: %s", label, reason)
            if report is not None:
                report.failed.append((label, reason))
            continue
        if report is not None:
            report.ok.append(label)
        yield label, image


def scan_images(
    paths: Iterable[str | os.PathLike],
    *,
    mode: str = "RGB",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    bands: Sequence[int] | None = None,
    thermal_rule: str = "percentile",
    progress: bool = True,
) -> ImageScanReport:
    """Fully decode every file once and report which load and which fail (with the reason).

    Args:
        paths: an iterable of image file paths (not a single path or folder).
        mode: target mode, "RGB" or "L".
        max_pixels: width*height above which a file is reported as too large; None disables
            the limit. Defaults to `DEFAULT_MAX_PIXELS`.
        bands: 0-based band indices (1 or 3) to read from multi-band files; None uses the defaults.
        thermal_rule: one of `THERMAL_RULES`, used for 16-bit, 32-bit and float data.
        progress: show a tqdm progress bar with the running failure count.

    Returns:
        An `ImageScanReport` whose `ok` lists the paths that loaded and `failed` the (path,
        reason) pairs of those that did not; a bad file never raises.

    Raises:
        TypeError: when `paths` is a single str, bytes or path instead of a list of paths.
        ValueError: when `mode`, `thermal_rule` or `bands` is invalid.
    """
    from tqdm.auto import tqdm

    report = ImageScanReport()
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError("pass a list of image paths; for a folder use sorted(Path(folder).iterdir())")
    bar = tqdm(paths, desc="checking images", unit="image", disable=not progress)
    images = iter_images(bar, mode=mode, max_pixels=max_pixels, bands=bands, thermal_rule=thermal_rule, report=report)
    for _path, _image in images:
        bar.set_postfix(failed=len(report.failed), refresh=False)
    return report
