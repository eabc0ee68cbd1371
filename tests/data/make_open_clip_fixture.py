"""Write tests/data/open_clip/: a tiny *real* open_clip model, its inputs and open_clip's own outputs.

Run once, in a throwaway environment outside the project (open_clip and torchvision are never
fusionrs dependencies, DESIGN.md), from the repository root:

    python3 -m venv /tmp/ocvenv
    /tmp/ocvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 open_clip_torch
    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 /tmp/ocvenv/bin/python tests/data/make_open_clip_fixture.py

It writes (all < 2 MB together):
- tiny_config.json            the tiny model in open_clip's model-config format (ViT-B-32 key layout, small widths)
- tiny_open_clip.safetensors  its seeded random weights (every tensor perturbed, values exactly representable in
                              float16 so the file is half the size and fp32 maths on both sides sees identical weights)
- images/*.png                three small RGB images of different sizes (exercise resize + centre crop)
- reference.safetensors       pixel_values (open_clip's preprocess of the PNGs), input_ids (open_clip's tokenizer),
                              image/text embeddings of open_clip with QuickGELU and with GELU (same weights)
- reference.json              texts, versions, preprocessing settings
- vit_b_32_layout.json        key -> shape of open_clip's real ViT-B-32 (`create_model("ViT-B-32")`, no download)

tests/test_convert_open_clip.py checks that fusionrs's converter reproduces these outputs without open_clip.

Optional full-size check (large files, written OUTSIDE the repository; nothing is downloaded):

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 /tmp/ocvenv/bin/python tests/data/make_open_clip_fixture.py --full-size /tmp/occheck
    FUSIONRS_OPEN_CLIP_FULL_SIZE=/tmp/occheck .venv/bin/python -m pytest tests/test_convert_open_clip.py -k full_size

writes open_clip models with the real ViT-B-32 / B-16 / L-14 widths and depths (ViT-H-14: real widths and
head_width 80, 2 layers per tower to fit a small machine), random perturbed weights, as `NAME.pt` state dicts
(~0.6-1.7 GB each) with `NAME_ref.pt` (inputs + open_clip's embeddings) and `NAME.json` (model config).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np
import open_clip
import torch
from PIL import Image
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parent / "open_clip"
SEED = 0

# ViT-B-32's layout (class token, learnable positions, ln_pre, fused qkv, argmax text pooling, no biases on the
# projections) with widths small enough to commit. The text vocabulary stays the real 49,408 so real token ids work.
TINY_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 8, "heads": 2, "layers": 2},
}

TEXTS = [
    "a satellite image of an airport with many airplanes.",
    "Dense residential area: bright roofs & dark roads!",
    "An infrared-style view of 3 bridges over a river",
    "",
    # Longer than the 77-token context: open_clip truncates and keeps <end_of_text> last.
    " ".join(["farmland next to a highway interchange"] * 16),
]


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(SEED)
    images = []
    for height, width in [(40, 48), (32, 32), (50, 37)]:
        yy, xx = np.mgrid[0:height, 0:width]
        base = np.stack([xx / width, yy / height, (xx + yy) / (width + height)], axis=-1) * 200
        pixels = np.clip(base + rng.normal(0, 25, size=base.shape), 0, 255).astype(np.uint8)
        images.append(Image.fromarray(pixels, "RGB"))
    return images


def _perturbed_model(quick_gelu: bool) -> open_clip.model.CLIP:
    torch.manual_seed(SEED)
    model = open_clip.model.CLIP(**TINY_CONFIG, quick_gelu=quick_gelu)
    with torch.no_grad():
        for name, param in model.named_parameters():
            # Move every tensor away from its init (layer norms 1/0, zero biases) so a dropped or swapped tensor
            # changes the outputs; then round to float16 values (see module docstring).
            if name == "logit_scale":
                param.fill_(float(np.log(1 / 0.07)) + 0.123)
            elif param.ndim < 2:
                param.add_(0.2 * torch.randn_like(param))
            else:
                param.add_(0.05 * torch.randn_like(param))
            param.copy_(param.half().float())
    return model.eval()


#: preset -> QuickGELU? (the activation fusionrs's presets assume, see fusionrs.clip.convert_open_clip.ARCH_NOTES)
FULL_SIZE_ACTS = {"ViT-B-32": True, "ViT-B-16": True, "ViT-L-14": True, "ViT-H-14": False}


def write_full_size(out: Path) -> None:
    from open_clip.factory import get_model_config

    out.mkdir(parents=True, exist_ok=True)
    input_ids = open_clip.get_tokenizer("ViT-B-32")(["a stadium next to a river", "many airplanes parked at an airport"])
    for name, quick_gelu in FULL_SIZE_ACTS.items():
        torch.manual_seed(SEED)
        cfg = copy.deepcopy(get_model_config(name))
        if name == "ViT-H-14":
            cfg["vision_cfg"]["layers"] = cfg["text_cfg"]["layers"] = 2
        model = open_clip.model.CLIP(**cfg, quick_gelu=quick_gelu).eval()
        with torch.no_grad():
            for param_name, param in model.named_parameters():
                if param_name == "logit_scale":
                    param.fill_(4.0)
                elif param.ndim < 2:
                    param.add_(0.1 * torch.randn_like(param))
            pixel_values = torch.randn(2, 3, 224, 224)
            reference = {"pixel_values": pixel_values, "input_ids": input_ids,
                         "image": model.encode_image(pixel_values), "text": model.encode_text(input_ids)}
        torch.save(model.state_dict(), out / f"{name}.pt")
        torch.save(reference, out / f"{name}_ref.pt")
        (out / f"{name}.json").write_text(json.dumps({**cfg, "quick_gelu": quick_gelu}))
        print(f"{name}: {sum(p.numel() for p in model.parameters()):,} parameters -> {out / name}.pt", flush=True)
        del model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full-size", type=Path, metavar="DIR", help="write the optional full-size check files to DIR")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.full_size:
        write_full_size(args.full_size)
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "images").mkdir(exist_ok=True)

    quick = _perturbed_model(quick_gelu=True)
    gelu = _perturbed_model(quick_gelu=False)
    state = quick.state_dict()
    assert all(torch.equal(state[k], v) for k, v in gelu.state_dict().items()), "seeded weights must not depend on the activation"

    images = _images()
    for index, image in enumerate(images):
        image.save(OUT / "images" / f"image_{index}.png")
    # Reload from disk so the references come from exactly the committed bytes.
    images = [Image.open(OUT / "images" / f"image_{index}.png").convert("RGB") for index in range(len(images))]
    preprocess = open_clip.image_transform(TINY_CONFIG["vision_cfg"]["image_size"], is_train=False)
    pixel_values = torch.stack([preprocess(image) for image in images])

    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    input_ids = tokenizer(TEXTS)

    reference = {"pixel_values": pixel_values, "input_ids": input_ids.to(torch.int64)}
    with torch.no_grad():
        for tag, model in (("quick_gelu", quick), ("gelu", gelu)):
            reference[f"image_embeds_{tag}"] = model.encode_image(pixel_values)
            reference[f"text_embeds_{tag}"] = model.encode_text(input_ids)
            reference[f"image_embeds_normalized_{tag}"] = model.encode_image(pixel_values, normalize=True)
            reference[f"text_embeds_normalized_{tag}"] = model.encode_text(input_ids, normalize=True)
            logits_per_image, _ = model.get_logits(pixel_values, input_ids)
            reference[f"logits_per_image_{tag}"] = logits_per_image
    save_file({k: v.contiguous() for k, v in reference.items()}, str(OUT / "reference.safetensors"))
    save_file({k: v.half().contiguous() for k, v in state.items()}, str(OUT / "tiny_open_clip.safetensors"),
              metadata={"format": "pt"})

    (OUT / "tiny_config.json").write_text(json.dumps(TINY_CONFIG, indent=2) + "\n")
    real = open_clip.create_model("ViT-B-32")  # architecture only: no pretrained tag, nothing is downloaded
    layout = {key: list(value.shape) for key, value in real.state_dict().items()}
    (OUT / "vit_b_32_layout.json").write_text(
        json.dumps({"open_clip_version": open_clip.__version__, "model": "ViT-B-32", "state_dict_shapes": layout}, indent=1)
        + "\n"
    )
    meta = {
        "generated_by": "tests/data/make_open_clip_fixture.py",
        "open_clip_version": open_clip.__version__,
        "torch_version": torch.__version__,
        "python": sys.version.split()[0],
        "seed": SEED,
        "texts": TEXTS,
        "images": [f"images/image_{index}.png" for index in range(len(images))],
        "image_sizes_wh": [list(image.size) for image in images],
        "preprocess": {
            "image_size": TINY_CONFIG["vision_cfg"]["image_size"],
            "mean": list(open_clip.OPENAI_DATASET_MEAN),
            "std": list(open_clip.OPENAI_DATASET_STD),
            "transform": repr(preprocess),
        },
        "tokenizer": {"context_length": 77, "sot_token_id": tokenizer.sot_token_id, "eot_token_id": tokenizer.eot_token_id},
        "weights_dtype": "float16 (values rounded to float16 before the references were computed in float32)",
    }
    (OUT / "reference.json").write_text(json.dumps(meta, indent=2) + "\n")
    total = sum(path.stat().st_size for path in OUT.rglob("*") if path.is_file())
    print(f"wrote {OUT} ({total / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
