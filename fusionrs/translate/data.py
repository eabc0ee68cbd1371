"""Paired RGB/IR data for the translator: folders of pairs, the fixed RoadScene validation split,
world pairs, unpaired thermal/RGB pools and paired augmentations.

A pair folder holds `rgb/NAME.*` and an IR image with the same stem in `ir/` (or `thermal*/`).
Images are kept in memory as uint8 arrays (RGB HxWx3, IR HxW); samples are dicts.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fusionrs.core.image_io import load_image

__all__ = [
    "Pair",
    "PairSet",
    "list_pair_files",
    "load_pairs",
    "is_colour_mapped",
    "roadscene_val_names",
    "split_roadscene",
    "screening_split",
    "world_pairs",
    "load_unpaired",
    "sample_crops",
]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}
ROADSCENE_VAL_FILE = Path(__file__).with_name("roadscene_val.txt")


@dataclass
class Pair:
    name: str
    rgb: np.ndarray  # H x W x 3 uint8
    ir: np.ndarray  # H x W uint8
    source: str
    materials: np.ndarray | None = None  # world pairs only: H x W material ids


@dataclass
class PairSet:
    pairs: list[Pair] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pairs)


def _ir_dir(folder: Path) -> Path:
    for name in ("ir", "thermal", "thermal_integral", "nir"):
        if (folder / name).is_dir():
            return folder / name
    raise FileNotFoundError(f"{folder}: no ir/ (or thermal/) folder next to rgb/")


def list_pair_files(folder: str | Path) -> list[tuple[str, Path, Path]]:
    """(name, rgb path, ir path) for every RGB image with an IR image of the same stem, sorted.

    Args:
        folder: a pair folder with an `rgb/` sub-folder and an `ir/` (or `thermal/`,
            `thermal_integral/`, `nir/`) sub-folder.

    Returns:
        A list of (stem, rgb path, ir path) tuples sorted by RGB file name; RGB images without an
        IR image of the same stem are left out.

    Raises:
        FileNotFoundError: when `rgb/` or the IR sub-folder is missing, or no pair matches by name.
    """
    folder = Path(folder)
    if not (folder / "rgb").is_dir():
        raise FileNotFoundError(f"{folder}: expected rgb/ and ir/ sub-folders")
    ir_by_stem = {p.stem: p for p in _ir_dir(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    out = []
    for p in sorted((folder / "rgb").iterdir()):
        if p.suffix.lower() in IMAGE_SUFFIXES and p.stem in ir_by_stem:
            out.append((p.stem, p, ir_by_stem[p.stem]))
    if not out:
        raise FileNotFoundError(f"{folder}: no RGB/IR pairs with matching names")
    return out


def is_colour_mapped(path: str | Path, tolerance: float = 2.0) -> bool:
    """True for a false-colour (palette) thermal image: its RGB channels differ (grey would not).

    Args:
        path: the image file.
        tolerance: the mean absolute difference between neighbouring channels (R-G plus G-B, in
            8-bit grey levels) above which the image counts as colour-mapped (default 2.0).

    Returns:
        False for single-channel modes (L, I, I;16, F, 1) and for RGB images whose channels agree
        within `tolerance`; True otherwise.
    """
    with Image.open(path) as im:
        if im.mode in ("L", "I", "I;16", "F", "1"):
            return False
        rgb = np.asarray(im.convert("RGB")).astype(np.int16)
    return float(np.abs(rgb[..., 0] - rgb[..., 1]).mean() + np.abs(rgb[..., 1] - rgb[..., 2]).mean()) > tolerance


def load_pairs(folder: str | Path, *, names: set[str] | None = None, drop_colour_mapped: bool = True,
               source: str | None = None, max_side: int | None = None) -> PairSet:
    """Load the pairs of `folder` (optionally only `names`); IR images that are colour-mapped are
    dropped because their grey level is not an intensity. `max_side` downsizes large pairs.

    Args:
        folder: a pair folder (`rgb/` plus `ir/` or `thermal*/`, see `list_pair_files`).
        names: the stems to keep; None keeps every pair.
        drop_colour_mapped: skip pairs whose IR image is false-colour (see `is_colour_mapped`).
        source: the `source` label stored on each pair; None uses the folder name.
        max_side: when set, pairs whose longer side exceeds it are downsized (bicubic, both images
            together) so the longer side is `max_side` pixels.

    Returns:
        A `PairSet` of `Pair`s in name order: RGB HxWx3 and IR HxW uint8 arrays of the same size
        (an IR image of another size is resized to the RGB size). `FileNotFoundError` from
        `list_pair_files` propagates.
    """
    source = source or Path(folder).name
    pairs = []
    for name, rgb_path, ir_path in list_pair_files(folder):
        if names is not None and name not in names:
            continue
        if drop_colour_mapped and is_colour_mapped(ir_path):
            continue
        rgb = load_image(rgb_path, mode="RGB", max_pixels=None)
        ir = load_image(ir_path, mode="L", max_pixels=None)
        if ir.size != rgb.size:
            ir = ir.resize(rgb.size, Image.BICUBIC)
        if max_side and max(rgb.size) > max_side:
            scale = max_side / max(rgb.size)
            size = (round(rgb.width * scale), round(rgb.height * scale))
            rgb, ir = rgb.resize(size, Image.BICUBIC), ir.resize(size, Image.BICUBIC)
        pairs.append(Pair(name, np.asarray(rgb), np.asarray(ir), source))
    return PairSet(pairs)


def roadscene_val_names() -> list[str]:
    """The committed RoadScene validation names (seeded shuffle of the sorted names, first 40)."""
    lines = ROADSCENE_VAL_FILE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def split_roadscene(folder: str | Path, *, tune: int = 0, seed: int = 0) -> dict[str, list[str]]:
    """{"train", "tune", "validation"} names of a RoadScene folder. `validation` is the committed list;
    `tune` is a seeded slice of the remaining pairs for choosing settings (may be empty).

    Args:
        folder: the RoadScene pair folder.
        tune: how many non-validation pairs to set aside as the tune split (default 0).
        seed: the seed of the shuffle that picks the tune pairs.

    Returns:
        A dict with keys "train", "tune" and "validation", each a sorted list of pair names; the
        validation list holds only the committed names present in the folder.
    """
    all_names = [name for name, _, _ in list_pair_files(folder)]
    val = set(roadscene_val_names())
    rest = [n for n in all_names if n not in val]
    rng = random.Random(seed)
    shuffled = rest[:]
    rng.shuffle(shuffled)
    return {"train": sorted(shuffled[tune:]), "tune": sorted(shuffled[:tune]), "validation": sorted(val & set(all_names))}


SCREEN_TUNE = 11  # the tuning slice of the committed translator runs (`--tune 11`)
SCREEN_HELD_OUT = 20  # more training pairs held out while screening candidate changes (issue 16)


def screening_split(folder: str | Path, *, tune: int = SCREEN_TUNE, held_out: int = SCREEN_HELD_OUT,
                    seed: int = 0) -> dict[str, list[str]]:
    """{"train", "tune", "held_out", "screening", "validation"} names of a RoadScene folder for screening runs.

    The shuffle of `split_roadscene` does not depend on `tune`, so `split_roadscene(folder, tune=tune
    + held_out, seed=seed)` holds back exactly the `tune` names of a `--tune tune` run plus `held_out`
    more: a screening run trains with `--tune 31` (the defaults) and is judged on those 31 names,
    never on the validation names.

    Args:
        folder: the RoadScene pair folder.
        tune: the size of the tuning slice (default 11, as the committed runs).
        held_out: how many more non-validation pairs are held out (default 20).
        seed: the seed of the `split_roadscene` shuffle (the training seed, default 0).

    Returns:
        A dict of sorted name lists: "tune" (equal to `split_roadscene(folder, tune=tune,
        seed=seed)["tune"]`), "held_out" (the next `held_out` names of the shuffle), "screening"
        (their union), "train" (the rest, what a `--tune tune + held_out` run trains on) and
        "validation" (the committed names).
    """
    wide = split_roadscene(folder, tune=tune + held_out, seed=seed)
    narrow = set(split_roadscene(folder, tune=tune, seed=seed)["tune"])
    return {"train": wide["train"], "tune": sorted(narrow), "held_out": sorted(set(wide["tune"]) - narrow),
            "screening": wide["tune"], "validation": wide["validation"]}


def world_pairs(indices: range | list[int], *, seed: int = 0, size: int = 256,
                time_of_day: float | None = None) -> PairSet:
    """Procedural world scenes as pairs (with their material maps, for same-colour scoring).

    The world's IR hour is random per scene and the RGB view carries little cue of it, so a fixed
    `time_of_day` (e.g. 13.0) makes the IR learnable from RGB; None keeps the random hour.

    Args:
        indices: the scene indices to generate.
        seed: the world seed passed to `generate_scene`.
        size: the scene side in pixels (default 256).
        time_of_day: a fixed IR hour for every scene (e.g. 13.0), or None for each scene's random hour.

    Returns:
        A `PairSet` with one `Pair` per index, named `world_{seed}_{index}`, source "world", with
        the scene's material map in `materials`.
    """
    from fusionrs.synth import generate_scene

    pairs = []
    for i in indices:
        s = generate_scene(i, seed=seed, size=size, time_of_day=time_of_day)
        pairs.append(Pair(f"world_{seed}_{i}", s.rgb, s.ir, "world", s.materials))
    return PairSet(pairs)


def load_unpaired(folder: str | Path, *, split: str, limit: int | None = None, mode: str = "L",
                  seed: int = 0) -> list[np.ndarray]:
    """Images of one split of `hit_uav` (mode L) or `rsicd_aid` (mode RGB), seeded subset of `limit`.

    Args:
        folder: the dataset folder: one with `{split}.jsonl` (records with a "file" key) or one
            with `dataset_rsicd.json`.
        split: the split name (e.g. "train", "val", "test").
        limit: load at most this many images, a seeded random subset; None loads them all.
        mode: the image mode to load, "L" or "RGB" (default "L").
        seed: the seed of the subset draw.

    Returns:
        A list of uint8 arrays (HxW for "L", HxWx3 for "RGB"), in sorted file order.

    Raises:
        FileNotFoundError: when the folder has neither `{split}.jsonl` nor `dataset_rsicd.json`.
    """
    folder = Path(folder)
    if (folder / f"{split}.jsonl").is_file():
        files = [json.loads(line)["file"] for line in (folder / f"{split}.jsonl").read_text().splitlines() if line.strip()]
    elif (folder / "dataset_rsicd.json").is_file():
        meta = json.loads((folder / "dataset_rsicd.json").read_text())
        files = ["images/" + im["filename"] for im in meta["images"] if im["split"] == split]
    else:
        raise FileNotFoundError(f"{folder}: neither {split}.jsonl nor dataset_rsicd.json")
    files = sorted(files)
    if limit is not None and limit < len(files):
        files = sorted(random.Random(seed).sample(files, limit))
    return [np.asarray(load_image(folder / f, mode=mode, max_pixels=None)) for f in files]


def _crop_pair(rgb: np.ndarray, ir: np.ndarray | None, size: int, rng: np.random.Generator, scale: tuple[float, float]):
    """Random rescale (both together), crop `size`, horizontal flip."""
    h, w = rgb.shape[:2]
    s = rng.uniform(*scale)
    s = max(s, size / min(h, w))  # never crop outside the image
    if abs(s - 1) > 1e-3:
        new = (max(size, round(w * s)), max(size, round(h * s)))
        rgb = np.asarray(Image.fromarray(rgb).resize(new, Image.BILINEAR))
        if ir is not None:
            ir = np.asarray(Image.fromarray(ir).resize(new, Image.BILINEAR))
        h, w = rgb.shape[:2]
    top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    rgb = rgb[top:top + size, left:left + size]
    ir = ir[top:top + size, left:left + size] if ir is not None else None
    if rng.random() < 0.5:
        rgb = rgb[:, ::-1]
        ir = ir[:, ::-1] if ir is not None else None
    return rgb, ir


def _colour_jitter(rgb: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Brightness/contrast/saturation jitter on the RGB side only (the IR target is unchanged)."""
    x = rgb.astype(np.float32) / 255
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * rng.uniform(1 - strength, 1 + strength)
    x = (x - x.mean()) * rng.uniform(1 - strength, 1 + strength) + x.mean()
    x = x * rng.uniform(1 - strength, 1 + strength)
    return (np.clip(x, 0, 1) * 255).astype(np.uint8)


