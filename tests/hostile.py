"""A seeded hostile-input corpus: mutated image files and a source tree that tries to escape its root.

    python tests/hostile.py OUTDIR [COUNT] [SEED]     # writes COUNT mutated files into OUTDIR

Other tests and benchmarks import it:

    from tests.hostile import FORMATS, hostile_images, make_escape_tree

    for sample in hostile_images(1000, seed=0):      # HostileImage(format, mutation, name, data)
        ...

- `seed_images(fmt)` are small valid files of each format in several modes (8/16-bit, palette,
  alpha, CMYK, progressive, compressed TIFFs, a 5-band GeoTIFF when `tifffile` is installed).
- `mutate(data, fmt, rng)` applies one of `MUTATIONS`: bit flips, byte overwrites, truncation,
  chunk duplication/deletion, random insertion, and format-aware header field corruption (PNG
  chunks with their CRC fixed so the decoder reads on, TIFF IFD entries, BMP/GIF/JPEG/WebP header
  integers set to boundary values: 0, 1, 0xFFFF, 0xFFFFFFFF, ...).
- `make_escape_tree(root, outside)` writes a source folder holding a FIFO, a link to /dev/zero,
  links out of the root (a file and a directory), a link loop and an oversize file.

Everything is a pure function of the seed: the same bytes on every run and machine (for a given
Pillow/tifffile version, which encode the seed images).
"""

from __future__ import annotations

import io
import os
import struct
import sys
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "FORMATS",
    "finishes_within",
    "make_fifo",
    "MUTATIONS",
    "HostileImage",
    "seed_images",
    "mutate",
    "hostile_images",
    "write_hostile_images",
    "make_escape_tree",
]

FORMATS: tuple[str, ...] = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")
EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "BMP": ".bmp", "WEBP": ".webp", "TIFF": ".tif"}
MUTATIONS: tuple[str, ...] = (
    "bit_flip", "byte_set", "truncate", "duplicate_chunk", "delete_chunk", "insert_random", "header_field",
)
# Values that break size arithmetic: zero, one, sign and width boundaries, absurd sizes.
BOUNDARY_VALUES = (0, 1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 255, 256, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
                   0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


@dataclass(frozen=True)
class HostileImage:
    """One mutated file: its seed format, the mutation applied, a file name and the bytes."""

    format: str
    mutation: str
    name: str
    data: bytes


# ---------------------------------------------------------------------------------------------
# Valid seed files
# ---------------------------------------------------------------------------------------------


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _scene(rng: np.random.Generator, height: int = 24, width: int = 32, channels: int = 3) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 7 + y * 3 + 40 * c) % 256 for c in range(channels)], axis=-1)
    return (base + rng.integers(0, 16, size=base.shape)).clip(0, 255).astype(np.uint8)


