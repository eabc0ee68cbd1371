"""`fusionrs train vlm`: LoRA fine-tuning of a dual-modal captioning VLM (see fusionrs.vlm.train).

The flags are generated from `fusionrs.vlm.config.VLMTrainConfig`: its field docs are the `--help`.
"""

from __future__ import annotations

import argparse

from fusionrs.core.cli_config import add_config_arguments, config_from_args
from fusionrs.vlm.config import VLMTrainConfig


def add_parser(sub) -> None:
    p = sub.add_parser("vlm", help="fine-tune a captioning VLM with LoRA (rgb+ir / rgb / ir; caption tasks or VQA)")
    add_config_arguments(p, VLMTrainConfig)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json

    from fusionrs.vlm.train import train_vlm

    summary = train_vlm(config_from_args(VLMTrainConfig, args))
    print(json.dumps({k: summary.get(k) for k in ("model", "steps", "examples", "train_tokens", "train_time_s",
                                                   "train_tokens_per_s", "final_loss")}, indent=2))
    return 0
