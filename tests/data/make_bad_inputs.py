"""Write the bad-input image corpus: every awkward file `fusionrs.core.image_io` must handle.

    python tests/data/make_bad_inputs.py OUTDIR

Tests call `make_bad_inputs(tmp_path)` instead, so no binary file is committed. Seeded: the same
bytes on every run. The 4-band GeoTIFF needs `tifffile` (the `geo` extra); without it that file is
left out of the corpus.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SEED = 0
OVER_LIMIT_SIZE = (3000, 3000)  # 9 MP: over the small max_pixels the tests pass, ~10 KB on disk
PALETTE_COLOURS = [(200, 30, 30), (30, 160, 60), (40, 60, 220), (250, 250, 250)]
RGBA_COLOUR = (240, 120, 60)


def _jpeg_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def _thermal16(rng: np.random.Generator, height: int = 48, width: int = 64) -> np.ndarray:
    """A plausible 16-bit radiometric frame: smooth background, a few hot blobs, sensor noise."""
    y, x = np.mgrid[0:height, 0:width]
    scene = 3000 + 40 * x + 20 * y
    for cy, cx in rng.integers(8, [height - 8, width - 8], size=(3, 2)):
        scene = scene + 9000 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 18.0)
    scene = scene + rng.normal(0, 60, size=scene.shape)
    return np.clip(scene, 0, 65535).astype(np.uint16)


def _write_geotiff(path: Path, rng: np.random.Generator) -> None:
    import tifffile

    height, width = 40, 56
    # Band k lies around k * 10000, so band order is visible in the output.
    bands = [k * 10000 + rng.integers(0, 5000, size=(height, width)) for k in range(4)]
    array = np.stack(bands, axis=-1).astype(np.uint16)
    geo_tags = [
        (33550, "d", 3, (10.0, 10.0, 0.0), True),  # ModelPixelScale: 10 m pixels
        (33922, "d", 6, (0.0, 0.0, 0.0, 500000.0, 4000000.0, 0.0), True),  # ModelTiepoint
        # GeoKeyDirectory: projected model, pixel-is-area, EPSG:32633 (UTM 33N)
        (34735, "H", 16, (1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32633), True),
    ]
    tifffile.imwrite(path, array, photometric="minisblack", planarconfig="contig", extratags=geo_tags)


def make_bad_inputs(outdir: Path) -> dict[str, Path]:
    """Write the corpus into `outdir` (created if needed) and return {name: path}."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    files: dict[str, Path] = {}

    def write(name: str, filename: str, data: bytes) -> None:
        path = outdir / filename
        path.write_bytes(data)
        files[name] = path

    noise = Image.fromarray(rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8))
    full_jpeg = _jpeg_bytes(noise, quality=90)
    write("truncated_jpeg", "truncated.jpg", full_jpeg[: len(full_jpeg) // 2])
    write("empty", "empty.jpg", b"")
    write("text_png", "notes.png", b"This is a text file that was saved with a .png name.\n")

    files["thermal16_tiff"] = outdir / "thermal16.tif"
    Image.fromarray(_thermal16(rng)).save(files["thermal16_tiff"])  # uint16 -> mode I;16

    # Left half pure cyan, right half white: CMYK -> RGB must give (0, 255, 255) and (255, 255, 255).
    cmyk = np.zeros((32, 64, 4), dtype=np.uint8)
    cmyk[:, :32, 0] = 255
    write("cmyk_jpeg", "cmyk.jpg", _jpeg_bytes(Image.fromarray(cmyk, "CMYK"), quality=95))

    palette_image = Image.fromarray(np.kron(np.arange(4, dtype=np.uint8).reshape(2, 2), np.ones((16, 16), np.uint8)), "L")
    palette_image = palette_image.convert("P")
    palette_image.putpalette([channel for colour in PALETTE_COLOURS for channel in colour])
    files["palette_png"] = outdir / "palette.png"
    palette_image.save(files["palette_png"])

    rgba = np.zeros((16, 256, 4), dtype=np.uint8)
    rgba[..., :3] = RGBA_COLOUR
    rgba[..., 3] = np.arange(256, dtype=np.uint8)  # alpha 0..255 left to right
    files["rgba_png"] = outdir / "rgba.png"
    Image.fromarray(rgba).save(files["rgba_png"])

    files["over_limit"] = outdir / "over_limit.png"
    Image.new("L", OVER_LIMIT_SIZE, 0).save(files["over_limit"], optimize=True)

    files["pair_rgb"] = outdir / "pair_rgb.png"
    Image.fromarray(rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)).save(files["pair_rgb"])
    files["pair_ir"] = outdir / "pair_ir.png"
    Image.fromarray(rng.integers(0, 256, size=(48, 48), dtype=np.uint8)).save(files["pair_ir"])

    try:
        import tifffile  # noqa: F401
    except ImportError:
        print("tifffile is not installed (pip install fusionrs[geo]): skipping the 4-band GeoTIFF", file=sys.stderr)
    else:
        files["geotiff_4band"] = outdir / "geotiff_4band_uint16.tif"
        _write_geotiff(files["geotiff_4band"], np.random.default_rng(SEED + 1))
    return files


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: python {sys.argv[0]} OUTDIR")
    for name, path in make_bad_inputs(Path(sys.argv[1])).items():
        print(f"{name:16s} {path} ({path.stat().st_size} bytes)")
