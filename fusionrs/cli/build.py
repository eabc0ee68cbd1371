"""`fusionrs build`: turn RGB caption archives (and real thermal sets) into a FusionRS dataset folder."""

from __future__ import annotations

import argparse

from fusionrs.cli.util import int_in_range, positive_int, split_sizes


def add_parser(sub) -> None:
    from fusionrs.data.sources import KINDS

    p = sub.add_parser(
        "build", help="build an RGB/IR/caption dataset folder from sources (resumable, distributed)",
        description="Sources are [NAME=]KIND:PATH with KIND in " + ", ".join(KINDS) + ". Rerun the same command to "
                    "resume after an interruption; run it under `accelerate launch` to shard the work.",
    )
    p.add_argument("sources", nargs="+", help="e.g. rsicd:DIR coco:ANN.json:IMAGES thermal:DIR synth:200")
    p.add_argument("--out", required=True, help="output dataset folder")
    p.add_argument("--translator", default="builtin:default",
                   help="RGB->IR translator spec: builtin:default (the packaged one-step translator, research-only: "
                        "RoadScene states no licence), grayscale, inverted_grayscale, linear:FILE, fusionrs:DIR, "
                        "diffv2ir:DIR (default: builtin:default)")
    p.add_argument("--captioner", default="none", help="IR-aware captioner (default: none)")
    p.add_argument("--split-policy", choices=["source", "resplit"], default="source",
                   help="keep the sources' own splits (default) or re-split whole groups")
    p.add_argument("--fractions", type=split_sizes, default={"train": 0.8, "validation": 0.1, "test": 0.1},
                   help="re-split fractions, e.g. train=0.8,validation=0.1,test=0.1")
    p.add_argument("--min-heldout", type=int, default=0, help="minimum held-out records per source and split")
    p.add_argument("--max-distance", type=int_in_range(0, 16), default=4, help="pHash Hamming distance for near-duplicates")
    p.add_argument("--rights", action="append", default=[], metavar="NAME=TEXT",
                   help="licence / rights note of a source (repeatable)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of synth: scenes, --split-policy resplit and --limit-per-source sampling (default: 0)")
    p.add_argument("--chunk-size", type=positive_int, default=64, help="records per staged chunk")
    p.add_argument("--synth-size", type=int_in_range(64, 512), default=256, help="image size of synth: sources")
    p.add_argument("--max-pixels", type=positive_int, default=None, help="refuse larger images (default: fusionrs limit)")
    p.add_argument("--max-chunk-pixels", type=positive_int, default=None, metavar="N",
                   help="decoded pixels a chunk holds at once while staging (default 256000000); memory only, "
                        "never content")
    p.add_argument("--limit-per-source", type=positive_int, default=None, metavar="N",
                   help="a seeded sample of N items of each source, stratified by class (each class its share, at "
                        "least one while N >= the number of classes; --seed picks which); recorded in the card")
    p.add_argument("--work-dir", help="staging folder (default: OUT.work)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output folder that fusionrs wrote (never a source, never a foreign folder)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fusionrs.data.sources import parse_source

    # Source specs are checked before the heavy builder is imported, so a typo fails fast.
    rights = dict(item.split("=", 1) for item in args.rights if "=" in item)
    specs = []
    for text in args.sources:
        spec = parse_source(text)
        specs.append(parse_source(text, rights=rights.get(spec.name)) if spec.name in rights else spec)
    # The output rule (also applied by the builder) before the heavy import: a refusal costs no second.
    from pathlib import Path

    from fusionrs.core.output_folder import check_output_folder

    inputs = [Path(p) for s in specs if s.kind != "synth" for p in (s.path, s.extra) if p and Path(p).exists()]
    check_output_folder(args.out, overwrite=args.overwrite, inputs=inputs, what="--out")

    from fusionrs.core.image_io import DEFAULT_MAX_PIXELS
    from fusionrs.data.build import BuildConfig, build_dataset

    config = BuildConfig(
        sources=specs, translator=args.translator, captioner=args.captioner, split_policy=args.split_policy,
        fractions=args.fractions, min_heldout_per_source=args.min_heldout, max_distance=args.max_distance,
        seed=args.seed, chunk_size=args.chunk_size, synth_size=args.synth_size,
        max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS, limit_per_source=args.limit_per_source,
        **({"max_chunk_pixels": args.max_chunk_pixels} if args.max_chunk_pixels else {}),
    )
    if args.translator == "builtin:default":
        print("translator: builtin:default (the packaged fusionrs one-step translator); licence: research-only "
              "(trained on RoadScene, which states no licence; commercial use: no)")
    report = build_dataset(config, args.out, work_dir=args.work_dir, overwrite=args.overwrite, progress=not args.quiet)
    if report.split_counts:  # rank 0
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(report.split_counts.items()))
        print(f"built {report.num_rows} records of {report.num_items} items in {report.out_dir} ({counts})")
        left_out = [f for f in report.failures if f["stage"] != "ir_caption_filter"]
        if left_out:
            print(f"{len(left_out)} items left out (reasons in {report.out_dir}/README.md), e.g. {left_out[0]['reason']}")
        stats = report.split_stats
        print(f"groups: {stats.get('n_groups')}, largest group: {stats.get('largest_group')}")
        if report.limit:
            print(f"--limit-per-source {report.limit['n']} (stratified by class, seed {report.limit['seed']}): "
                  + ", ".join(f"{s['name']} {s['picked']} of {s['listed']}" for s in report.limit["sources"]))
        restaged = f", {len(report.chunks_restaged)} restaged" if report.chunks_restaged else ""
        print(f"staged chunks: {report.chunks_staged} new, {report.chunks_reused} reused{restaged} ({report.work_dir})")
        for why in report.chunks_restaged:
            print(f"  restaged {why}")
        if report.leftovers_removed:
            print(f"removed {len(report.leftovers_removed)} leftovers of an interrupted run: "
                  + ", ".join(report.leftovers_removed[:3]) + (", ..." if len(report.leftovers_removed) > 3 else ""))
    return 0
