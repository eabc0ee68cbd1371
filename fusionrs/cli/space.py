"""`fusionrs space`: serve the Gradio Space locally (the same app as spaces/fusionrs/app.py).

Unset options fall back to `FUSIONRS_SPACE_*` environment variables, then to the defaults: the locally
trained translator when one exists (else a fitted linear baseline), no CLIP/VLM (those tabs say so), and
the embedded world dataset.
"""

from __future__ import annotations

import argparse

from fusionrs.cli.util import int_in_range, positive_int


def _yes_no(text: str) -> bool:
    value = text.strip().lower()
    if value in ("yes", "y", "true", "1"):
        return True
    if value in ("no", "n", "false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def add_parser(sub) -> None:
    p = sub.add_parser("space", help="launch the Gradio Space (translation, captions, CLIP, dataset browser)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for a LAN)")
    p.add_argument("--port", type=int_in_range(1, 65535), default=None,
                   help="port (default: 7860 or the next free one)")
    p.add_argument("--translator", default=None,
                   help="translator spec: fusionrs:DIR, diffv2ir:DIR, linear:FILE, grayscale (default: the locally "
                        "trained one under runs/, else a linear fit)")
    p.add_argument("--clip", default=None, metavar="DIR", help="CLIP model folder (enables zero-shot and search)")
    p.add_argument("--vlm", default=None, metavar="DIR", help="rgb-ir-captioning model folder")
    p.add_argument("--no-local-models", action="store_true",
                   help="do not fall back to the CLIP / captioner that `make run` trained (runs/mini)")
    p.add_argument("--data", default=None, metavar="DIR", help="dataset folder for the browser and the gallery "
                                                               "(default: the embedded world dataset)")
    p.add_argument("--share", type=_yes_no, default=False, metavar="yes|no",
                   help="create a public gradio.live link (default no; needs internet)")
    p.add_argument("--max-megapixels", type=_positive_float, default=None, help="upload limit (default 16)")
    p.add_argument("--max-upload-mb", type=_positive_float, default=None, help="upload limit (default 20)")
    p.add_argument("--concurrency", type=positive_int, default=None, help="jobs per event at once (default 2)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # read at gradio import: no phoning home by default
    from fusionrs.space.config import SpaceConfig

    config = SpaceConfig.from_env(translator=args.translator, clip=args.clip, vlm=args.vlm, data=args.data,
                                  max_megapixels=args.max_megapixels, max_upload_mb=args.max_upload_mb,
                                  concurrency=args.concurrency)
    from dataclasses import replace

    from fusionrs.space.config import local_model

    for name in ("clip", "vlm"):
        if getattr(config, name) is None and not args.no_local_models and local_model(name):
            config = replace(config, **{name: local_model(name)})
            print(f"using the locally trained {name} model {getattr(config, name)} (from `make run`)")
        folder = getattr(config, name)
        if folder and not os.path.isdir(folder):
            raise FileNotFoundError(f"--{name} {folder!r}: no such model folder")
    from fusionrs.space.app import launch

    print("starting the Space (loading gradio and the dataset) ...", flush=True)
    launch(config, host=args.host, port=args.port, share=args.share)
    return 0
