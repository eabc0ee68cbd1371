"""Evaluation sets of `fusionrs eval translator` (and benchmarks/translator.py): pairs to score, pairs the
linear baseline is fitted on, and the KID block. `args` is any object with the CLI's attribute names;
`args.split` (default "validation") picks the RoadScene names: "validation" (the 40 committed names),
"tune" (the 11 tuning names of a `--tune 11` run) or "screening" (those 11 plus 20 more training
pairs held out while screening, `fusionrs.translate.data.screening_split`).
"""

from __future__ import annotations

__all__ = ["SPLITS", "eval_pairs", "kid_block", "linear_pairs"]

SPLITS = ("validation", "tune", "screening")


def _split(args) -> str:
    from fusionrs.errors import FusionRSError

    split = getattr(args, "split", None) or "validation"
    if split not in SPLITS:
        raise FusionRSError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return split


def eval_pairs(spec: str, args):
    """Evaluation pairs for `spec`: `world:N` (seed `args.world_seed`), a RoadScene folder (its validation
    split, or `args.split`) or any pair folder; `args` needs world_seed, world_size.

    Args:
        spec: `world:N` (N procedural world scenes), a folder named `roadscene` (case-insensitive),
            or any pair folder (`rgb/` + `ir/`).
        args: an object with `world_seed` and `world_size` attributes (the CLI's parsed arguments)
            and optionally `split` (one of `SPLITS`, default "validation"; RoadScene only).

    Returns:
        A list of `Pair`s: the N world scenes, the RoadScene names of the split, or every pair of
        the folder (colour-mapped IR dropped). Folder errors (`FileNotFoundError`) propagate.

    Raises:
        FusionRSError: an unknown split, or a split other than "validation" for pairs that are not
            a RoadScene folder.
    """
    from pathlib import Path

    from fusionrs.errors import FusionRSError
    from fusionrs.translate.data import load_pairs, screening_split, split_roadscene, world_pairs

    split = _split(args)
    folder = Path(spec)
    roadscene = not spec.startswith("world:") and folder.name.lower() == "roadscene"
    if split != "validation" and not roadscene:
        raise FusionRSError(f"--split {split} needs a RoadScene folder as --pairs, got {spec!r}")
    if spec.startswith("world:"):
        return world_pairs(range(int(spec.split(":", 1)[1])), seed=args.world_seed, size=args.world_size).pairs
    if roadscene:
        names = split_roadscene(folder)["validation"] if split == "validation" else screening_split(folder)[split]
        return load_pairs(folder, names=set(names)).pairs
    return load_pairs(folder).pairs


def linear_pairs(spec: str | None, pairs_spec: str, args):
    """Pairs the linear baseline is fitted on (`spec`, else `pairs_spec`); `args` needs seed, world_size.

    Args:
        spec: the `--linear-from` value: `world:N` or a RoadScene folder; None falls back to `pairs_spec`.
        pairs_spec: the evaluation pairs spec (as given to `eval_pairs`).
        args: an object with `seed` and `world_size` attributes.

    Returns:
        A list of `Pair`s: N world scenes generated with seed `args.seed + 1000` (the training
        world, disjoint from the evaluation scenes), or the RoadScene train split (for
        `args.split` "tune" or "screening": the training names of `screening_split`, so the fit
        never sees a pair it is scored on).

    Raises:
        FusionRSError: when the chosen spec is neither `world:N` nor a folder named `roadscene`.
    """
    from pathlib import Path

    from fusionrs.errors import FusionRSError
    from fusionrs.translate.data import load_pairs, screening_split, split_roadscene, world_pairs

    spec = spec or pairs_spec
    if spec.startswith("world:"):
        # the world the models train on (TrainConfig uses seed + 1000), disjoint from --world-seed scenes
        return world_pairs(range(int(spec.split(":", 1)[1])), seed=args.seed + 1000, size=args.world_size).pairs
    folder = Path(spec)
    if folder.name.lower() == "roadscene":
        train = split_roadscene(folder)["train"] if _split(args) == "validation" else screening_split(folder)["train"]
        return load_pairs(folder, names=set(train)).pairs
    raise FusionRSError(f"--linear-from is needed for {pairs_spec!r}: give a RoadScene folder, world:N or linear:FILE")


def kid_block(args, model, baselines) -> dict:
    """KID between translated aerial RGB (val) and real aerial thermal (val) for model and baselines.

    Needs `fusionrs.metrics.kid.kid_score(real_images, generated_images)` (DINOv2-S features);
    reports why it was skipped otherwise.

    Args:
        args: an object with `kid_rgb` and `kid_thermal` (unpaired dataset folders, see
            `load_unpaired`), `kid_n` (images per side, or None for all) and `seed`.
        model: the model's predictor (a list of RGB uint8 arrays -> a list of IR uint8 arrays), or None.
        baselines: predictors by name (as from `baseline_predictors`), or any (name, predictor) pairs.

    Returns:
        {"n_rgb", "n_thermal", "rgb", "thermal", and one `kid_score` result dict per system
        ("model" first when given)}, or {"skipped": reason} when `fusionrs.metrics.kid.kid_score`
        cannot be imported.
    """
    import importlib

    from PIL import Image

    from fusionrs.translate.data import load_unpaired

    try:
        kid_score = importlib.import_module("fusionrs.metrics.kid").kid_score
    except (ImportError, AttributeError) as exc:
        return {"skipped": f"fusionrs.metrics.kid.kid_score unavailable: {exc}"}
    rgbs = load_unpaired(args.kid_rgb, split="val", limit=args.kid_n, mode="RGB", seed=args.seed)
    thermal = [Image.fromarray(a) for a in load_unpaired(args.kid_thermal, split="val", limit=args.kid_n, mode="L", seed=args.seed)]
    systems = ({"model": model} if model is not None else {}) | dict(baselines)
    out = {"n_rgb": len(rgbs), "n_thermal": len(thermal), "rgb": args.kid_rgb, "thermal": args.kid_thermal}
    for name, fn in systems.items():
        out[name] = kid_score(thermal, [Image.fromarray(a) for a in fn(rgbs)])
    return out
