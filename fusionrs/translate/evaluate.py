"""Scoring a translator against real or world IR next to the baselines.

`evaluate_pairs` translates every pair with the model and each baseline (grayscale, inverted grayscale,
linear fit on training pairs), scores PSNR / SSIM / MAE / edge correlation per image, averages them and
adds a paired bootstrap 95% CI of (model - baseline) for each metric. World pairs also get scores on
the same-colour material pixels (where colour cannot tell the thermal answer). `contact_sheet` draws
RGB | target | prediction | error rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from fusionrs.metrics.bootstrap import paired_bootstrap_ci
from fusionrs.metrics.image_quality import image_quality
from fusionrs.translate.data import Pair

if TYPE_CHECKING:
    from fusionrs.translate.base import LinearTranslator

__all__ = ["BASELINES", "baseline_predictors", "model_predictor", "folder_predictor", "evaluate_pairs", "contact_sheet",
           "same_colour_mask"]

BASELINES = ("grayscale", "inverted_grayscale", "linear")
METRICS = ("psnr", "ssim", "mae", "edge_corr")

Predictor = Callable[[list[np.ndarray]], list[np.ndarray]]  # RGB HxWx3 uint8 -> IR HxW uint8


def baseline_predictors(linear: "Sequence[Pair] | LinearTranslator") -> dict[str, Predictor]:
    """The three baselines; the linear map is given, or least-squares fitted on training pairs.

    Args:
        linear: a fitted `LinearTranslator`, or the training `Pair`s to least-squares fit one on.

    Returns:
        {"grayscale", "inverted_grayscale", "linear"} -> predictor, each mapping a list of RGB
        HxWx3 uint8 arrays to a list of IR HxW uint8 arrays.
    """
    from fusionrs.translate.base import GrayscaleTranslator, InvertedGrayscaleTranslator, LinearTranslator

    if not isinstance(linear, LinearTranslator):
        linear = LinearTranslator.fit((p.rgb, p.ir) for p in linear)

    def wrap(t) -> Predictor:
        return lambda rgbs: [np.asarray(im) for im in t.translate([Image.fromarray(r) for r in rgbs])]

    return {"grayscale": wrap(GrayscaleTranslator()), "inverted_grayscale": wrap(InvertedGrayscaleTranslator()),
            "linear": wrap(linear)}


def model_predictor(spec: str, *, batch_size: int = 8) -> Predictor:
    """A translator folder (or any `get_translator` spec) as a predictor.

    Args:
        spec: a `get_translator` spec (anything with a ":" or a baseline name), or a bare
            translator folder, which is read as `fusionrs:FOLDER`.
        batch_size: images per `translate` call (default 8).

    Returns:
        A predictor mapping a list of RGB HxWx3 uint8 arrays to a list of IR HxW uint8 arrays.
        Spec errors of `get_translator` (e.g. `UnknownSpecError`) propagate.
    """
    from fusionrs.translate.base import get_translator

    translator = get_translator(spec if ":" in spec or spec in BASELINES else f"fusionrs:{spec}")

    def predict(rgbs: list[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for i in range(0, len(rgbs), batch_size):
            out += [np.asarray(im) for im in translator.translate([Image.fromarray(r) for r in rgbs[i:i + batch_size]])]
        return out

    return predict


def folder_predictor(folder: str | Path, names: Sequence[str]) -> Predictor:
    """Predictions made elsewhere (e.g. by benchmarks/pix2pix.py) as a predictor: `FOLDER/NAME.png` per pair.

    Lets any system be scored by `fusionrs eval translator --predictions FOLDER` without entering the
    package: its outputs are read as 8-bit grey (`L`) images, one per pair name, and must have the
    size of the pair's IR image (the evaluator checks).

    Args:
        folder: the folder of predicted IR images, named by pair stem (`.png` first, then any image suffix).
        names: the pair names, in the order the predictor will be called with their RGB images.

    Returns:
        A predictor returning the stored images for `names` (its RGB inputs are only counted).

    Raises:
        FileNotFoundError: `folder` is missing or lacks an image for one of `names`.
    """
    from fusionrs.core.image_io import load_image
    from fusionrs.translate.data import IMAGE_SUFFIXES

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: predictions folder does not exist")
    by_stem: dict[str, Path] = {}
    for path in sorted(folder.iterdir(), key=lambda p: (p.suffix.lower() != ".png", p.name)):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            by_stem.setdefault(path.stem, path)
    missing = [n for n in names if n not in by_stem]
    if missing:
        raise FileNotFoundError(f"{folder}: no prediction for {len(missing)} of {len(names)} pairs, e.g. {missing[0]}.png")
    paths = [by_stem[n] for n in names]

    def predict(rgbs: list[np.ndarray]) -> list[np.ndarray]:
        if len(rgbs) != len(paths):
            raise ValueError(f"predictions of {folder} cover {len(paths)} pairs, called with {len(rgbs)} images")
        return [np.asarray(load_image(p, mode="L", max_pixels=None)) for p in paths]

    return predict


def same_colour_mask(materials: np.ndarray) -> np.ndarray:
    """Pixels of materials that belong to a same-colour pair (look alike in RGB, differ in LWIR).

    Args:
        materials: an HxW array of material ids (indices into `fusionrs.synth.MATERIALS`).

    Returns:
        A boolean HxW array, True where the material is one of a same-colour pair.
    """
    from fusionrs.synth import MATERIALS, same_colour_pairs

    ids = {MATERIALS.index(m) for pair in same_colour_pairs() for m in pair}
    return np.isin(materials, list(ids))


def _masked_scores(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> tuple[float, int]:
    d = pred.astype(np.float64)[mask] - target.astype(np.float64)[mask]
    return float((d**2).sum()), int(mask.sum())


def evaluate_pairs(pairs: Sequence[Pair], model: Predictor | None, baselines: dict[str, Predictor], *,
                   model_name: str = "model", seed: int = 0) -> tuple[dict[str, Any], dict[str, list[np.ndarray]]]:
    """Score model and baselines on `pairs`; returns (results dict, predictions by system).

    Args:
        pairs: the `Pair`s to score (RGB input, IR target).
        model: the model's predictor, or None to score only the baselines.
        baselines: predictors by name (as from `baseline_predictors`).
        model_name: the key of the model in the results (default "model").
        seed: the seed of the paired bootstrap.

    Returns:
        (results, predictions). `results` has "n"; "systems", per system {"mean": metric ->
        mean of psnr/ssim/mae/edge_corr, "per_image": rows with "name" and the metrics}, plus
        "pooled" (rmse_all, rmse_same_colour, psnr_same_colour, same_colour_pixels) when every
        pair has materials; and, when a model is given, "vs_baselines": baseline -> metric ->
        paired bootstrap 95% CI of (model - baseline). `predictions` maps each system to its list
        of predicted IR arrays, in pair order.

    Raises:
        RuntimeError: when a predictor returns an array whose shape differs from the pair's IR.
    """
    rgbs = [p.rgb for p in pairs]
    systems: dict[str, Predictor] = ({model_name: model} if model is not None else {}) | dict(baselines)
    predictions = {name: fn(rgbs) for name, fn in systems.items()}
    per_image: dict[str, list[dict[str, float]]] = {name: [] for name in systems}
    for name, preds in predictions.items():
        for p, pred in zip(pairs, preds):
            if pred.shape != p.ir.shape:
                raise RuntimeError(f"{name} returned {pred.shape} for {p.name}, expected {p.ir.shape}")
            per_image[name].append({"name": p.name, **image_quality(pred, p.ir)})
    results: dict[str, Any] = {"n": len(pairs), "systems": {}}
    for name in systems:
        rows = per_image[name]
        results["systems"][name] = {"mean": {m: float(np.mean([r[m] for r in rows])) for m in METRICS}, "per_image": rows}
    if all(p.materials is not None for p in pairs):
        for name, preds in predictions.items():
            sq_all = n_all = sq_same = n_same = 0
            for p, pred in zip(pairs, preds):
                mask = same_colour_mask(p.materials)
                s, n = _masked_scores(pred, p.ir, mask)
                sq_same, n_same = sq_same + s, n_same + n
                s, n = _masked_scores(pred, p.ir, np.ones_like(mask))
                sq_all, n_all = sq_all + s, n_all + n
            results["systems"][name]["pooled"] = {
                "rmse_all": float(np.sqrt(sq_all / n_all)),
                "rmse_same_colour": float(np.sqrt(sq_same / max(n_same, 1))),
                "psnr_same_colour": float(10 * np.log10(255**2 / max(sq_same / max(n_same, 1), 1e-12))),
                "same_colour_pixels": n_same,
            }
    if model is not None:
        results["vs_baselines"] = {
            base: {m: paired_bootstrap_ci([r[m] for r in per_image[model_name]], [r[m] for r in per_image[base]], seed=seed)
                   for m in METRICS}
            for base in baselines
        }
    return results, predictions


def contact_sheet(pairs: Sequence[Pair], predictions: Sequence[np.ndarray], path: str | Path, *, height: int = 160,
                  max_rows: int = 6) -> Path:
    """Rows of RGB | target | prediction | |error| (error amplified 2x), each scaled to `height` px.

    Args:
        pairs: the `Pair`s shown (RGB and target IR).
        predictions: the predicted IR HxW uint8 arrays, in pair order.
        path: the image file to write (its parent folders are created).
        height: the row height in pixels (default 160).
        max_rows: at most this many pairs are drawn, the first ones (default 6).

    Returns:
        `path` as a `Path`, after saving the sheet (rows padded white to a common width).
    """
    rows = []
    for p, pred in list(zip(pairs, predictions))[:max_rows]:
        err = np.clip(np.abs(pred.astype(np.int16) - p.ir.astype(np.int16)) * 2, 0, 255).astype(np.uint8)
        width = round(p.rgb.shape[1] * height / p.rgb.shape[0])
        tiles = [Image.fromarray(p.rgb), *(Image.fromarray(a).convert("RGB") for a in (p.ir, pred, err))]
        row = np.concatenate([np.asarray(t.resize((width, height), Image.BILINEAR)) for t in tiles], axis=1)
        rows.append(np.pad(row, ((0, 4), (0, 0), (0, 0)), constant_values=255))
    full = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, full - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(path, optimize=True)
    return path
