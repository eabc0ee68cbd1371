"""Evaluate a dual-modal CLIP model: retrieval as in the paper, zero-shot scenes, real RGB-T pairs, real thermal objects.

Protocol (`evaluate_clip`, one split of a FusionRS dataset folder):
- one evaluation representative per near-duplicate group (`is_eval_representative`), so a near
  copy of the query never sits in the gallery; folders without flags (the procedural world) use all rows;
- caption targets are the original `captions` (every caption of an image is relevant to it; each
  caption has one image); IR-aware captions (`ir_captions`) are scored separately on the rows that have them;
- Mean Recall = mean of R@1/5/10 over IR->caption, caption->IR, RGB->IR, IR->RGB (the paper's 12
  numbers); `mean_recall_all` adds RGB->caption and caption->RGB (18 numbers);
- ranks count ties against the model (`fusionrs.metrics.retrieval`), similarities are chunked.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fusionrs.errors import EvaluationDataError  # noqa: F401  (defined in errors.py, re-exported here)
from fusionrs.metrics.retrieval import DEFAULT_KS, mean_recall, recall_at_k, retrieval_ranks, roc_auc

if TYPE_CHECKING:
    import torch

    from fusionrs.clip.embed import ClipEmbedder

__all__ = [
    "ALL_DIRECTIONS",
    "MEAN_RECALL_PAIRS",
    "HIT_UAV_CLASSES",
    "PAPER_DIRECTIONS",
    "evaluate_clip",
    "evaluate_object_presence",
    "evaluate_rgbt_pairs",
]

PAPER_DIRECTIONS: tuple[str, ...] = ("ir->caption", "caption->ir", "rgb->ir", "ir->rgb")
ALL_DIRECTIONS: tuple[str, ...] = PAPER_DIRECTIONS + ("rgb->caption", "caption->rgb")
IR_AWARE_DIRECTIONS: tuple[str, ...] = ("ir->ir_caption", "ir_caption->ir", "rgb->ir", "ir->rgb")
MEAN_RECALL_PAIRS: dict[str, tuple[str, str]] = {"ir_text": ("ir->caption", "caption->ir"),
                                                 "rgb_text": ("rgb->caption", "caption->rgb"),
                                                 "rgb_ir": ("rgb->ir", "ir->rgb")}
# HIT-UAV label -> the phrase put into OBJECT_TEMPLATES ("DontCare" regions are ignored).
HIT_UAV_CLASSES: dict[str, str] = {
    "Person": "a person",
    "Car": "a car",
    "Bicycle": "a bicycle",
    "OtherVehicle": "a truck or other large vehicle",
}
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")


def _embedder(model, device, dtype) -> "ClipEmbedder":
    from fusionrs.clip.embed import ClipEmbedder

    if isinstance(model, tuple) and len(model) == 2:  # an in-memory (model, processor), e.g. during training
        return ClipEmbedder(model[0], model[1], device=device, dtype=dtype)
    return ClipEmbedder.from_pretrained(model, device=device, dtype=dtype)


def _describe(model) -> str:
    if isinstance(model, (str, os.PathLike)):
        return str(model)
    return type(model[0] if isinstance(model, tuple) else model).__name__


# ---------------------------------------------------------------------------------------------- dataset split

# What evaluation reads; `is_eval_representative` is optional (without it every row is evaluated).
EVALUATION_COLUMNS = ("rgb", "ir", "captions", "ir_captions", "class_name")


def _load_split(data_dir, split: str):
    import datasets

    from fusionrs.data.loading import load_dataset, resolve_data_dir

    try:
        folder = resolve_data_dir(data_dir)
    except FileNotFoundError as error:
        raise EvaluationDataError(str(error)) from None
    try:
        dataset_dict = load_dataset(folder)
    except (ValueError, datasets.exceptions.DatasetGenerationError) as error:
        raise EvaluationDataError(f"{folder}: cannot load the dataset: {str(error).splitlines()[0]}") from None
    if split not in dataset_dict:
        raise EvaluationDataError(f"{folder}: no split {split!r}; the folder has {sorted(dataset_dict)}")
    missing = [c for c in EVALUATION_COLUMNS if c not in dataset_dict[split].column_names]
    if missing:
        raise EvaluationDataError(f"{folder}: split {split!r} has no column {', '.join(map(repr, missing))}; CLIP "
                                  f"evaluation reads {', '.join(EVALUATION_COLUMNS)} (FusionRS schema)")
    return folder, dataset_dict[split]


def _eval_rows(ds, max_items: int | None) -> tuple[list[int], str, int]:
    """Indices of the rows to evaluate: representatives with both images, `max_items` of them evenly spaced."""
    import pyarrow.compute as pc

    # Arrow view: validity and flags are read without decoding a single image.
    flagged = "is_eval_representative" in ds.column_names
    table = ds.select_columns(["rgb", "ir"] + (["is_eval_representative"] if flagged else [])).with_format("arrow")[:]
    has_both = np.asarray(pc.and_(pc.is_valid(table.column("rgb")), pc.is_valid(table.column("ir"))))
    flags = (np.asarray(table.column("is_eval_representative").to_numpy(zero_copy_only=False), dtype=bool) if flagged
             else np.zeros(len(has_both), dtype=bool))
    if flags.any():
        candidates, policy = flags, "is_eval_representative rows (one per near-duplicate group)"
    else:
        candidates, policy = np.ones_like(flags), "all rows (no is_eval_representative flags in this split)"
    indices = np.flatnonzero(candidates & has_both).tolist()
    skipped = int(candidates.sum()) - len(indices)
    if max_items is not None and max_items < len(indices):
        # Evenly spaced, not the first N: rows are usually sorted by class, and a quick check should see them all.
        picks = np.unique(np.linspace(0, len(indices) - 1, max_items).round().astype(int))
        indices = [indices[i] for i in picks]
    return indices, policy, skipped


def _embed_rows(embedder: "ClipEmbedder", rows, batch_size: int, progress: bool):
    """RGB and IR embeddings of all rows, decoded block by block (never all images in memory), and the
    rows' grayscale thumbnails for the no-learning baseline (`fusionrs.clip.baselines`)."""
    import torch
    from tqdm.auto import tqdm

    from fusionrs.clip.baselines import thumbnail

    rgb, ir, thumbs = [], [], {"rgb": [], "ir": []}
    block = max(256, 4 * batch_size)
    with tqdm(total=len(rows), disable=not progress, desc="embedding RGB + IR", unit="row") as bar:
        for batch in rows.select_columns(["rgb", "ir"]).iter(batch_size=block):
            rgb.append(embedder.embed_images(batch["rgb"], batch_size, modality="rgb"))
            ir.append(embedder.embed_images(batch["ir"], batch_size, modality="ir"))
            for modality in ("rgb", "ir"):
                thumbs[modality] += [thumbnail(image) for image in batch[modality]]
            bar.update(len(batch["rgb"]))
    return torch.cat(rgb), torch.cat(ir), {k: np.stack(v) for k, v in thumbs.items()}