def seed_images(fmt: str, seed: int = 0) -> list[bytes]:
    """Small valid files of one format, in the modes and encodings a source archive may hold.

    Args:
        fmt: one of `FORMATS`.
        seed: seeds the pixel values.

    Returns:
        A list of encoded files (bytes), each a few hundred bytes to a few KB.

    Raises:
        ValueError: for a format not in `FORMATS`.
    """
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(_scene(rng))
    grey = Image.fromarray(_scene(rng, channels=1)[..., 0])
    rgba = Image.fromarray(_scene(rng, channels=4))
    palette = rgb.quantize(16)
    thermal = Image.fromarray((_scene(rng, channels=1)[..., 0].astype(np.uint16) * 200 + 3000))
    if fmt == "PNG":
        return [_encode(rgb, "PNG"), _encode(grey, "PNG"), _encode(rgba, "PNG"), _encode(palette, "PNG"),
                _encode(thermal, "PNG"), _encode(grey.convert("LA"), "PNG"), _encode(rgb, "PNG", compress_level=0)]
    if fmt == "JPEG":
        return [_encode(rgb, "JPEG", quality=90), _encode(grey, "JPEG"), _encode(rgb.convert("CMYK"), "JPEG"),
                _encode(rgb, "JPEG", progressive=True), _encode(rgb, "JPEG", subsampling=0, exif=_exif(6))]
    if fmt == "GIF":
        frames = [palette, rgb.rotate(90).quantize(16)]
        animated = io.BytesIO()
        frames[0].save(animated, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
        return [_encode(palette, "GIF"), _encode(grey, "GIF"), _encode(palette, "GIF", transparency=0),
                animated.getvalue()]
    if fmt == "BMP":
        return [_encode(rgb, "BMP"), _encode(grey, "BMP"), _encode(palette, "BMP"), _encode(rgba, "BMP"),
                _encode(grey.convert("1"), "BMP")]
    if fmt == "WEBP":
        return [_encode(rgb, "WEBP", quality=80), _encode(rgba, "WEBP", lossless=True),
                _encode(rgb, "WEBP", lossless=True)]
    if fmt == "TIFF":
        files = [_encode(rgb, "TIFF"), _encode(grey, "TIFF", compression="tiff_deflate"),
                 _encode(rgb, "TIFF", compression="tiff_lzw"), _encode(thermal, "TIFF"),
                 _encode(palette, "TIFF", compression="packbits"), _encode(rgba, "TIFF"),
                 _encode(rgb.convert("CMYK"), "TIFF")]
        return files + _tifffile_seeds(rng)
    raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _tifffile_seeds(rng: np.random.Generator) -> list[bytes]:
    """Files only tifffile decodes (the `geo` extra): 5-band uint16, 16-bit RGB, band-interleaved, tiled."""
    try:
        import tifffile
    except ImportError:
        return []
    files = []
    for array, options in (
        (rng.integers(0, 40000, size=(20, 24, 5), dtype=np.uint16), {"photometric": "minisblack"}),
        (rng.integers(0, 65535, size=(20, 24, 3), dtype=np.uint16), {"photometric": "rgb"}),
        (rng.integers(0, 65535, size=(4, 20, 24), dtype=np.uint16),
         {"photometric": "minisblack", "planarconfig": "separate", "compression": "zlib"}),
        (rng.random((32, 32, 6), dtype=np.float32), {"photometric": "minisblack", "tile": (16, 16)}),
    ):
        buffer = io.BytesIO()
        tifffile.imwrite(buffer, array, **options)
        files.append(buffer.getvalue())
    return files


# ---------------------------------------------------------------------------------------------
# Mutations
# ---------------------------------------------------------------------------------------------


def mutate(data: bytes, fmt: str, rng: np.random.Generator, mutation: str | None = None) -> tuple[bytes, str]:
    """Apply one mutation to an encoded file.

    Args:
        data: a valid (or already mutated) encoded file.
        fmt: its format, one of `FORMATS` (selects the header fields `header_field` corrupts).
        rng: the generator every random choice is drawn from.
        mutation: one of `MUTATIONS`; None draws one.

    Returns:
        (mutated bytes, a description such as ``"header_field TIFF tag 278=0"``).

    Raises:
        ValueError: for a mutation not in `MUTATIONS`.
    """
    mutation = mutation or MUTATIONS[int(rng.integers(len(MUTATIONS)))]
    buffer = bytearray(data)
    size = len(buffer)
    if size == 0:  # a stacked mutation after a truncation to nothing
        return data, f"{mutation} (empty input)"
    if mutation == "bit_flip":
        count = int(rng.integers(1, 9))
        for position in rng.integers(0, size, size=count):
            buffer[position] ^= 1 << int(rng.integers(8))
        return bytes(buffer), f"bit_flip x{count}"
    if mutation == "byte_set":
        position = int(rng.integers(0, min(size, 256))) if rng.random() < 0.7 else int(rng.integers(size))
        buffer[position] = int(rng.choice([0, 1, 0x7F, 0x80, 0xFF, int(rng.integers(256))]))
        return bytes(buffer), f"byte_set @{position}"
    if mutation == "truncate":
        keep = int(rng.integers(0, size))
        return bytes(buffer[:keep]), f"truncate to {keep}/{size}"
    if mutation in ("duplicate_chunk", "delete_chunk"):
        start = int(rng.integers(0, size))
        length = int(rng.integers(1, max(2, min(size - start, 512))))
        if mutation == "duplicate_chunk":
            buffer[start:start] = buffer[start:start + length]
        else:
            del buffer[start:start + length]
        return bytes(buffer), f"{mutation} {start}+{length}"
    if mutation == "insert_random":
        position = int(rng.integers(0, size))
        junk = rng.integers(0, 256, size=int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
        buffer[position:position] = junk
        return bytes(buffer), f"insert_random {len(junk)}@{position}"
    if mutation == "header_field":
        return _corrupt_header(buffer, fmt, rng)
    raise ValueError(f"mutation must be one of {MUTATIONS}, got {mutation!r}")


def _boundary(rng: np.random.Generator, file_size: int) -> int:
    if rng.random() < 0.15:
        return file_size
    return int(rng.choice(BOUNDARY_VALUES))


def _put(buffer: bytearray, offset: int, width: int, value: int, big_endian: bool) -> None:
    if offset + width > len(buffer):
        return
    mask = (1 << (8 * width)) - 1
    buffer[offset:offset + width] = (value & mask).to_bytes(width, "big" if big_endian else "little")


def _corrupt_header(buffer: bytearray, fmt: str, rng: np.random.Generator) -> tuple[bytes, str]:
    value = _boundary(rng, len(buffer))
    if fmt == "PNG":
        return _corrupt_png_chunk(buffer, rng, value)
    if fmt == "TIFF":
        return _corrupt_tiff_entry(buffer, rng, value)
    # (offset, width, big-endian) of the integer fields of each header.
    fields = {
        # BMP file header + BITMAPINFOHEADER: size, offset, header size, width, height, planes,
        # bit count, compression, image size, colours used.
        "BMP": [(2, 4, False), (10, 4, False), (14, 4, False), (18, 4, False), (22, 4, False),
                (26, 2, False), (28, 2, False), (30, 4, False), (34, 4, False), (46, 4, False)],
        # GIF logical screen width/height and packed flags (the first frame's fields are added below).
        "GIF": [(6, 2, False), (8, 2, False), (10, 1, False)] + _gif_frame_fields(bytes(buffer)),
        # RIFF size, VP8/VP8L/VP8X chunk size, and the bytes that hold the frame size.
        "WEBP": [(4, 4, False), (16, 4, False), (20, 4, False), (24, 2, False), (26, 2, False), (28, 2, False)],
    }.get(fmt)
    if fmt == "JPEG":
        fields = _jpeg_fields(bytes(buffer))
    if not fields:
        return bytes(buffer), "header_field none"
    offset, width, big_endian = fields[int(rng.integers(len(fields)))]
    _put(buffer, offset, width, value, big_endian)
    return bytes(buffer), f"header_field {fmt} @{offset}={value}"


def _gif_frame_fields(data: bytes) -> list[tuple[int, int, bool]]:
    """The first image descriptor: left, top, width, height, packed flags, LZW minimum code size."""
    if len(data) < 13:
        return []
    position = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    while position + 2 < len(data) and data[position] == 0x21:  # extension blocks before the frame
        position += 2
        while position < len(data) and data[position]:
            position += data[position] + 1
        position += 1
    if position + 10 >= len(data) or data[position] != 0x2C:
        return []
    fields = [(position + 1, 2, False), (position + 3, 2, False), (position + 5, 2, False),
              (position + 7, 2, False), (position + 9, 1, False)]
    flags = data[position + 9]
    code_size = position + 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    return fields + [(code_size, 1, False)]


def _jpeg_fields(data: bytes) -> list[tuple[int, int, bool]]:
    """Segment lengths, SOF precision/height/width/component count, DQT/DHT table ids."""
    fields, position = [], 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        length = int.from_bytes(data[position + 2:position + 4], "big")
        fields.append((position + 2, 2, True))
        if marker in (0xC0, 0xC1, 0xC2):
            fields += [(position + 4, 1, True), (position + 5, 2, True), (position + 7, 2, True),
                       (position + 9, 1, True), (position + 11, 1, True)]
        elif marker in (0xC4, 0xDB, 0xDA):
            fields.append((position + 4, 1, True))
        if marker == 0xDA:
            break
        position += 2 + length
    return fields


def _corrupt_png_chunk(buffer: bytearray, rng: np.random.Generator, value: int) -> tuple[bytes, str]:
    """Overwrite an integer inside one chunk's data, then fix the CRC so the decoder reads on."""
    chunks, position = [], 8
    while position + 12 <= len(buffer):
        length = int.from_bytes(buffer[position:position + 4], "big")
        if position + 12 + length > len(buffer):
            break
        chunks.append((position, length, bytes(buffer[position + 4:position + 8])))
        position += 12 + length
    if not chunks:
        return bytes(buffer), "header_field PNG none"
    # IHDR holds the fields that drive allocation (width, height, depth, colour type, interlace).
    start, length, kind = chunks[0] if rng.random() < 0.6 else chunks[int(rng.integers(len(chunks)))]
    if length == 0 or rng.random() < 0.1:
        _put(buffer, start, 4, value, True)  # the length field itself (CRC no longer lines up)
        return bytes(buffer), f"header_field PNG {kind.decode('latin-1')} length={value}"
    offset = int(rng.integers(0, length))
    width = int(rng.choice([1, 2, 4]))
    _put(buffer, start + 8 + offset, min(width, length - offset), value, True)
    crc = zlib.crc32(bytes(buffer[start + 4:start + 8 + length]))
    buffer[start + 8 + length:start + 12 + length] = crc.to_bytes(4, "big")
    return bytes(buffer), f"header_field PNG {kind.decode('latin-1')}+{offset}={value}"


def _corrupt_tiff_entry(buffer: bytearray, rng: np.random.Generator, value: int) -> tuple[bytes, str]:
    """Set the type, count or value of one entry of the first IFD (classic or BigTIFF)."""
    if len(buffer) < 16 or bytes(buffer[:2]) not in (b"II", b"MM"):
        return bytes(buffer), "header_field TIFF none"
    big_endian = buffer[:2] == b"MM"
    order = ">" if big_endian else "<"
    big_tiff = struct.unpack(order + "H", buffer[2:4])[0] == 43
    if big_tiff:
        ifd = struct.unpack(order + "Q", buffer[8:16])[0]
        count_width, entry_size, offset_width = 8, 20, 8
    else:
        ifd = struct.unpack(order + "I", buffer[4:8])[0]
        count_width, entry_size, offset_width = 2, 12, 4
    if ifd + count_width > len(buffer):
        _put(buffer, 4, 4, value, big_endian)
        return bytes(buffer), f"header_field TIFF ifd_offset={value}"
    entries = int.from_bytes(buffer[ifd:ifd + count_width], "big" if big_endian else "little")
    entries = min(entries, (len(buffer) - ifd - count_width) // entry_size)
    if entries == 0:
        return bytes(buffer), "header_field TIFF no entries"
    entry = ifd + count_width + entry_size * int(rng.integers(entries))
    tag = int.from_bytes(buffer[entry:entry + 2], "big" if big_endian else "little")
    part = rng.choice(["type", "count", "value", "value", "value"])
    if part == "type":
        _put(buffer, entry + 2, 2, int(rng.integers(0, 20)), big_endian)
    elif part == "count":
        _put(buffer, entry + 4, offset_width, value, big_endian)
    else:
        field_type = int.from_bytes(buffer[entry + 2:entry + 4], "big" if big_endian else "little")
        width = 2 if field_type in (3, 8) else offset_width
        _put(buffer, entry + 4 + offset_width, width, value, big_endian)
    return bytes(buffer), f"header_field TIFF tag {tag} {part}={value}"


# ---------------------------------------------------------------------------------------------
# Corpus
# ---------------------------------------------------------------------------------------------


def hostile_images(count: int, seed: int = 0, formats: tuple[str, ...] = FORMATS) -> Iterator[HostileImage]:
    """Yield `count` mutated files, cycling through `formats` so each gets the same share.

    Args:
        count: how many files to yield.
        seed: seeds the seed images and every mutation.
        formats: the formats to cycle through (default: all of `FORMATS`).

    Returns:
        An iterator of `HostileImage`. One file in eight carries two or three stacked mutations.

    Raises:
        ValueError: for a format not in `FORMATS`.
    """
    rng = np.random.default_rng(seed)
    seeds = {fmt: seed_images(fmt, seed) for fmt in formats}
    for index in range(count):
        fmt = formats[index % len(formats)]
        data = seeds[fmt][int(rng.integers(len(seeds[fmt])))]
        descriptions = []
        for _ in range(1 if rng.random() < 0.875 else int(rng.integers(2, 4))):
            data, description = mutate(data, fmt, rng)
            descriptions.append(description)
        name = f"{index:05d}_{fmt.lower()}{EXTENSIONS[fmt]}"
        yield HostileImage(fmt, " + ".join(descriptions), name, data)


def write_hostile_images(outdir: str | os.PathLike, count: int, seed: int = 0) -> list[Path]:
    """Write `hostile_images(count, seed)` into `outdir` (created if needed).

    Args:
        outdir: the folder to write into.
        count: how many files.
        seed: the corpus seed.

    Returns:
        The paths written, in corpus order.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for sample in hostile_images(count, seed):
        path = outdir / sample.name
        path.write_bytes(sample.data)
        paths.append(path)
    return paths


def make_escape_tree(root: str | os.PathLike, outside: str | os.PathLike, *, oversize_bytes: int = 0) -> dict[str, str]:
    """Write a source folder whose entries try to leave it, hang a reader, or exhaust memory.

    `outside` gets a private file (`secret.png`, a valid PNG) and a private folder; `root` gets
    links to them and special files. POSIX only (FIFOs and symlinks).

    Args:
        root: the source root to populate (created if needed).
        outside: a folder outside `root` for the link targets (created if needed).
        oversize_bytes: when > 0, also write `big.png`, a valid PNG padded to this many bytes.

    Returns:
        {kind: locator relative to root}: "good" (a valid PNG), "fifo", "dev_zero",
        "outside_file", "outside_dir" (a file reached through a linked directory), "loop",
        "dangling", "directory", and "oversize" when asked for.
    """
    root, outside = Path(root), Path(outside)
    root.mkdir(parents=True, exist_ok=True)
    (outside / "private").mkdir(parents=True, exist_ok=True)
    png = _encode(Image.new("RGB", (8, 8), (200, 10, 10)), "PNG")
    (outside / "secret.png").write_bytes(png)
    (outside / "private" / "photo.png").write_bytes(png)
    (root / "good.png").write_bytes(png)
    os.mkfifo(root / "fifo.png")
    os.symlink("/dev/zero", root / "zero.png")
    os.symlink(outside / "secret.png", root / "secret.png")
    os.symlink(outside / "private", root / "linked_dir")
    os.symlink("loop_b.png", root / "loop_a.png")
    os.symlink("loop_a.png", root / "loop_b.png")
    os.symlink(root / "missing.png", root / "dangling.png")
    (root / "folder.png").mkdir(exist_ok=True)
    locators = {"good": "good.png", "fifo": "fifo.png", "dev_zero": "zero.png", "outside_file": "secret.png",
                "outside_dir": "linked_dir/photo.png", "loop": "loop_a.png", "dangling": "dangling.png",
                "directory": "folder.png"}
    if oversize_bytes > 0:
        # A valid PNG followed by padding (PIL ignores bytes after IEND): only the byte cap refuses it.
        (root / "big.png").write_bytes(png + b"\0" * max(0, oversize_bytes - len(png)))
        locators["oversize"] = "big.png"
    return locators


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3, 4):
        sys.exit("usage: python tests/hostile.py OUTDIR [COUNT] [SEED]")
    written = write_hostile_images(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 600,
                                   int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    print(f"wrote {len(written)} mutated images to {sys.argv[1]}")


def make_fifo(path: str | os.PathLike) -> Path:
    """Create a FIFO at `path` (parents too): opening it for reading blocks until a writer comes.

    Args:
        path: where the FIFO goes.

    Returns:
        The path of the FIFO.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def finishes_within(seconds: float, function, fifo: str | os.PathLike | None = None):
    """Run `function` in a daemon thread and return its value; fail instead of hanging if it blocks.

    Args:
        seconds: how long `function` may take.
        function: a callable without arguments.
        fifo: a FIFO the function may be blocked opening: on a timeout a writer end is opened and
            closed so that the thread can end.

    Returns:
        What `function` returned.

    Raises:
        AssertionError: `function` had not returned after `seconds` (e.g. it opened a FIFO).
        BaseException: whatever `function` raised, re-raised in the caller's thread.
    """
    result: dict = {}

    def target():
        try:
            result["value"] = function()
        except BaseException as error:  # handed to the caller's thread
            result["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if fifo is not None:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        raise AssertionError(f"blocked for more than {seconds} s (a FIFO was opened?)")
    if "error" in result:
        raise result["error"]
    return result.get("value")
