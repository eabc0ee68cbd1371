"""`fusionrs train clip`: train a dual-modal CLIP variant (see fusionrs.clip.train).

The flags are generated from `fusionrs.clip.config.ClipTrainConfig`: its field docs are the `--help`.
"""

from __future__ import annotations

import argparse

from fusionrs.clip.config import ClipTrainConfig
from fusionrs.core.cli_config import add_config_arguments, config_from_args


def add_parser(sub) -> None:
    p = sub.add_parser("clip", help="train a dual-modal CLIP model (shared RGB/IR image encoder, tri-modal InfoNCE)")
    add_config_arguments(p, ClipTrainConfig)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json

    from fusionrs.clip.train import train_clip

    summary = train_clip(config_from_args(ClipTrainConfig, args))
    print(json.dumps({k: summary.get(k) for k in ("model", "variant", "ir_view", "caption_policy", "steps", "seconds",
                                                   "samples_per_second", "final_loss", "budget")}, indent=2))
    return 0
