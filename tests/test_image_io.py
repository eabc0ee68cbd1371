"""fusionrs.core.image_io: every bad input gets a named error or a documented, tested conversion."""

from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from fusionrs.core.image_io import (
    THERMAL_RULES,
    ImageFileNotFoundError,
    ImageScanReport,
    iter_images,
    load_image,
    scan_images,
)
from fusionrs.errors import (
    EmptyImageFileError,
    ImageReadError,
    ImageTooLargeError,
    NotAnImageError,
    TruncatedImageError,
    UnsupportedImageError,
)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _load_corpus_module():
    path = Path(__file__).parent / "data" / "make_bad_inputs.py"
    spec = importlib.util.spec_from_file_location("make_bad_inputs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


corpus_module = _load_corpus_module()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return corpus_module.make_bad_inputs(tmp_path_factory.mktemp("bad_inputs"))


def _png_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **options)
    return buffer.getvalue()


# --- files that must fail, each with its own error naming the file -------------------------------


@pytest.mark.parametrize(
    ("name", "error_type", "words"),
    [
        ("truncated_jpeg", TruncatedImageError, "truncated"),
        ("empty", EmptyImageFileError, "zero bytes"),
        ("text_png", NotAnImageError, "not an image"),
        ("over_limit", ImageTooLargeError, "max_pixels=None"),
    ],
)
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_bad_file_raises_specific_error_naming_it(corpus, name, error_type, words, mode):
    path = corpus[name]
    with pytest.raises(error_type) as caught:
        load_image(path, mode=mode, max_pixels=1_000_000)
    assert caught.value.source == str(path)
    assert str(path) in str(caught.value)
    assert words in caught.value.reason


def test_truncated_jpeg_is_never_padded_with_grey(corpus):
    with pytest.raises(TruncatedImageError):
        load_image(corpus["truncated_jpeg"])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("keep", [10, 20])
def test_truncated_header_is_reported_as_truncated(tmp_path, keep):
    path = tmp_path / "cut_header.png"
    path.write_bytes(_png_bytes(Image.new("RGB", (8, 8)))[:keep])
    with pytest.raises(TruncatedImageError, match="truncated or corrupt") as caught:
        load_image(path)
    assert caught.value.source == str(path)


def test_missing_file_is_a_file_not_found_error(tmp_path):
    path = tmp_path / "nowhere.png"
    with pytest.raises(ImageFileNotFoundError) as caught:
        load_image(path)
    assert isinstance(caught.value, FileNotFoundError)
    assert isinstance(caught.value, ImageReadError)
    assert str(path) in str(caught.value)


def test_over_limit_message_points_to_tiling(corpus):
    with pytest.raises(ImageTooLargeError, match="fusionrs.core.tiling") as caught:
        load_image(corpus["over_limit"], max_pixels=1_000_000)
    assert "3000x3000" in caught.value.reason


def test_pixel_limit_is_ours_not_pils(corpus, monkeypatch):
    # With PIL's own bomb limit far below the image, PIL would raise DecompressionBombError first.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert load_image(corpus["over_limit"], mode="L", max_pixels=None).size == (3000, 3000)
    with pytest.raises(ImageTooLargeError):
        load_image(corpus["over_limit"], max_pixels=10_000)
    assert Image.MAX_IMAGE_PIXELS == 1000  # restored after both the success and the error


def test_default_max_pixels_comes_from_environment():
    env = {**os.environ, "FUSIONRS_MAX_PIXELS": "12345"}
    code = "from fusionrs.core.image_io import DEFAULT_MAX_PIXELS; print(DEFAULT_MAX_PIXELS)"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "12345"


def test_bad_arguments_fail_before_reading(corpus):
    with pytest.raises(ValueError, match="mode"):
        load_image(corpus["pair_rgb"], mode="RGBA")
    with pytest.raises(ValueError, match="thermal_rule"):
        load_image(corpus["pair_rgb"], thermal_rule="gamma")
    with pytest.raises(ValueError, match="bands"):
        load_image(corpus["pair_rgb"], bands=(0, 1))
    with pytest.raises(TypeError):
        load_image(12345)


# --- documented conversions ----------------------------------------------------------------------


