"""`fusionrs train translator`: train the one-step RGB->IR generator (see fusionrs.translate.train).

The flags are generated from `fusionrs.translate.config.TrainConfig`: its field docs are the `--help`.
"""

from __future__ import annotations

import argparse

from fusionrs.core.cli_config import add_config_arguments, config_from_args
from fusionrs.translate.config import TrainConfig


def add_parser(sub) -> None:
    p = sub.add_parser("translator", help="train the one-step RGB->IR translator (UNet2DModel + PatchGAN)")
    add_config_arguments(p, TrainConfig)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json

    from fusionrs.translate.train import train

    summary = train(config_from_args(TrainConfig, args))
    last = summary["history"][-1] if summary["history"] else {}
    print(json.dumps({"model": summary.get("model"), "steps": summary["steps"], "seconds": summary["seconds"],
                      "data": summary["data_counts"], "final_l1": last.get("l1"), "final_ssim": last.get("ssim")}, indent=2))
    return 0
