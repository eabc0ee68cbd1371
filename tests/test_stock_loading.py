"""Translator folders load with plain diffusers in a process that never imports fusionrs: their
`pipeline.py` is `fusionrs/translate/pipeline_rgb_to_ir.py` byte for byte, and gives the same pixels."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE = REPO_ROOT / "fusionrs" / "translate" / "pipeline_rgb_to_ir.py"
PACKAGED = REPO_ROOT / "fusionrs" / "weights" / "translator"

# Runs in a fresh interpreter from a temporary working directory: plain diffusers only.
STOCK = """
import sys
import numpy as np
from PIL import Image
from diffusers import DiffusionPipeline

folder, inputs, out = sys.argv[1], sys.argv[2], sys.argv[3]
pipe = DiffusionPipeline.from_pretrained(folder, custom_pipeline=folder, trust_remote_code=True)
images = [Image.open(f"{inputs}/{name}.png") for name in ("rgb", "grey", "rgba", "palette")]
results = pipe(images + [np.load(f"{inputs}/array.npy")], output_type="np").images
tiled = pipe(images[0], tile_size=64, tile_overlap=16, output_type="np").images[0]
np.savez(out, *results, tiled)
leaked = sorted(name for name in sys.modules if name.startswith("fusionrs"))
assert not leaked, leaked
print(type(pipe).__name__, type(pipe).__module__)
"""


def _write_inputs(folder: Path) -> None:
    """Seeded 8-bit inputs of every kind the fallback reader handles (odd sizes: padding and cropping run)."""
    folder.mkdir()
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (90, 100, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(folder / "rgb.png")
    Image.fromarray(rgb).convert("L").save(folder / "grey.png")
    alpha = rng.integers(0, 256, (90, 100, 1), dtype=np.uint8)
    Image.fromarray(np.concatenate([rgb, alpha], axis=2)).save(folder / "rgba.png")
    Image.fromarray(rgb).convert("P").save(folder / "palette.png")
    np.save(folder / "array.npy", rng.integers(0, 256, (90, 100), dtype=np.uint8))


def _fusionrs_outputs(folder: Path, inputs: Path) -> list[np.ndarray]:
    from fusionrs.pipelines import RGBToIRPipeline

    pipe = RGBToIRPipeline.from_pretrained(str(folder))
    images = [Image.open(inputs / f"{name}.png") for name in ("rgb", "grey", "rgba", "palette")]
    results = pipe(images + [np.load(inputs / "array.npy")], output_type="np").images
    return results + [pipe(images[0], tile_size=64, tile_overlap=16, output_type="np").images[0]]


def _stock_outputs(folder: Path, inputs: Path, tmp_path: Path) -> list[np.ndarray]:
    work = tmp_path / "elsewhere"
    work.mkdir()
    out = tmp_path / "stock.npz"
    result = subprocess.run([sys.executable, "-c", STOCK, str(folder), str(inputs), str(out)], cwd=work,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[:2] == ["RGBToIRPipeline", "diffusers_modules.local.pipeline"], result.stdout
    with np.load(out) as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    from fusionrs.translate.model import build_unet, load_preset
    from fusionrs.translate.train import save_translator

    folder = tmp_path_factory.mktemp("stock") / "tiny"
    return save_translator(folder, build_unet("tiny", seed=5), pixel_shuffle=load_preset("tiny")["pixel_shuffle"],
                           preset="tiny", sources=["world"])


def test_saved_and_packaged_pipeline_py_is_the_source(tiny_folder, tmp_path):
    from fusionrs.translate.package import export_translator

    source = SOURCE.read_bytes()
    assert (tiny_folder / "pipeline.py").read_bytes() == source
    assert (PACKAGED / "pipeline.py").read_bytes() == source, \
        "fusionrs/weights/translator/pipeline.py is stale: copy fusionrs/translate/pipeline_rgb_to_ir.py over it"
    release = export_translator(tiny_folder, tmp_path / "release", command="fusionrs train translator --preset tiny")
    assert (release / "pipeline.py").read_bytes() == source


def test_pipeline_source_names_no_fusionrs_import():
    """diffusers imports every module an import line names (even inside a function or a docstring)
    before it runs a custom pipeline: no such line may name fusionrs."""
    text = SOURCE.read_text()
    named = re.findall(r"^\s*import\s+(\S+)\s*$", text, flags=re.MULTILINE)
    named += re.findall(r"^\s*from\s+(\S+)\s+import", text, flags=re.MULTILINE)
    assert not [name for name in named if name.split(".")[0] == "fusionrs"]


@pytest.mark.parametrize("which", ["tiny", "packaged"])
def test_plain_diffusers_gives_the_fusionrs_pixels(which, tiny_folder, tmp_path):
    folder = tiny_folder if which == "tiny" else PACKAGED
    inputs = tmp_path / "inputs"
    _write_inputs(inputs)
    ours = _fusionrs_outputs(folder, inputs)
    stock = _stock_outputs(folder, inputs, tmp_path)
    assert len(stock) == len(ours) == 6
    for index, (a, b) in enumerate(zip(ours, stock)):
        assert a.shape == b.shape == (90, 100), index
        assert np.abs(a - b).max() <= 1 / 255, index


def _eight_bit_images() -> dict[str, Image.Image | np.ndarray]:
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (13, 17, 4), dtype=np.uint8)
    rgb = Image.fromarray(rgba[..., :3])
    images: dict[str, Image.Image | np.ndarray] = {mode: rgb.convert(mode) for mode in ("1", "L", "CMYK", "YCbCr")}
    images.update(RGB=rgb, RGBA=Image.fromarray(rgba), LA=Image.fromarray(rgba[..., [0, 3]], mode="LA"),
                  P=rgb.convert("P"), PA=Image.fromarray(rgba).convert("PA"))
    transparent = rgb.convert("P")
    transparent.info["transparency"] = 0
    images["P+transparency"] = transparent
    rotated = rgb.copy()
    rotated.getexif()[0x0112] = 6  # EXIF orientation: rotate 90
    images["exif"] = Image.open(_png_bytes(rotated))
    for shape in ((13, 17), (13, 17, 1), (13, 17, 3), (13, 17, 4)):
        images[f"array{shape}"] = rng.integers(0, 256, shape, dtype=np.uint8)
    return images


def _png_bytes(image: Image.Image):
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG", exif=image.getexif())
    buffer.seek(0)
    return buffer


def test_plain_equivalents_match_fusionrs_core():
    """The pipeline's stand-ins for fusionrs.core.image_io / .tiling give the same pixels."""
    from fusionrs.core.image_io import load_image
    from fusionrs.core.tiling import blend_tiles, tile_boxes
    from fusionrs.translate.pipeline_rgb_to_ir import _plain_blend_tiles, _plain_rgb_array, _plain_tile_boxes

    for name, image in _eight_bit_images().items():
        expected = np.asarray(load_image(image, mode="RGB", max_pixels=None))
        np.testing.assert_array_equal(_plain_rgb_array(image), expected, err_msg=name)
    rng = np.random.default_rng(4)
    for width, height, tile, overlap in ((90, 70, 32, 8), (100, 40, 64, 16), (64, 64, 64, 0), (33, 130, 48, 47)):
        boxes = tile_boxes(width, height, tile, overlap)
        assert _plain_tile_boxes(width, height, tile, overlap) == boxes
        tiles = [rng.random((b - t, r - left)).astype(np.float32) for left, t, r, b in boxes]
        np.testing.assert_array_equal(_plain_blend_tiles(tiles, boxes, (width, height)),
                                      blend_tiles(tiles, boxes, (width, height)))


def test_plain_reader_refuses_what_only_fusionrs_reads():
    from fusionrs.translate.pipeline_rgb_to_ir import _plain_rgb_array

    with pytest.raises(ValueError, match="without fusionrs"):
        _plain_rgb_array(np.zeros((4, 4), np.uint16))
    with pytest.raises(ValueError, match="without fusionrs"):
        _plain_rgb_array(Image.new("I;16", (4, 4)))


def test_builtin_default_still_loads_in_fusionrs():
    from fusionrs.pipelines import RGBToIRPipeline

    pipe = RGBToIRPipeline.from_pretrained("builtin:default")
    assert type(pipe).__module__ == "fusionrs.translate.pipeline_rgb_to_ir"
    assert pipe(np.full((20, 28, 3), 90, np.uint8)).images[0].size == (28, 20)