def test_thermal16_percentile_maps_2nd_and_98th_percentile_to_0_and_255(corpus):
    raw = np.asarray(Image.open(corpus["thermal16_tiff"])).astype(np.float64)
    lo, hi = np.percentile(raw, (2, 98))
    image = load_image(corpus["thermal16_tiff"], mode="L")
    out = np.asarray(image)
    assert image.mode == "L" and out.shape == raw.shape
    assert (out[raw <= lo] == 0).all() and (out[raw >= hi] == 255).all()
    expected = np.rint(np.clip((raw - lo) * 255 / (hi - lo), 0, 255))
    assert np.abs(out - expected).max() <= 1  # float32 arithmetic inside
    assert np.all(np.diff(out.ravel()[np.argsort(raw.ravel(), kind="stable")].astype(int)) >= 0)
    assert image.info["fusionrs_conversion"] == f"I;16->L percentile(2,98) lo={lo:.6g} hi={hi:.6g}"


def test_thermal16_minmax_and_fixed16(corpus):
    raw = np.asarray(Image.open(corpus["thermal16_tiff"]))
    minmax = np.asarray(load_image(corpus["thermal16_tiff"], mode="L", thermal_rule="minmax"))
    assert minmax[raw == raw.min()].max() == 0 and minmax[raw == raw.max()].min() == 255
    fixed = load_image(corpus["thermal16_tiff"], mode="L", thermal_rule="fixed16")
    np.testing.assert_array_equal(np.asarray(fixed), (raw >> 8).astype(np.uint8))
    assert fixed.info["fusionrs_conversion"] == "I;16->L fixed16(value>>8)"


def test_thermal16_to_rgb_is_stretch_then_replicate(corpus):
    grey = np.asarray(load_image(corpus["thermal16_tiff"], mode="L"))
    rgb = load_image(corpus["thermal16_tiff"], mode="RGB")
    assert rgb.mode == "RGB"
    for channel in range(3):
        np.testing.assert_array_equal(np.asarray(rgb)[..., channel], grey)
    assert rgb.info["fusionrs_conversion"].endswith("; L->RGB replicate")


def test_cmyk_jpeg_converts_to_plausible_rgb(corpus):
    image = load_image(corpus["cmyk_jpeg"])
    out = np.asarray(image).astype(int)
    assert image.mode == "RGB" and image.size == (64, 32)
    assert np.abs(out[:, 4:28] - (0, 255, 255)).max() <= 12  # cyan half
    assert np.abs(out[:, 36:60] - (255, 255, 255)).max() <= 12  # white half
    assert "CMYK->RGB" in image.info["fusionrs_conversion"]


def test_palette_png_keeps_its_colours(corpus):
    image = load_image(corpus["palette_png"])
    out = np.asarray(image)
    colours = corpus_module.PALETTE_COLOURS
    assert image.mode == "RGB" and image.size == (32, 32)
    assert tuple(out[0, 0]) == colours[0] and tuple(out[0, 31]) == colours[1]
    assert tuple(out[31, 0]) == colours[2] and tuple(out[31, 31]) == colours[3]
    assert image.info["fusionrs_conversion"] == "P->RGB palette"
    grey = load_image(corpus["palette_png"], mode="L")
    np.testing.assert_array_equal(np.asarray(grey), np.asarray(image.convert("L")))


def test_palette_transparency_is_composited_over_black():
    palette_image = Image.new("P", (4, 1))
    palette_image.putpalette([255, 0, 0, 0, 255, 0])
    palette_image.putpixel((0, 0), 1)
    data = _png_bytes(palette_image, transparency=1)  # index 1 (green) is fully transparent
    out = np.asarray(load_image(data))
    assert tuple(out[0, 0]) == (0, 0, 0) and tuple(out[0, 1]) == (255, 0, 0)


def test_rgba_is_composited_over_black(corpus):
    image = load_image(corpus["rgba_png"])
    out = np.asarray(image).astype(int)
    alpha = np.arange(256)
    expected = np.rint(np.outer(alpha, corpus_module.RGBA_COLOUR) / 255)
    assert image.mode == "RGB"
    assert np.abs(out[0] - expected).max() <= 1
    assert tuple(out[0, 0]) == (0, 0, 0) and tuple(out[0, 255]) == corpus_module.RGBA_COLOUR
    assert image.info["fusionrs_conversion"] == "RGBA->RGB alpha over black"
    grey = load_image(corpus["rgba_png"], mode="L")
    assert grey.mode == "L" and np.asarray(grey)[0, 0] == 0


