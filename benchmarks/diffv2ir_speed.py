"""Time one DiffV2IR run at full SD-1.x size on the CPU, to compare with the fast translator.

    python benchmarks/diffv2ir_speed.py

Random weights (the time does not depend on their values): SD-1.5 UNet with `in_channels=12`
(860M parameters), the SD VAE, a CLIP ViT-L/14 text encoder; float32, 2 torch threads, 256 px
(32x32 latents), 20 Euler-ancestral steps, one image, the paper's three-way guidance (a batch of
4 UNet passes per step). One 1-step call warms up first; the 20-step call is timed once.
The fast translator's number comes from benchmarks/translator.json when it exists.
Writes benchmarks/diffv2ir_speed.json (with command, versions, machine).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fusionrs.results import write_results

SEED = 0
SIZE = 256
STEPS = 20
THREADS = 2
HERE = Path(__file__).resolve().parent
COMMAND = "python benchmarks/diffv2ir_speed.py"


def placeholder_tokenizer(folder: str):
    """A CLIPTokenizer over a-z: tokenising costs nothing next to the UNet, and no vocab ships offline."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocab[letter] = len(vocab)
        vocab[letter + "</w>"] = len(vocab)
    Path(folder, "vocab.json").write_text(json.dumps(vocab))
    Path(folder, "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(Path(folder, "vocab.json")), str(Path(folder, "merges.txt")), model_max_length=77)


def full_size_pipeline():
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from fusionrs.translate.pipeline_diffv2ir import DiffV2IRPipeline, diffv2ir_scheduler

    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(sample_size=64, in_channels=12, out_channels=4, cross_attention_dim=768, attention_head_dim=8)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, sample_size=512,
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
        max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768,
    ))
    tokenizer = placeholder_tokenizer(tempfile.mkdtemp(prefix="diffv2ir-tok-"))
    pipe = DiffV2IRPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=diffv2ir_scheduler())
    pipe.set_progress_bar_config(disable=True)
    counts = {name: sum(p.numel() for p in module.parameters()) for name, module in
              (("unet", unet), ("vae", vae), ("text_encoder", text_encoder))}
    return pipe, counts


def fast_translator_same_run(repeats: int = 5) -> dict:
    """The fast translator (base preset) at 256 px, batch 8, timed in this process right after
    DiffV2IR, so that the ratio compares like with like on a shared machine."""
    import statistics

    from fusionrs.translate.model import build_unet, load_preset, translate_tensor

    unet = build_unet("base").eval()
    shuffle = load_preset("base")["pixel_shuffle"]
    x = torch.rand(8, 3, SIZE, SIZE) * 2 - 1
    times = []
    with torch.inference_mode():
        translate_tensor(unet, x, pixel_shuffle=shuffle)
        for _ in range(repeats):
            start = time.perf_counter()
            translate_tensor(unet, x, pixel_shuffle=shuffle)
            times.append(time.perf_counter() - start)
    return {"preset": "base", "batch": 8, "repeats": repeats, "images_per_s": round(8 / statistics.median(times), 2)}


def fast_translator_speed() -> dict | None:
    """images/s of the fast translator at 256 px from benchmarks/translator.json, if it was measured."""
    path = HERE / "translator.json"
    if not path.exists():
        return None
    base = json.loads(path.read_text())["results"].get("speed", {}).get("models", {}).get("base")
    return {"source": "benchmarks/translator.json (speed.models.base)", "base": base}


def main() -> None:
    torch.set_num_threads(THREADS)
    pipe, counts = full_size_pipeline()
    rng = np.random.default_rng(SEED)
    image = Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))

    load_before = os.getloadavg()
    start = time.perf_counter()
    pipe(image, num_inference_steps=1, generator=torch.Generator().manual_seed(SEED))
    warmup_s = time.perf_counter() - start

    start = time.perf_counter()
    out = pipe(image, num_inference_steps=STEPS, generator=torch.Generator().manual_seed(SEED)).images[0]
    run_s = time.perf_counter() - start
    assert out.size == (SIZE, SIZE)

    fast = fast_translator_same_run()
    results = {
        "what": "one DiffV2IRPipeline call (text encode, 2 VAE encodes, 20 steps x 4 batched UNet passes, VAE decode)",
        "image_size": SIZE,
        "steps": STEPS,
        "batch": 1,
        "dtype": "float32",
        "torch_threads": THREADS,
        "parameters": counts,
        "warmup_1_step_s": round(warmup_s, 2),
        "seconds_per_image": round(run_s, 2),
        "images_per_s": round(1 / run_s, 5),
        "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "note": "CPU shared with other jobs while measured; random weights (time does not depend on values)",
        "fast_translator_same_run": fast,
        "speedup_fast_vs_diffv2ir": round(fast["images_per_s"] * run_s, 1),
        "fast_translator": fast_translator_speed(),
    }
    write_results(HERE / "diffv2ir_speed.json", results, command=COMMAND, seed=SEED)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
