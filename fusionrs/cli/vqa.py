"""`fusionrs vqa manifest|prior|score`: HIT-UAV real-thermal VQA by the FusionRS authors' protocol."""

from __future__ import annotations

import argparse
from pathlib import Path

from fusionrs.cli.util import positive_int
from fusionrs.core.atomic import write_json_atomic


def add_parser(sub) -> None:
    parser = sub.add_parser("vqa", help="HIT-UAV real-thermal VQA by the authors' protocol: manifest, prior, score",
                            description="Build HIT-UAV VQA manifests with the FusionRS release's rules, answer them "
                                        "with answer priors, and score predictions with the release's parser "
                                        "(plus a strict exact-match reading). See docs/vlm.md.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser), required=True)

    p = actions.add_parser("manifest", help="write a split's manifest from HIT-UAV annotations")
    p.add_argument("--annotations", required=True,
                   help="HIT-UAV annotations of one split: COCO .json (annotations/test.json) or .jsonl")
    p.add_argument("--out", required=True, help="manifest .jsonl to write (a .summary.json is written beside it)")
    p.add_argument("--locator-folder", default=None,
                   help="folder part of image_locator (default: the annotation file's stem, e.g. val; "
                        "the release writes test)")
    p.add_argument("--seed", type=int, default=None, help="presence-choice seed (default: the release's 20260726)")
    p.set_defaults(run=run_manifest)

    p = actions.add_parser("prior", help="answer a manifest with the train manifest's majority answers")
    p.add_argument("--train-manifest", required=True, help="manifest of the split the answers are counted on")
    p.add_argument("--manifest", required=True, help="manifest to answer")
    p.add_argument("--by", choices=["type_class", "type"], default="type_class",
                   help="majority per (question type, class) or per question type")
    p.add_argument("--out", required=True, help="predictions .jsonl to write ({question_id, prediction})")
    p.set_defaults(run=run_prior)

    p = actions.add_parser("score", help="score a predictions file on a manifest (official and strict readings)")
    p.add_argument("--manifest", required=True, help="manifest .jsonl or .jsonl.gz (ours or the release's)")
    p.add_argument("--predictions", required=True, help=".jsonl of {question_id, prediction}")
    p.add_argument("--out", required=True, help="report .json to write")
    p.add_argument("--bootstrap", type=positive_int, default=1000, help="bootstrap draws (default 1000)")
    p.add_argument("--seed", type=int, default=42, help="bootstrap seed (default 42, the release's)")
    p.set_defaults(run=run_score)


def run_manifest(args: argparse.Namespace) -> int:
    from fusionrs.vlm.official_vqa import (
        OFFICIAL_RULES, build_official_manifest, load_annotations, manifest_summary, write_official_manifest,
    )

    annotations = Path(args.annotations)
    folder = args.locator_folder or annotations.name.split(".")[0]
    seed = OFFICIAL_RULES["seed"] if args.seed is None else args.seed
    rows = build_official_manifest(load_annotations(annotations), seed=seed, locator_folder=folder)
    out = write_official_manifest(rows, args.out)
    summary = {**manifest_summary(rows), "annotations": str(annotations), "locator_folder": folder, "seed": seed}
    write_json_atomic(out.with_name(out.name + ".summary.json"), summary)
    counts = ", ".join(f"{n} {t}" for t, n in summary["question_type_counts"].items())
    print(f"{out}: {summary['questions']} questions on {summary['images']} images ({counts})")
    return 0


def run_prior(args: argparse.Namespace) -> int:
    from fusionrs.metrics.official_vqa import prior_predictions
    from fusionrs.vlm.official_vqa import read_official_manifest, write_predictions

    predictions = prior_predictions(read_official_manifest(args.train_manifest),
                                    read_official_manifest(args.manifest), by=args.by)
    write_predictions(args.out, predictions)
    print(f"{args.out}: {len(predictions)} prior answers (majority per {args.by.replace('_', ' and ')})")
    return 0


def run_score(args: argparse.Namespace) -> int:
    from fusionrs.errors import HitUavError
    from fusionrs.metrics.official_vqa import score_official_vqa
    from fusionrs.vlm.official_vqa import read_official_manifest, read_predictions

    manifest = read_official_manifest(args.manifest)
    predictions = read_predictions(args.predictions)
    try:
        report = score_official_vqa(manifest, predictions, seed=args.seed,
                                    bootstrap=args.bootstrap)
    except ValueError as exc:
        raise HitUavError(f"{args.predictions}: {exc}") from None
    report = {"manifest": str(args.manifest), "predictions": str(args.predictions), **report}
    write_json_atomic(args.out, report)
    for reading in ("official", "strict"):
        overall = report[reading]["overall"]
        low, high = overall["accuracy_ci95"]
        per_type = ", ".join(f"{t} {s['accuracy']:.2f}" for t, s in report[reading]["by_type"].items())
        print(f"{reading}: {overall['accuracy']:.2f} [{low:.2f}, {high:.2f}] ({per_type})")
    if report["missing_predictions"]:
        print(f"{report['missing_predictions']} question(s) had no prediction and count as wrong")
    return 0