def test_la_is_composited_over_black():
    array = np.zeros((2, 2, 2), dtype=np.uint8)
    array[..., 0] = 200
    array[0, :, 1] = 255
    image = load_image(Image.fromarray(array, "LA"), mode="L")
    np.testing.assert_array_equal(np.asarray(image), [[200, 200], [0, 0]])
    assert image.info["fusionrs_conversion"] == "LA->L alpha over black"


def test_mismatched_pair_loads_with_its_own_sizes(corpus):
    # Pair alignment is checked by the record layer (PairSizeMismatchError); here both must load.
    rgb = load_image(corpus["pair_rgb"], mode="RGB")
    ir = load_image(corpus["pair_ir"], mode="L")
    assert (rgb.mode, rgb.size, ir.mode, ir.size) == ("RGB", (64, 64), "L", (48, 48))
    assert ir.info == {}  # already 8-bit L: nothing converted, nothing recorded


def test_rgb_to_l_is_itu601_luma(corpus):
    rgb = Image.open(corpus["pair_rgb"]).convert("RGB")
    grey = load_image(corpus["pair_rgb"], mode="L")
    np.testing.assert_array_equal(np.asarray(grey), np.asarray(rgb.convert("L")))
    assert grey.info["fusionrs_conversion"] == "RGB->L luma ITU-R 601"


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((20, 40), dtype=np.uint8)
    pixels[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display by turning 90 degrees clockwise
    path = tmp_path / "rotated.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    image = load_image(path, mode="L")
    out = np.asarray(image)
    assert image.size == (20, 40)
    assert out[:18].mean() > 240 and out[22:].mean() < 15  # the white half is now on top
    assert image.info["fusionrs_conversion"] == "EXIF orientation 6 applied"


# --- multi-band GeoTIFF ---------------------------------------------------------------------------


def _raw_geotiff(path: Path) -> np.ndarray:
    tifffile = pytest.importorskip("tifffile")
    return tifffile.imread(path)


def test_geotiff_default_bands(corpus):
    raw = _raw_geotiff(corpus["geotiff_4band"])
    assert raw.shape == (40, 56, 4) and raw.dtype == np.uint16
    rgb = load_image(corpus["geotiff_4band"])
    assert rgb.mode == "RGB" and rgb.size == (56, 40)
    assert rgb.info["fusionrs_conversion"].startswith("TIFF uint16x4->RGB bands=0,1,2 percentile(2,98)")
    grey = load_image(corpus["geotiff_4band"], mode="L", thermal_rule="minmax")
    band0 = raw[..., 0].astype(np.float64)
    expected = np.rint((band0 - band0.min()) * 255 / (band0.max() - band0.min()))
    assert np.abs(np.asarray(grey) - expected).max() <= 1


def test_geotiff_band_selection(corpus):
    _raw_geotiff(corpus["geotiff_4band"])
    out = np.asarray(load_image(corpus["geotiff_4band"], bands=(3, 2, 1))).astype(float)
    means = out.reshape(-1, 3).mean(axis=0)
    assert means[0] > means[1] > means[2]  # band k lies around k * 10000
    single = load_image(corpus["geotiff_4band"], mode="RGB", bands=[3])
    assert single.info["fusionrs_conversion"].startswith("TIFF uint16x4->L bands=3 ")


def test_geotiff_bands_out_of_range_names_file(corpus):
    _raw_geotiff(corpus["geotiff_4band"])
    path = corpus["geotiff_4band"]
    with pytest.raises(UnsupportedImageError, match="out of range for a 4-band image") as caught:
        load_image(path, bands=(0, 1, 4))
    assert caught.value.source == str(path)


def test_geotiff_without_tifffile_says_how_to_install(corpus, monkeypatch):
    monkeypatch.setitem(sys.modules, "tifffile", None)  # makes `import tifffile` fail
    with pytest.raises(UnsupportedImageError, match=r"pip install fusionrs\[geo\]") as caught:
        load_image(corpus["geotiff_4band"])
    assert caught.value.source == str(corpus["geotiff_4band"])


@pytest.mark.parametrize(
    ("shape", "options"),
    [
        ((24, 32, 3), {"photometric": "rgb"}),  # PIL alone would cut this to 8 bits
        ((4, 24, 32), {"photometric": "minisblack", "planarconfig": "separate"}),  # PIL: I;16, fails
    ],
)
def test_16bit_multisample_tiffs_go_through_tifffile(tmp_path, shape, options):
    tifffile = pytest.importorskip("tifffile")
    values = np.random.default_rng(1).integers(0, 1000, size=shape, dtype=np.uint16)
    path = tmp_path / "multi16.tif"
    tifffile.imwrite(path, values, **options)
    image = load_image(path, thermal_rule="minmax")
    assert image.mode == "RGB" and image.size == (32, 24)
    assert np.asarray(image).max() == 255  # stretched, not the 0..3 of a high-byte cut


# --- bytes, PIL and numpy inputs ------------------------------------------------------------------


def test_bytes_input_matches_path_input(corpus):
    data = corpus["pair_rgb"].read_bytes()
    np.testing.assert_array_equal(np.asarray(load_image(data)), np.asarray(load_image(corpus["pair_rgb"])))
    with pytest.raises(EmptyImageFileError, match="<bytes>"):
        load_image(b"")
    with pytest.raises(NotAnImageError, match="upload.png"):
        load_image(b"hello", name="upload.png")
    with pytest.raises(TruncatedImageError, match="archive.zip:member.jpg"):
        load_image(corpus["truncated_jpeg"].read_bytes(), name="archive.zip:member.jpg")


def test_pil_input_is_copied_not_mutated():
    source = Image.new("RGB", (4, 4), (10, 20, 30))
    source.info["keep"] = "me"
    image = load_image(source)
    assert image is not source and source.info == {"keep": "me"} and image.info == {}
    with pytest.raises(ImageTooLargeError, match="<PIL image>"):
        load_image(source, max_pixels=4)


@pytest.mark.parametrize("pil_mode", ["I", "F", "I;16"])
def test_pil_high_depth_modes_use_thermal_rule(pil_mode):
    values = np.arange(0, 4000, 10).reshape(20, 20)
    dtype = {"I": np.int32, "F": np.float32, "I;16": np.uint16}[pil_mode]
    source = Image.fromarray(values.astype(dtype))
    assert source.mode == pil_mode
    out = load_image(source, mode="L", thermal_rule="minmax")
    assert np.asarray(out).min() == 0 and np.asarray(out).max() == 255
    assert out.info["fusionrs_conversion"].startswith(f"{pil_mode}->L minmax lo=0 hi=3990")


def test_numpy_inputs():
    rng = np.random.default_rng(2)
    grey = rng.integers(0, 256, size=(6, 8), dtype=np.uint8)
    assert np.array_equal(np.asarray(load_image(grey, mode="L")), grey)
    rgb = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    assert np.array_equal(np.asarray(load_image(rgb)), rgb)
    rgba = np.dstack([rgb, np.zeros((6, 8), np.uint8)])  # HxWx4 uint8 is RGBA: fully transparent
    assert np.asarray(load_image(rgba)).max() == 0

    thermal = np.linspace(20.0, 40.0, 48, dtype=np.float32).reshape(6, 8)
    thermal[0, 0] = np.nan  # no-data stays 0
    out = load_image(thermal, mode="L", thermal_rule="minmax")
    assert np.asarray(out)[0, 0] == 0 and np.asarray(out)[-1, -1] == 255
    assert out.info["fusionrs_conversion"].startswith("float32x1->L minmax lo=20.4255 hi=40")

    cube = rng.random((6, 8, 5)).astype(np.float64)
    picked = load_image(cube, bands=(4, 0, 2), thermal_rule="minmax")
    assert picked.mode == "RGB" and picked.info["fusionrs_conversion"].startswith("float64x5->RGB bands=4,0,2 minmax")


def test_numpy_unsupported_inputs_name_the_array():
    with pytest.raises(UnsupportedImageError, match="<numpy array 4x4 bool>"):
        load_image(np.zeros((4, 4), dtype=bool))
    with pytest.raises(UnsupportedImageError, match="fixed16"):
        load_image(np.zeros((4, 4), dtype=np.float32), thermal_rule="fixed16")
    with pytest.raises(UnsupportedImageError, match="out of range"):
        load_image(np.zeros((4, 4, 2), dtype=np.uint16), bands=(0, 1, 2))


def test_flat_thermal_image_does_not_divide_by_zero():
    out = load_image(np.full((4, 4), 3000, dtype=np.uint16), mode="L")
    assert np.asarray(out).max() == 0


def test_thermal_rules_are_named():
    assert THERMAL_RULES == ("percentile", "minmax", "fixed16")


# --- batch jobs: skip and report, never die ------------------------------------------------------


def test_scan_images_reports_exactly_the_bad_files(corpus, tmp_path):
    paths = sorted(corpus.values()) + [tmp_path / "missing.jpg"]
    report = scan_images(paths, max_pixels=1_000_000, progress=False)
    failed = {Path(path).name: reason for path, reason in report.failed}
    assert set(failed) == {"truncated.jpg", "empty.jpg", "notes.png", "over_limit.png", "missing.jpg"}
    assert all(reason for reason in failed.values())
    assert "no such file" in failed["missing.jpg"]
    assert len(report.ok) == len(paths) - len(failed)
    assert "failed" in report.summary() and "notes.png" in report.summary()


def test_scan_images_shows_progress(corpus, capsys):
    scan_images([corpus["pair_rgb"]], progress=True)
    assert "checking images" in capsys.readouterr().err


def test_iter_images_is_lazy_and_skips(corpus):
    paths = [corpus["pair_rgb"], corpus["empty"], corpus["pair_ir"]]
    report = ImageScanReport()
    images = iter_images(paths, mode="L", report=report)
    assert report.ok == [] and report.failed == []  # nothing read yet
    loaded = list(images)
    assert [Path(path).name for path, _ in loaded] == ["pair_rgb.png", "pair_ir.png"]
    assert all(image.mode == "L" for _, image in loaded)
    assert [Path(path).name for path, _ in report.failed] == ["empty.jpg"]


def test_iter_images_can_raise_instead(corpus):
    with pytest.raises(EmptyImageFileError):
        list(iter_images([corpus["pair_rgb"], corpus["empty"]], on_error="raise"))
    with pytest.raises(ValueError, match="mode"):
        next(iter_images([corpus["pair_rgb"]], mode="CMYK"))
    with pytest.raises(TypeError, match="list of image paths"):
        next(iter_images(str(corpus["pair_rgb"])))


# --- real data (development machines only) -------------------------------------------------------

REAL_SAMPLES = {
    # file: (stored format/mode, what it is)
    "rsicd_aid/images/storagetanks_307.jpg": ("JPEG", "RGB"),
    "hit_uav/images/1_70_40_0_00911.jpg": ("JPEG", "L"),
    "rgbt_pairs/roadscene/ir/FLIR_03813.jpg": ("JPEG", "L"),
    "rgbt_pairs/llvip/ir/010016.jpg": ("JPEG", "RGB"),  # thermal stored as 3 equal channels
    "aerial_pairs/aos_rgb_thermal/rgb/7.jpg": ("PNG", "RGBA"),  # a PNG named .jpg
    "aerial_pairs/aos_rgb_thermal/thermal_integral/6.png": ("PNG", "RGBA"),
    "aerial_pairs/aos_rgb_thermal/thermal_integral/3.png": ("PNG", "L"),
    "aerial_pairs/vedai_rgb_nir/nir/00000057.png": ("PNG", "RGB"),
    "captions/sydney/images/5.tif": ("TIFF", "RGB"),
    "captions/ucm/images/5.tif": ("TIFF", "RGB"),
}


def _real(relative: str) -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (only on development machines)")
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.mark.parametrize("relative", sorted(REAL_SAMPLES))
def test_real_images_load_in_both_modes(relative):
    path = _real(relative)
    with Image.open(path) as raw:
        assert (raw.format, raw.mode) == REAL_SAMPLES[relative]
        size = raw.size
    for mode in ("RGB", "L"):
        image = load_image(path, mode=mode)
        assert image.mode == mode and image.size == size


def test_real_three_channel_ir_becomes_identical_l():
    path = _real("rgbt_pairs/llvip/ir/010016.jpg")
    channels = np.asarray(Image.open(path))
    grey = np.asarray(load_image(path, mode="L"))
    # ITU-R 601 weights sum to 1, so equal channels give back exactly that channel.
    equal = (channels[..., 0] == channels[..., 1]) & (channels[..., 1] == channels[..., 2])
    np.testing.assert_array_equal(grey[equal], channels[..., 0][equal])


def test_real_transparent_png_composites_to_black():
    path = _real("aerial_pairs/aos_rgb_thermal/rgb/7.jpg")
    alpha = np.asarray(Image.open(path))[..., 3]
    out = np.asarray(load_image(path))
    assert (out[alpha == 0] == 0).all()


def test_real_folder_scan_has_no_failures():
    folder = _real("aerial_pairs/aos_rgb_thermal/rgb/1.jpg").parent.parent
    paths = sorted(p for p in folder.rglob("*") if p.suffix in (".jpg", ".png"))
    report = scan_images(paths, progress=False)
    assert report.failed == [] and len(report.ok) == len(paths) == 18