def _flatten(captions: Sequence[Sequence[str]]) -> tuple[list[str], np.ndarray]:
    texts = [c for caps in captions for c in caps]
    owners = np.repeat(np.arange(len(captions)), [len(c) for c in captions])
    return texts, owners


# ---------------------------------------------------------------------------------------------- retrieval

def _directions(images: dict[str, "torch.Tensor"], texts: dict[str, tuple["torch.Tensor", np.ndarray]],
                pairs: Sequence[tuple[str, str]], ks, max_elements: int) -> tuple[dict, dict]:
    """R@K per direction "a->b" plus per-query ranks and owning rows (for the bootstrap)."""
    results, detail = {}, {}
    for a, b in pairs:
        q, ql = (images[a], np.arange(len(images[a]))) if a in images else texts[a]
        g, gl = (images[b], np.arange(len(images[b]))) if b in images else texts[b]
        ranks = retrieval_ranks(q, g, ql, gl, max_elements=max_elements).numpy()
        results[f"{a}->{b}"] = {**recall_at_k(ranks, ks), "n_queries": len(q), "n_gallery": len(g)}
        detail[f"{a}->{b}"] = (ranks, np.asarray(ql))
    return results, detail


def _mean_recall_ci(detail: dict, directions: Sequence[str], n_rows: int, ks, *, resamples: int = 1000,
                    confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Bootstrap CI of Mean Recall over evaluation rows (an image with its captions), gallery fixed."""
    hit_sums, counts = [], []
    for d in directions:
        ranks, owners = detail[d]
        count = np.bincount(owners, minlength=n_rows)
        for k in ks:
            hit_sums.append(np.bincount(owners, weights=(ranks <= k).astype(np.float64), minlength=n_rows))
            counts.append(count)
    sums, cnts = np.stack(hit_sums, 1), np.stack(counts, 1).astype(np.float64)
    rng = np.random.default_rng(seed)
    means = []
    for start in range(0, resamples, 100):  # weights of 100 resamples at a time bound memory at 100k rows
        b = min(100, resamples - start)
        weights = np.stack([np.bincount(rng.integers(0, n_rows, n_rows), minlength=n_rows) for _ in range(b)])
        with np.errstate(invalid="ignore", divide="ignore"):
            recalls = 100.0 * (weights @ sums) / (weights @ cnts)
        means.append(np.nanmean(recalls, axis=1))
    means = np.concatenate(means)
    alpha = (1 - confidence) / 2
    return {"low": float(np.quantile(means, alpha)), "high": float(np.quantile(means, 1 - alpha)),
            "confidence": confidence, "resamples": resamples, "seed": seed,
            "unit": "evaluation rows resampled with replacement, gallery fixed"}


# ---------------------------------------------------------------------------------------------- zero-shot

def _zero_shot(embedder: "ClipEmbedder", class_names: Sequence[str], rgb: "torch.Tensor", ir: "torch.Tensor",
               templates: dict[str, Sequence[str]] | None) -> dict[str, Any]:
    import torch

    from fusionrs.clip.zeroshot import RGB_TEMPLATES, classifier_weights, pretty_class_name, templates_for

    names = np.asarray(class_names)
    labelled = names != ""
    classes = sorted(set(names[labelled].tolist()))
    if len(classes) < 2:
        return {"skipped": f"needs >= 2 scene classes in class_name, found {len(classes)}"}
    target = torch.as_tensor(np.searchsorted(classes, names[labelled]))
    phrases = [pretty_class_name(c) for c in classes]
    templates = templates or {}
    runs = {"rgb": (rgb, templates.get("rgb", templates_for("rgb"))),
            "ir": (ir, templates.get("ir", templates_for("ir"))),
            "ir_with_rgb_templates": (ir, templates.get("rgb", RGB_TEMPLATES))}
    out: dict[str, Any] = {"classes": classes, "prompts": dict(zip(classes, phrases)), "n_images": int(labelled.sum()),
                           "chance": 100.0 / len(classes)}
    mask = torch.as_tensor(labelled)
    for name, (emb, temps) in runs.items():
        weights = classifier_weights(embedder, phrases, temps)
        logits = emb[mask] @ weights.T
        top = logits.topk(min(5, len(classes)), dim=1).indices
        out[name] = {"top1": float((top[:, 0] == target).float().mean() * 100),
                     "top5": float((top == target[:, None]).any(1).float().mean() * 100) if len(classes) >= 5 else None,
                     "templates": list(temps)}
    return out


# ---------------------------------------------------------------------------------------------- evaluate_clip

def evaluate_clip(model, data_dir: str | os.PathLike | None = None, split: str = "validation", *,
                  max_items: int | None = None, batch_size: int = 64, ks: Sequence[int] = DEFAULT_KS,
                  device=None, dtype=None, zero_shot: bool = True, templates: dict[str, Sequence[str]] | None = None,
                  max_elements: int | None = None, ci_resamples: int = 1000, progress: bool = False) -> dict[str, Any]:
    """Retrieval (6 directions + IR-aware), Mean Recall with a bootstrap CI and zero-shot scene accuracy.

    Args:
        model: a CLIP folder, a `ClipEmbedder`, or an in-memory `(model, processor)` pair.
        data_dir: a FusionRS dataset folder (None: the embedded procedural world sample).
        split: the split to evaluate ("validation", "test", ...).
        max_items: evaluate N representative rows evenly spaced over the split (quick checks).
        zero_shot: also classify scenes from `class_name` with prompt templates (RGB and IR).
        templates: {"rgb": [...], "ir": [...]} to override the default templates.
        max_elements: scores per similarity block (default `fusionrs.metrics.retrieval.DEFAULT_MAX_ELEMENTS`).
        batch_size: images per forward pass.
        ks: the K of R@K (default 1, 5, 10).
        device: the compute device; None picks one (a loaded embedder or pair keeps its own).
        dtype: the compute dtype; None picks one for the device.
        ci_resamples: bootstrap resamples for the Mean Recall CI (not computed for a single row).
        progress: show progress bars.

    Returns:
        A JSON-ready dict: `retrieval[direction]["R@1"|"R@5"|"R@10"]` (percent), `mean_recall`,
        `mean_recall_all`, `ir_aware`, `gallery_sizes`, `zero_shot`, and how rows were chosen.

    Raises:
        ValueError: when `max_items` is below 1.
        EvaluationDataError: when the dataset folder cannot be resolved or loaded, has no such
            split, no row of it has both images, or an evaluated row has no caption.
        ClipLoadError: when `model` names a folder or hub id that does not load as a CLIP model.
    """
    from fusionrs.clip.baselines import thumbnail_retrieval
    from fusionrs.metrics.retrieval import DEFAULT_MAX_ELEMENTS

    if max_items is not None and max_items < 1:
        raise ValueError(f"max_items must be >= 1, got {max_items}")
    max_elements = max_elements or DEFAULT_MAX_ELEMENTS
    embedder = _embedder(model, device, dtype)
    folder, ds = _load_split(data_dir, split)
    indices, policy, skipped = _eval_rows(ds, max_items)
    if not indices:
        raise EvaluationDataError(f"{folder}: split {split!r} has no rows with both an RGB and an IR image")
    rows = ds.select(indices)
    meta = rows.select_columns(["captions", "ir_captions", "class_name"])[:]
    if any(len(c) == 0 for c in meta["captions"]):
        bad = next(i for i, c in zip(rows["id"], meta["captions"]) if len(c) == 0)
        raise EvaluationDataError(f"{folder}: record {bad!r}, field 'captions': empty (every evaluated row needs one)")

    t0 = time.perf_counter()
    rgb, ir, thumbs = _embed_rows(embedder, rows, batch_size, progress)
    cap_texts, cap_owners = _flatten(meta["captions"])
    captions = embedder.embed_texts(cap_texts, progress=progress)
    aware_rows = np.flatnonzero([len(c) > 0 for c in meta["ir_captions"]])
    aware_texts, aware_local = _flatten([meta["ir_captions"][i] for i in aware_rows])
    aware = embedder.embed_texts(aware_texts, progress=progress) if aware_texts else None
    t_embed = time.perf_counter() - t0

    t0 = time.perf_counter()
    images = {"rgb": rgb, "ir": ir}
    pairs = [tuple(d.split("->")) for d in ALL_DIRECTIONS]
    retrieval, detail = _directions(images, {"caption": (captions, cap_owners)}, pairs, ks, max_elements)
    n = len(indices)
    result: dict[str, Any] = {
        "model": _describe(model), "data": str(folder), "split": split,
        "rows_in_split": len(ds), "rows_evaluated": n, "row_policy": policy,
        "rows_skipped_missing_image": skipped, "max_items": max_items,
        "gallery_sizes": {"images": n, "captions": len(cap_texts), "ir_captions": len(aware_texts),
                          "images_with_ir_captions": len(aware_rows)},
        "ks": list(ks),
        "retrieval": retrieval,
        "mean_recall": mean_recall(retrieval, PAPER_DIRECTIONS, ks),
        "mean_recall_directions": list(PAPER_DIRECTIONS),
        "mean_recall_ci": _mean_recall_ci(detail, PAPER_DIRECTIONS, n, ks, resamples=ci_resamples) if n > 1 else None,
        "mean_recall_all": mean_recall(retrieval, ALL_DIRECTIONS, ks),
        # the paper's mean mixes text and image directions; each pair of directions apart:
        "mean_recall_by_pair": {name: mean_recall(retrieval, dirs, ks) for name, dirs in MEAN_RECALL_PAIRS.items()},
        "baselines": {"thumbnail_16px_gray": {
            **thumbnail_retrieval(thumbs["rgb"], thumbs["ir"], ks),
            "note": "no learning: nearest neighbour of 16x16 grayscale thumbnails (zero mean, unit norm); the IR "
                    "is a function of the RGB, so a model's RGB<->IR recall means something only above this"}},
    }
    if aware is not None:
        sub_images = {"rgb": rgb[aware_rows], "ir": ir[aware_rows]}
        aware_pairs = [tuple(d.split("->")) for d in (*IR_AWARE_DIRECTIONS, "rgb->ir_caption", "ir_caption->rgb")]
        aware_results, _ = _directions(sub_images, {"ir_caption": (aware, aware_local)}, aware_pairs, ks, max_elements)
        result["ir_aware"] = {
            "rows": len(aware_rows), "retrieval": aware_results,
            "mean_recall": mean_recall(aware_results, IR_AWARE_DIRECTIONS, ks),
            "mean_recall_directions": list(IR_AWARE_DIRECTIONS),
            "note": "IR-aware captions as targets, on the rows that have them (RGB<->IR restricted to the same rows)",
        }
    else:
        result["ir_aware"] = {"skipped": "no row of this split has ir_captions"}
    t_retrieval = time.perf_counter() - t0

    t0 = time.perf_counter()
    result["zero_shot"] = _zero_shot(embedder, meta["class_name"], rgb, ir, templates) if zero_shot else {"skipped": "disabled"}
    result["timing_s"] = {"embedding": t_embed, "retrieval": t_retrieval, "zero_shot": time.perf_counter() - t0}
    result["device"], result["dtype"] = str(embedder.device), str(embedder.dtype).replace("torch.", "")
    return result


# ---------------------------------------------------------------------------------------------- RGB-T pairs

def _pair_sets(pairs_dir: Path) -> dict[str, Path]:
    if (pairs_dir / "rgb").is_dir() and (pairs_dir / "ir").is_dir():
        return {pairs_dir.name: pairs_dir}
    sets = {p.name: p for p in sorted(pairs_dir.iterdir()) if (p / "rgb").is_dir() and (p / "ir").is_dir()} \
        if pairs_dir.is_dir() else {}
    if not sets:
        raise EvaluationDataError(f"{pairs_dir}: no pair folder (expected rgb/ + ir/, or sub-folders that have them)")
    return sets


def _pair_files(folder: Path) -> list[tuple[Path, Path]]:
    def images(sub: str) -> dict[str, Path]:
        return {p.stem: p for p in (folder / sub).iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES}

    rgb, ir = images("rgb"), images("ir")
    return [(rgb[name], ir[name]) for name in sorted(rgb.keys() & ir.keys())]


def evaluate_rgbt_pairs(model, pairs_dir: str | os.PathLike, *, sets: Sequence[str] | None = None,
                        max_pairs: int | None = None, batch_size: int = 32, ks: Sequence[int] = DEFAULT_KS,
                        device=None, dtype=None) -> dict[str, Any]:
    """RGB<->IR retrieval on real visible/thermal pairs (e.g. a folder holding roadscene/ and llvip/).

    `pairs_dir` is one pair folder (rgb/ + ir/, files matched by stem) or a folder of them. A pair's
    partner is its only relevant item; Mean Recall = mean of R@1/5/10 over both directions.

    Args:
        model: a CLIP folder or hub id, a `ClipEmbedder`, or an in-memory `(model, processor)` pair.
        pairs_dir: a pair folder (rgb/ + ir/) or a folder of pair folders.
        sets: the names of the pair sets to evaluate; None evaluates all found.
        max_pairs: use at most the first N pairs (by file stem) of each set; None uses all.
        batch_size: images per forward pass.
        ks: the K of R@K (default 1, 5, 10).
        device: the compute device; None picks one.
        dtype: the compute dtype; None picks one for the device.

    Returns:
        {"pairs_dir", "model", "sets": {name: {"n_pairs", "retrieval" ("rgb->ir", "ir->rgb" R@K in
        percent), "mean_recall"}}, "mean_recall" (the mean over sets)}.

    Raises:
        EvaluationDataError: when `pairs_dir` holds no pair folder, a requested set is not found,
            or a set has fewer than 2 matched pairs.
        ClipLoadError: when `model` does not load as a CLIP model.
    """
    embedder = _embedder(model, device, dtype)
    found = _pair_sets(Path(pairs_dir))
    if sets is not None:
        missing = sorted(set(sets) - found.keys())
        if missing:
            raise EvaluationDataError(f"{pairs_dir}: no pair set {missing}; found {sorted(found)}")
        found = {name: found[name] for name in sets}
    out: dict[str, Any] = {"pairs_dir": str(pairs_dir), "model": _describe(model), "sets": {}}
    for name, folder in found.items():
        files = _pair_files(folder)[:max_pairs]
        if len(files) < 2:
            raise EvaluationDataError(f"{folder}: needs >= 2 rgb/ir pairs with matching names, found {len(files)}")
        rgb = embedder.embed_images([f[0] for f in files], batch_size, modality="rgb")
        ir = embedder.embed_images([f[1] for f in files], batch_size, modality="ir")
        retrieval, _ = _directions({"rgb": rgb, "ir": ir}, {}, [("rgb", "ir"), ("ir", "rgb")], ks, 2**25)
        out["sets"][name] = {"n_pairs": len(files), "retrieval": retrieval,
                             "mean_recall": mean_recall(retrieval, ("rgb->ir", "ir->rgb"), ks)}
    out["mean_recall"] = float(np.mean([s["mean_recall"] for s in out["sets"].values()]))
    return out


# ---------------------------------------------------------------------------------------------- HIT-UAV objects

def evaluate_object_presence(model, hit_uav_dir: str | os.PathLike, split: str = "val", *,
                             classes: dict[str, str] | None = None, templates: Sequence[str] | None = None,
                             max_images: int | None = None, batch_size: int = 32, device=None,
                             dtype=None) -> dict[str, Any]:
    """Zero-shot object presence on real thermal images: per-class ROC AUC of prompt scores vs boxes.

    Each image is scored per class by the cosine similarity between its embedding and the class's
    prompt-ensemble text embedding; the label is whether the image has at least one box of that
    class (HIT-UAV `{split}.jsonl`). AUC 0.5 = chance; it is undefined (None) for a class that is
    present in all or none of the images.

    Args:
        model: a CLIP folder or hub id, a `ClipEmbedder`, or an in-memory `(model, processor)` pair.
        hit_uav_dir: the HIT-UAV folder holding `{split}.jsonl` and the images it names.
        split: the manifest to read (default "val").
        classes: HIT-UAV label -> object phrase for the templates (default `HIT_UAV_CLASSES`).
        templates: prompt templates with one "{}" (default `OBJECT_TEMPLATES`).
        max_images: use at most the first N images of the manifest; None uses all.
        batch_size: images per forward pass.
        device: the compute device; None picks one.
        dtype: the compute dtype; None picks one for the device.

    Returns:
        {"hit_uav_dir", "split", "model", "n_images", "templates", "per_class": {label: {"auc",
        "n_positive", "n_negative", "prompt"}}, "mean_auc" (over classes with a defined AUC, or None)}.

    Raises:
        EvaluationDataError: when the manifest is missing, a line is not JSON, or it lists no image.
        ImageReadError: when an image the manifest names cannot be read.
        ClipLoadError: when `model` does not load as a CLIP model.
    """
    from fusionrs.clip.zeroshot import OBJECT_TEMPLATES, classifier_weights
    from fusionrs.core.image_io import load_image

    folder = Path(hit_uav_dir)
    manifest = folder / f"{split}.jsonl"
    if not manifest.is_file():
        raise EvaluationDataError(f"{manifest}: HIT-UAV manifest not found")
    rows = []
    for number, line in enumerate(manifest.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise EvaluationDataError(f"{manifest}, line {number}: not JSON ({error.msg})") from None
    rows = rows[:max_images]
    if not rows:
        raise EvaluationDataError(f"{manifest}: no images")
    classes = classes or HIT_UAV_CLASSES
    templates = tuple(templates or OBJECT_TEMPLATES)
    embedder = _embedder(model, device, dtype)
    images = embedder.embed_images([load_image(folder / r["file"], mode="L") for r in rows], batch_size, modality="ir")
    weights = classifier_weights(embedder, list(classes.values()), templates)
    scores = (images @ weights.T).numpy()
    per_class: dict[str, Any] = {}
    for j, label in enumerate(classes):
        present = np.array([any(o.get("label") == label for o in r.get("objects", [])) for r in rows])
        auc = roc_auc(scores[:, j], present)
        per_class[label] = {"auc": None if np.isnan(auc) else auc, "n_positive": int(present.sum()),
                            "n_negative": int((~present).sum()), "prompt": classes[label]}
    aucs = [c["auc"] for c in per_class.values() if c["auc"] is not None]
    return {"hit_uav_dir": str(folder), "split": split, "model": _describe(model), "n_images": len(rows),
            "templates": list(templates), "per_class": per_class,
            "mean_auc": float(np.mean(aucs)) if aucs else None}
