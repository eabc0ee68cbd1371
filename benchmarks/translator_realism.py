"""Aerial realism: translated RSICD/AID val images against real HIT-UAV val thermal, in a feature space no
training loss touches (EfficientNet-Lite0 ImageNet features, fusionrs.core.efficientnet_lite).

    python benchmarks/translator_realism.py --ours runs/translator/base/final --pix2pix-model runs/pix2pix/final \
        [--n 200 --subsets 100 --subset-size 100 --seed 0]

Rows: systems (ours, pix2pix, grayscale, inverted_grayscale, linear fitted on the RoadScene train pairs, as
benchmarks/translator.py `kid()`) applied to n RSICD/AID val images; reference rows: real RoadScene / LLVIP /
AOS thermal (every non-colour-mapped thermal image, up to n) and HIT-UAV train (n frames, the floor), each
against n real HIT-UAV val frames. Two figures per row:
1. KID (`fusionrs.metrics.kid.kid_from_features`, mean and std over `--subsets` random subsets);
2. the AUC of an L2-regularised logistic-regression probe (features standardised on the training folds)
   telling real HIT-UAV val from the row's images, stratified 5-fold cross-validation, AUC of the pooled
   held-out scores with a bootstrap 95% CI over held-out images (and the per-fold spread); 0.5 means
   indistinguishable.
Plus a contact sheet of 8 diverse scenes: RGB | ours | pix2pix | grayscale | nearest real HIT-UAV val frame
(nearest in feature space to the scene's grayscale image).
Writes --json (fusionrs.results format), --md (one table) and --sheet (PNG).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from fusionrs.core.hashing import folder_fingerprint

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
PROBE_L2 = 1e-1  # lambda of mean BCE + lambda/2 |w|^2 on standardised features
PROBE_FOLDS = 5
PROBE_ITERATIONS = 100
BOOTSTRAP_RESAMPLES = 2000


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, iterations: int) -> tuple[np.ndarray, float]:
    import torch

    xt, yt = torch.from_numpy(x.astype(np.float64)), torch.from_numpy(y.astype(np.float64))
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-9, tolerance_change=1e-12)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(xt @ w + b, yt) + 0.5 * l2 * (w @ w)
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), float(b.detach())


def probe_auc(real: np.ndarray, other: np.ndarray, *, folds: int = PROBE_FOLDS, l2: float = PROBE_L2,
              iterations: int = PROBE_ITERATIONS, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """AUC of a logistic-regression probe telling `other` (positive) from `real` on held-out folds.

    Stratified k-fold cross-validation (seeded shuffle within each class); features standardised with
    the training folds' mean/std; L2-regularised logistic regression (L-BFGS, fixed settings). The AUC is
    computed on the pooled out-of-fold scores (`fusionrs.metrics.retrieval.roc_auc`) with a percentile
    bootstrap 95% CI over held-out images (resampled within each class); the per-fold AUCs are reported too.

    Args:
        real: (n_real, d) features of the real images (label 0).
        other: (n_other, d) features of the images being judged (label 1).
        folds: number of folds (capped at the smaller class size; default 5).
        l2: lambda of the L2 penalty on the weights (mean BCE + lambda/2 |w|^2).
        iterations: L-BFGS iterations per fold.
        resamples: bootstrap resamples of the CI.
        seed: seed of the fold split and of the bootstrap.

    Returns:
        {"auc", "ci_low", "ci_high", "fold_aucs", "fold_mean", "fold_std", "folds", "n_real", "n_other",
        "l2"}; 0.5 = indistinguishable, 1.0 = perfectly separated.

    Raises:
        ValueError: either set has fewer than 2 rows, or the widths differ.
    """
    from fusionrs.metrics.retrieval import roc_auc

    real, other = np.asarray(real, np.float64), np.asarray(other, np.float64)
    if len(real) < 2 or len(other) < 2 or real.ndim != 2 or other.ndim != 2 or real.shape[1] != other.shape[1]:
        raise ValueError(f"need two (n >= 2, d) feature sets of the same width, got {real.shape} and {other.shape}")
    x = np.concatenate([real, other])
    y = np.concatenate([np.zeros(len(real)), np.ones(len(other))])
    k = min(folds, len(real), len(other))
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), int)
    for label in (0, 1):
        idx = np.flatnonzero(y == label)
        fold[rng.permutation(idx)] = np.arange(len(idx)) % k
    scores = np.empty(len(y))
    fold_aucs = []
    for f in range(k):
        train, test = fold != f, fold == f
        mean, std = x[train].mean(0), x[train].std(0) + 1e-6
        w, b = _fit_logistic((x[train] - mean) / std, y[train], l2, iterations)
        scores[test] = ((x[test] - mean) / std) @ w + b
        fold_aucs.append(roc_auc(scores[test], y[test]))
    auc = roc_auc(scores, y)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    boot = np.empty(resamples)
    for i in range(resamples):
        rows = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        boot[i] = roc_auc(scores[rows], y[rows])
    return {"auc": float(auc), "ci_low": float(np.percentile(boot, 2.5)), "ci_high": float(np.percentile(boot, 97.5)),
            "fold_aucs": [float(a) for a in fold_aucs], "fold_mean": float(np.mean(fold_aucs)),
            "fold_std": float(np.std(fold_aucs)), "folds": k, "n_real": len(real), "n_other": len(other), "l2": l2}


def _subset(items: list, n: int, seed: int) -> list:
    if len(items) <= n:
        return list(items)
    return [items[i] for i in sorted(random.Random(seed).sample(range(len(items)), n))]


def _pix2pix_predictor(model: str):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pix2pix import predictor

    return predictor(model)


def _load_predictions(folder: str, n: int, seed: int) -> list[np.ndarray]:
    from fusionrs.translate.data import load_image

    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() == ".png")
    if not files:
        raise SystemExit(f"--pix2pix-predictions {folder}: no PNG files")
    return [np.asarray(load_image(p, mode="L", max_pixels=None)) for p in _subset(files, n, seed)]


def _diverse(features: np.ndarray, k: int, seed: int) -> list[int]:
    """Farthest-point sampling from a seeded start: k indices that are spread out in feature space."""
    k = min(k, len(features))
    chosen = [int(np.random.default_rng(seed).integers(len(features)))]
    dist = np.linalg.norm(features - features[chosen[0]], axis=1)
    while len(chosen) < k:
        chosen.append(int(dist.argmax()))
        dist = np.minimum(dist, np.linalg.norm(features - features[chosen[-1]], axis=1))
    return chosen


def contact_sheet(columns: dict[str, list[np.ndarray | None]], path: str | Path, *, row_height: int = 128) -> dict[str, Any]:
    """Draw a grid of images (one column per key, header drawn with PIL) and save it as PNG.

    Args:
        columns: header -> one image per row (uint8 HxW or HxWx3; None draws an empty cell).
        path: the PNG file to write (folders created).
        row_height: the height of each row in pixels; cells keep the width of the widest image's aspect.

    Returns:
        {"path", "rows", "columns", "bytes"}.
    """
    from PIL import Image, ImageDraw, ImageFont

    headers = list(columns)
    rows = max(len(v) for v in columns.values())
    cell_w = int(row_height * 1.25)  # HIT-UAV frames are 5:4; square scenes are centred
    header_h = 20
    sheet = Image.new("RGB", (cell_w * len(headers), header_h + rows * row_height), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for c, header in enumerate(headers):
        draw.text((c * cell_w + 4, 4), header, fill="black", font=font)
        for r, image in enumerate(columns[header]):
            if image is None:
                continue
            im = Image.fromarray(np.asarray(image)).convert("RGB")
            scale = min(row_height / im.height, cell_w / im.width)
            im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.BICUBIC)
            sheet.paste(im, (c * cell_w + (cell_w - im.width) // 2, header_h + r * row_height + (row_height - im.height) // 2))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)
    return {"path": str(path), "rows": rows, "columns": headers, "bytes": path.stat().st_size}


def markdown(results: dict[str, Any]) -> str:
    """The Markdown table (row | KID x1e3 mean ± std | AUC [95% CI]) and the reference-vs-grayscale sentence.

    Args:
        results: the `results` dict of `run`.

    Returns:
        The Markdown text.
    """
    lines = [f"Aerial realism vs real HIT-UAV val thermal ({results['n_hit_uav_val']} frames), "
             f"{results['feature_extractor']}; KID over {results['subsets']} subsets of up to {results['subset_size']} "
             f"(capped at the smaller set; a row whose sets are no larger than that has std ~0); probe AUC (5-fold, pooled held-out, bootstrap 95% CI; 0.5 = indistinguishable).",
             "", "| row | n | KID x1e3 mean ± std | AUC [95% CI] |", "|---|---|---|---|"]
    for name, row in results["rows"].items():
        kid, auc = row["kid"], row["auc"]
        lines.append(f"| {name} | {kid['n_b']} | {kid['kid_mean'] * 1e3:.2f} ± {kid['kid_std'] * 1e3:.2f} | "
                     f"{auc['auc']:.3f} [{auc['ci_low']:.3f}, {auc['ci_high']:.3f}] |")
    lines += ["", results["reference_sentence"], ""]
    return "\n".join(lines)


def _reference_sentence(rows: dict[str, Any]) -> str:
    if "grayscale" not in rows:
        return "No grayscale row, so no comparison of other sensors' real thermal with grayscale."
    gray = rows["grayscale"]
    refs = [name for name in rows if name.startswith("real ") and "HIT-UAV" not in name]
    worse = [n for n in refs if rows[n]["kid"]["kid_mean"] > gray["kid"]["kid_mean"] and rows[n]["auc"]["auc"] > gray["auc"]["auc"]]
    mixed = [n for n in refs if n not in worse and (rows[n]["kid"]["kid_mean"] > gray["kid"]["kid_mean"]
                                                   or rows[n]["auc"]["auc"] > gray["auc"]["auc"])]
    parts = []
    if worse:
        parts.append(f"Real thermal of other sensors scores worse than grayscale on both figures: {', '.join(worse)}.")
    if mixed:
        parts.append(f"Worse than grayscale on one figure only: {', '.join(mixed)}.")
    if not worse and not mixed:
        parts.append("Real thermal of every other sensor scores better than grayscale on both figures.")
    return " ".join(parts)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Load the data, translate, extract features, score every row and draw the contact sheet.

    Args:
        args: the parsed command line (see `main`).

    Returns:
        The results dict (rows, datasets, timing, settings) that `main` writes.

    Raises:
        SystemExit: no pix2pix source and --allow-no-pix2pix not given, or an empty predictions folder.
    """
    from PIL import Image

    from fusionrs.core.efficientnet_lite import FEATURE_EXTRACTOR, efficientnet_lite0_features
    from fusionrs.metrics.kid import kid_from_features
    from fusionrs.translate.data import load_pairs, load_unpaired, split_roadscene
    from fusionrs.translate.evaluate import baseline_predictors, model_predictor

    data = Path(args.data)
    folders = {"rsicd_aid": data / "rsicd_aid", "hit_uav": data / "hit_uav", "roadscene": data / "rgbt_pairs" / "roadscene",
               "llvip": data / "rgbt_pairs" / "llvip", "aos": data / "aerial_pairs" / "aos_rgb_thermal"}
    timing: dict[str, float] = {}
    t = time.perf_counter()
    rgbs = load_unpaired(folders["rsicd_aid"], split="val", limit=args.n, mode="RGB", seed=args.seed)
    hit_val = load_unpaired(folders["hit_uav"], split="val", limit=args.n, mode="L", seed=args.seed)
    hit_train = load_unpaired(folders["hit_uav"], split="train", limit=args.n, mode="L", seed=args.seed)
    references: dict[str, list[np.ndarray]] = {}
    for key, label in (("roadscene", "real RoadScene thermal"), ("llvip", "real LLVIP thermal"), ("aos", "real AOS thermal")):
        if folders[key].is_dir():
            pairs = load_pairs(folders[key], max_side=640).pairs
            references[label] = _subset([p.ir for p in pairs], args.n, args.seed)
    references["real HIT-UAV train (floor)"] = hit_train
    rs = folders["roadscene"]
    baselines = baseline_predictors(load_pairs(rs, names=set(split_roadscene(rs)["train"])).pairs)
    timing["load_s"] = time.perf_counter() - t

    t = time.perf_counter()
    systems: dict[str, list[np.ndarray]] = {"ours": model_predictor(args.ours)(rgbs)}
    timing["translate_ours_s"] = time.perf_counter() - t
    t = time.perf_counter()
    pix2pix_fn = _pix2pix_predictor(args.pix2pix_model) if args.pix2pix_model else None
    if pix2pix_fn is not None:
        systems["pix2pix"] = pix2pix_fn(rgbs)
    elif args.pix2pix_predictions:
        systems["pix2pix"] = _load_predictions(args.pix2pix_predictions, args.n, args.seed)
    elif not args.allow_no_pix2pix:
        raise SystemExit("give --pix2pix-model or --pix2pix-predictions (or --allow-no-pix2pix)")
    timing["translate_pix2pix_s"] = time.perf_counter() - t
    t = time.perf_counter()
    for name in ("grayscale", "inverted_grayscale", "linear"):
        systems[name] = baselines[name](rgbs)
    timing["translate_baselines_s"] = time.perf_counter() - t

    t = time.perf_counter()

    def feats(images):
        return efficientnet_lite0_features([Image.fromarray(np.asarray(a)) for a in images],
                                           batch_size=args.batch_size, progress=args.progress)

    real = feats(hit_val)
    features = {name: feats(images) for name, images in (systems | references).items()}
    rgb_features = feats(rgbs)
    n_images = len(hit_val) + len(rgbs) + sum(len(v) for v in (systems | references).values())
    timing["features_s"] = time.perf_counter() - t
    timing["features_images"] = n_images

    t = time.perf_counter()
    rows = {}
    for name, f in features.items():
        rows[name] = {"kid": kid_from_features(real, f, subset_size=args.subset_size, n_subsets=args.subsets, seed=args.seed),
                      "auc": probe_auc(real, f, seed=args.seed)}
    timing["scoring_s"] = time.perf_counter() - t

    t = time.perf_counter()
    sheet = None
    if args.sheet:
        chosen = _diverse(rgb_features, 8, args.seed)
        gray_f = features["grayscale"]
        nearest = [int(np.linalg.norm(real - gray_f[i], axis=1).argmin()) for i in chosen]
        columns = {"RGB": [rgbs[i] for i in chosen], "ours": [systems["ours"][i] for i in chosen],
                   "pix2pix": [systems["pix2pix"][i] for i in chosen] if pix2pix_fn is not None else [None] * len(chosen),
                   "grayscale": [systems["grayscale"][i] for i in chosen],
                   "nearest real HIT-UAV": [hit_val[j] for j in nearest]}
        sheet = contact_sheet(columns, args.sheet) | {"rsicd_rows": chosen, "hit_uav_val_rows": nearest}
    timing["sheet_s"] = time.perf_counter() - t

    ours_id = None
    config = Path(args.ours) / "translator_config.json"
    if config.is_file():
        import json

        text = config.read_text()
        cfg = json.loads(text)
        ours_id = {"translator_id": cfg.get("translator_id"), "training_out": (cfg.get("training") or {}).get("out"),
                   "preset": cfg.get("preset"), "config_sha256": hashlib.sha256(text.encode()).hexdigest()}
    results = {
        "feature_extractor": FEATURE_EXTRACTOR, "n": args.n, "n_rsicd_aid_val": len(rgbs), "n_hit_uav_val": len(hit_val),
        "subsets": args.subsets, "subset_size": args.subset_size, "seed": args.seed,
        "probe": {"model": "logistic regression (L-BFGS), standardised on training folds", "l2": PROBE_L2,
                  "folds": PROBE_FOLDS, "iterations": PROBE_ITERATIONS, "bootstrap_resamples": BOOTSTRAP_RESAMPLES},
        "ours": {"folder": str(args.ours), "translator_id": ours_id},
        "pix2pix": {"model": args.pix2pix_model, "predictions": None if pix2pix_fn else args.pix2pix_predictions},
        "linear_fitted_on": "RoadScene train split (split_roadscene)",
        "datasets": {k: folder_fingerprint(v) for k, v in folders.items()},
        "rows": rows, "sheet": sheet, "timing_s": timing,
    }
    results["reference_sentence"] = _reference_sentence(rows)
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line entry point: run, write the JSON / Markdown, print the Markdown.

    Args:
        argv: the arguments (default sys.argv[1:]).

    Returns:
        The payload written to --json (fusionrs.results format).
    """
    from fusionrs.results import write_results

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ours", required=True, help="a trained fusionrs translator folder (or any get_translator spec)")
    p.add_argument("--pix2pix-model", default=None, metavar="DIR", help="a benchmarks/pix2pix.py final/ folder")
    p.add_argument("--pix2pix-predictions", default=None, metavar="DIR",
                   help="PNG pix2pix predictions of RSICD/AID val images (unpaired; no pix2pix column on the sheet)")
    p.add_argument("--allow-no-pix2pix", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--data", default=str(DATA), help="the shared data folder (default ../shared/data)")
    p.add_argument("--n", type=int, default=200, help="RSICD/AID val images and HIT-UAV val / train frames (default 200)")
    p.add_argument("--subsets", type=int, default=100)
    p.add_argument("--subset-size", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--progress", action="store_true")
    p.add_argument("--json", default="benchmarks/translator_realism.json")
    p.add_argument("--md", default="benchmarks/translator_realism.md")
    p.add_argument("--sheet", default="docs/images/translator_aerial_sheet.png")
    args = p.parse_args(argv)
    if args.subsets < 20:
        p.error("--subsets must be >= 20")
    start = time.perf_counter()
    results = run(args)
    results["wall_s"] = time.perf_counter() - start
    command = "python benchmarks/translator_realism.py " + " ".join(sys.argv[1:] if argv is None else argv)
    payload = write_results(args.json, results, command=command, seed=args.seed)
    text = markdown(results)
    if args.md:
        Path(args.md).parent.mkdir(parents=True, exist_ok=True)
        Path(args.md).write_text(text)
    print(text)
    return payload


if __name__ == "__main__":
    main()