def sample_crops(pools: list[tuple[list[Any], float]], batch: int, size: int, rng: np.random.Generator, *,
                 scale: tuple[float, float] = (0.5, 1.0), jitter: float = 0.1) -> dict[str, np.ndarray]:
    """A batch of augmented paired crops drawn from weighted pools of `Pair`s (or bare arrays for
    unpaired pools). Returns {"rgb": B x size x size x 3, "ir": B x size x size}, or {"image": ...} for arrays.

    Args:
        pools: (items, weight) pools; items are `Pair`s or bare uint8 arrays, and a pool is drawn
            with probability proportional to its weight. Pools of one call should hold one kind.
        batch: the number of crops (B).
        size: the crop side in pixels.
        rng: the numpy generator all random choices are drawn from.
        scale: the (low, high) range of the random rescale before cropping; raised where needed
            so the crop stays inside the image.
        jitter: the strength of the brightness/contrast/saturation jitter applied to the RGB side
            of pairs (0 disables it; the IR target is never jittered).

    Returns:
        A dict of contiguous uint8 arrays: {"rgb": (B, size, size, 3), "ir": (B, size, size)} when
        pairs were drawn, else {"image": (B, size, size[, C])} for bare arrays. Crops are also
        randomly flipped left-right.
    """
    weights = np.array([w for _, w in pools], dtype=np.float64)
    weights /= weights.sum()
    rgbs, irs = [], []
    for _ in range(batch):
        pool = pools[int(rng.choice(len(pools), p=weights))][0]
        item = pool[int(rng.integers(len(pool)))]
        if isinstance(item, Pair):
            rgb, ir = _crop_pair(item.rgb, item.ir, size, rng, scale)
            rgbs.append(_colour_jitter(rgb, rng, jitter) if jitter else rgb)
            irs.append(ir)
        else:
            image, _ = _crop_pair(item, None, size, rng, scale)
            rgbs.append(image)
    if not irs:
        return {"image": np.ascontiguousarray(np.stack(rgbs))}
    return {"rgb": np.ascontiguousarray(np.stack(rgbs)), "ir": np.ascontiguousarray(np.stack(irs))}
