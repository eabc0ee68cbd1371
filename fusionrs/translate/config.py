"""Translator training settings (torch-free, so `fusionrs train translator --help` stays light).

`fusionrs train translator` generates its flags from `TrainConfig` (`fusionrs.core.cli_config`).
"""

from __future__ import annotations

from dataclasses import dataclass

from fusionrs.core.training import BaseTrainConfig, config_field

__all__ = ["TrainConfig", "TranslatorTrainConfig"]


@dataclass
class TrainConfig(BaseTrainConfig):
    """One-step translator training: pairs, world, unpaired domain term, loss weights + the shared fields.

    The schedule is `warmup_cosine` with warmup from `1 / warmup` and a floor of 0.05.
    """

    out: str = config_field("runs/translator", "output folder: checkpoints/, samples/, log.jsonl, final/")
    preset: str = config_field("base", "size preset: tiny, small, base, large (fusionrs/translate/presets.json)")
    # data: pair folders (rgb/ + ir/); RoadScene folders drop the committed validation names
    pairs: list[str] = config_field(help="pair folder with rgb/ + ir/ (repeatable); a folder named roadscene drops "
                                    "its validation names", factory=list, metavar="DIR")
    world: int = config_field(0, "add N procedural world pairs", kind="non_negative", metavar="N")
    world_size: int = config_field(256, "side of the world pairs in pixels", kind="positive")
    world_time_of_day: float | None = config_field(None, "a fixed hour for world IR (makes it learnable from RGB)")
    world_weight: float = config_field(0.25, "share of each batch from world pairs when mixed")
    tune: int = config_field(0, "RoadScene training pairs held back as a tuning slice (never trained on)",
                             kind="non_negative")
    max_side: int = config_field(640, "larger pairs (LLVIP) are downsized to this side first", kind="positive")
    # unpaired domain adaptation: real thermal folder (hit_uav) + RGB folder of the target domain (rsicd_aid)
    domain_thermal: str | None = config_field(None, "unpaired real aerial thermal: a folder with train.jsonl (HIT-UAV)",
                                              metavar="DIR")
    domain_rgb: str | None = config_field(None, "unpaired aerial RGB of the target domain: a folder with dataset_rsicd.json (RSICD)",
                                          metavar="DIR")
    domain_images: int = config_field(400, "images read from each unpaired folder", kind="positive")
    crop: int = config_field(160, "random crop side (multiple of the preset stride)", kind="positive")
    # loss weights
    l1: float = config_field(1.0, "L1 loss weight")
    ssim: float = config_field(0.5, "SSIM loss weight")
    grad: float = config_field(0.5, "image-gradient loss weight")
    adv: float = config_field(0.01, "PatchGAN weight (0: no adversarial term)", flag="--adv-weight")
    domain: float = config_field(0.01, "unpaired domain (real thermal) weight", flag="--domain-weight")
    adv_start: float = config_field(0.2, "fraction of steps before the adversarial terms switch on")
    sample_every: int = config_field(200, "write a sample grid every N steps (0: never)", kind="non_negative")
    # shared fields whose defaults differ
    steps: int = config_field(1000, "optimizer steps", kind="positive")
    batch_size: int = config_field(8, "pairs per step", kind="positive")
    lr: float = config_field(1e-3, "peak learning rate (generator and discriminators)")
    warmup: int = config_field(50, "linear warmup steps", kind="non_negative")
    weight_decay: float = config_field(1e-4, "AdamW weight decay")


TranslatorTrainConfig = TrainConfig
