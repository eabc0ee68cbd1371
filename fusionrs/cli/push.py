"""`fusionrs push dataset|model|space DIR --repo ORG/NAME`: check the folder, write its card, upload.

Prints the repo URL and every uploaded file; `--dry-run` lists the files and the rendered card
without network (it works offline). A Space folder with the `# fusionrs-wheel` line in its requirements.txt
(spaces/fusionrs/) gets fusionrs's wheel built (or `--wheel`), uploaded and pinned by its hub URL."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("push", help="upload a dataset, model or Space folder to the hub (card written and checked)")
    p.add_argument("kind", choices=["dataset", "model", "space"], help="what the folder holds")
    p.add_argument("folder", help="dataset folder (README.md + data/*.parquet), model folder or Space folder")
    p.add_argument("--repo", required=True, metavar="ORG/NAME", help="hub repo id to create (if needed) and upload to")
    p.add_argument("--private", action="store_true", help="create the repo private (ignored if it exists)")
    p.add_argument("--token", default=None, help="hub token (default: HF_TOKEN or the `hf auth login` token)")
    p.add_argument("--dry-run", action="store_true", help="list the files and print the card; upload nothing")
    p.add_argument("--model-kind", choices=["translator", "clip", "vlm"], default=None,
                   help="model kind (default: detected from the folder)")
    p.add_argument("--base-model", action="append", default=None, metavar="ID", help="base model hub id (repeatable)")
    p.add_argument("--dataset", action="append", default=None, metavar="ID_OR_DIR",
                   help="training dataset: hub id (listed in the card) or local folder (read for licence rights); repeatable")
    p.add_argument("--eval", action="append", default=None, metavar="JSON",
                   help="eval results JSON (fusionrs eval ...) for the card's model-index; repeatable")
    p.add_argument("--eval-dataset", default=None, metavar="ID", help="dataset id/name the eval results refer to")
    p.add_argument("--training-data", action="append", default=None, metavar="NAME",
                   help="training source name for licence inheritance, e.g. llvip (repeatable)")
    p.add_argument("--license", default=None, help="hub licence id (never relaxes non-commercial training data)")
    p.add_argument("--keep-card", action="store_true", help="upload the folder's own README.md (still validated)")
    p.add_argument("--show-card", action="store_true", help="print the card after pushing (always with --dry-run)")
    p.add_argument("--wheel", default=None, metavar="WHL",
                   help="space: the fusionrs wheel to upload and pin (default: built from this source checkout)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fusionrs.hub.push import describe, push_folder

    card_options = {
        "base_model": args.base_model,
        "datasets": args.dataset,
        "eval_json": args.eval,
        "eval_dataset": args.eval_dataset,
        "training_data": args.training_data,
        "license": args.license,
    }
    report = push_folder(
        args.kind, args.folder, args.repo, private=args.private, token=args.token, dry_run=args.dry_run,
        model_kind=args.model_kind, keep_card=args.keep_card,
        card_options={k: v for k, v in card_options.items() if v is not None}, space_wheel=args.wheel,
    )
    print(describe(report, show_card=args.dry_run or args.show_card))
    return 0
