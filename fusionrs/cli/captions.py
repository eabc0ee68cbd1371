"""`fusionrs captions`: (re)caption a dataset folder with IR-aware captions, strict filter included."""

from __future__ import annotations

import argparse

from fusionrs.cli.util import positive_int


def add_parser(sub) -> None:
    p = sub.add_parser(
        "captions", help="write IR-aware captions for a dataset folder into a new folder (strict filter, report)",
        description="BACKEND is grounded (no model), local:PATH_OR_NAME (local:smollm2 = the packaged "
                    "SmolLM2-135M-Instruct) or openai:URL:MODEL (vLLM, TGI, llama.cpp, ...). The same names work "
                    "for `fusionrs build --captioner`. Rerun to resume: openai replies are cached.",
    )
    p.add_argument("--data", required=True, help="input dataset folder")
    p.add_argument("--backend", required=True, help="grounded | local:PATH_OR_NAME | openai:URL:MODEL")
    p.add_argument("--out", required=True, help="output dataset folder (new)")
    p.add_argument("--cache-dir", help="reply cache folder of the openai backend (default: fusionrs cache)")
    p.add_argument("--concurrency", type=positive_int, default=8, help="parallel requests (openai backend)")
    p.add_argument("--mode", choices=["image", "text", "both"], default="image",
                   help="openai backend: send the IR image, the measured summary, or both")
    p.add_argument("--batch-size", type=positive_int, default=None, help="records per batch (local backend)")
    p.add_argument("--keep-existing", action="store_true", help="keep a row's old IR captions when the new one is rejected")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output folder that fusionrs wrote (never the input, never a foreign folder)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fusionrs.captions import get_captioner
    from fusionrs.data.recaption import recaption_folder

    kwargs = {}
    if args.backend.startswith("openai:"):
        kwargs = {"concurrency": args.concurrency, "mode": args.mode}
        if args.cache_dir:
            kwargs["cache_dir"] = args.cache_dir
    elif args.backend.startswith("local:"):
        kwargs = {"progress": False}
        if args.batch_size:
            kwargs["batch_size"] = args.batch_size
    try:
        captioner = get_captioner(args.backend, **kwargs)
    except ValueError as exc:
        from fusionrs.errors import FusionRSError

        raise FusionRSError(str(exc)) from None
    report = recaption_folder(args.data, args.out, captioner, overwrite=args.overwrite, progress=not args.quiet,
                              keep_existing=args.keep_existing)
    total = report["accepted"] + report["rejected"]
    print(f"{report['accepted']} of {total} IR-aware captions kept ({args.out}); rejected by reason: "
          + (", ".join(f"{k}: {v}" for k, v in report["ir_caption_filter_counts"].items()) or "none"))
    return 0
