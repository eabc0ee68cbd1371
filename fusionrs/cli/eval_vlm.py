"""`fusionrs eval vlm`: caption metrics of a captioner on a dataset split, and/or HIT-UAV VQA EM / F1."""

from __future__ import annotations

import argparse

from fusionrs.cli.util import positive_int
from fusionrs.vlm.chat import MODES


def add_parser(sub) -> None:
    p = sub.add_parser("vlm", help="evaluate a captioning VLM (captions on a split; HIT-UAV VQA)")
    p.add_argument("--model", required=True, help="merged model folder or peft adapter folder")
    p.add_argument("--base-model", metavar="DIR_OR_ID",
                   help="with an adapter --model: its base (folder or hub id) instead of its base_model_name_or_path")
    p.add_argument("--data", help="FusionRS dataset folder (caption metrics)")
    p.add_argument("--json", required=True, metavar="OUT", help="results JSON (fusionrs.results format)")
    p.add_argument("--split", default="validation")
    p.add_argument("--n", type=positive_int, help="seeded sample of N evaluation representatives (default: all)")
    p.add_argument("--mode", choices=MODES, help="input mode; ir-official: the authors' IR-only prompts "
                   "(default: the model's, else rgb+ir)")
    p.add_argument("--task", choices=("caption", "ir_aware_caption", "both"), default="both")
    p.add_argument("--hit-uav", metavar="DIR", help="also answer HIT-UAV VQA questions (IR only)")
    p.add_argument("--vqa-split", default="val")
    p.add_argument("--vqa-manifest", metavar="FILE",
                   help="instead of our questions: a manifest by the authors' protocol (`fusionrs vqa manifest`, or "
                        "their file), answered in their format and scored by their parser; images from --hit-uav; "
                        "replies also written to OUT's stem + _predictions.jsonl for `fusionrs vqa score`")
    p.add_argument("--vqa-n", type=positive_int, help="seeded sample of N VQA questions (default: all)")
    p.add_argument("--max-new-tokens", type=positive_int, default=40)
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=positive_int, help="torch CPU threads")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json
    import random
    import sys

    from fusionrs.errors import FusionRSError
    from fusionrs.results import write_results
    from fusionrs.vlm.compose import read_vlm_config
    from fusionrs.vlm.generate import load_vlm

    if not args.data and not args.hit_uav:
        raise FusionRSError("give --data DIR (captions) and/or --hit-uav DIR (VQA)")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    model, processor = load_vlm(args.model, base_model=args.base_model)
    mode = args.mode or read_vlm_config(args.model).get("mode") or "rgb+ir"
    results: dict = {"model": str(args.model), "mode": mode}
    if args.base_model:
        results["base_model"] = str(args.base_model)
    if args.data:
        from fusionrs.data.loading import load_dataset
        from fusionrs.vlm.evaluate import evaluate_captions, representative_subset

        dataset = load_dataset(args.data, split=args.split)
        indices = representative_subset(dataset, args.n, seed=args.seed)
        rows = [dataset[i] for i in indices]
        results["captions"] = {"split": args.split, "n": len(rows), "subset_seed": args.seed}
        tasks = ("caption", "ir_aware_caption") if args.task == "both" else (args.task,)
        for task in tasks:
            results["captions"][task] = evaluate_captions(model, processor, rows, mode=mode, task=task,
                                                          max_new_tokens=args.max_new_tokens,
                                                          batch_size=args.batch_size)
    if args.vqa_manifest:
        if not args.hit_uav:
            raise FusionRSError("--vqa-manifest needs --hit-uav DIR (the folder holding its images)")
        from pathlib import Path

        from fusionrs.vlm.evaluate import evaluate_official_vqa
        from fusionrs.vlm.official_vqa import read_official_manifest, write_predictions

        manifest = read_official_manifest(args.vqa_manifest)
        if args.vqa_n and args.vqa_n < len(manifest):
            manifest = random.Random(args.seed).sample(manifest, args.vqa_n)
        official = evaluate_official_vqa(model, processor, manifest, args.hit_uav, batch_size=args.batch_size)
        out = Path(args.json)
        replies = write_predictions(out.with_name(out.stem + "_predictions.jsonl"), official.pop("predictions"))
        results["official_vqa"] = {"manifest": str(args.vqa_manifest), "predictions": str(replies), **official}
    elif args.hit_uav:
        from fusionrs.vlm.evaluate import evaluate_vqa
        from fusionrs.vlm.vqa_data import build_vqa_manifest

        manifest = build_vqa_manifest(args.hit_uav, args.vqa_split)
        if args.vqa_n and args.vqa_n < len(manifest):
            manifest = random.Random(args.seed).sample(manifest, args.vqa_n)
        results["vqa"] = evaluate_vqa(model, processor, manifest, args.hit_uav, batch_size=args.batch_size)
    write_results(args.json, results, command=" ".join(["fusionrs"] + sys.argv[1:]), seed=args.seed)
    summary = {}
    for task, value in results.get("captions", {}).items():
        if isinstance(value, dict) and "coco" in value:
            summary[task] = {k: value["coco"][k] for k in ("BLEU-4", "ROUGE-L", "CIDEr-D")}
    if "vqa" in results:
        summary["vqa"] = {k: results["vqa"]["scores"][k] for k in ("exact_match", "token_f1")}
    if "official_vqa" in results:
        summary["official_vqa"] = {reading: results["official_vqa"][reading]["overall"]
                                   for reading in ("official", "strict")}
    print(json.dumps(summary, indent=2))
    return 0
