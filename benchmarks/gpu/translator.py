"""GPU throughput of the translator family: training steps/s and batched inference images/s.

Run through `benchmarks/gpu/all.sh` (which sets PYTHONPATH, installs a carried diffusers wheel and
bounds the wall time); directly::

    PYTHONPATH=. python3 benchmarks/gpu/translator.py --out runs/gpu/gpu_translator.json [--cpu-smoke]

Throughput only, nothing is trained or scored: every model is the exact architecture, randomly
initialised (`fusionrs.translate.model.build_unet` for each shipped preset of presets.json, and the
pix2pix `unet_256` reference generator of benchmarks/pix2pix.py), on random inputs generated on the
device (no data, no weights, no `../shared`).

Measured per model:

* train: one real optimiser step, as `fusionrs.translate.train.train` does it in its adversarial
  phase (generator: L1 + SSIM + gradient losses + the conditional PatchGAN term, AdamW; then the LSGAN
  discriminator step), or as benchmarks/pix2pix.py does it (D first, then G: vanilla GAN + 100 x L1,
  Adam); fp32 and bf16 autocast; translator shapes batch 6 at 128 px (the finals' recipe) and batch 8
  at 256 px; pix2pix needs multiples of 256 px, so batch 1 (its recipe) and batch 8 at 256 px.
* infer: `translate_tensor` (pix2pix: the generator in eval mode) under `torch.inference_mode`,
  256 px, batch 8 and 64, fp32 and bf16 autocast; pix2pix also batch 1 in its reference test mode
  (train-mode BatchNorm and dropout, one image per forward).

Timing: warm-up iterations, then `repeats` timed repeats of `iters` iterations each (`iters` sized
from one calibration iteration so a repeat lasts about `--repeat-s`), `torch.cuda.synchronize()`
before every clock read; the median repeat is reported. The JSON is rewritten after every
measurement, so a run stopped by its budget or by all.sh's timeout keeps what it measured.

Imports: torch, numpy, PIL (benchmarks/pix2pix.py), tqdm (via fusionrs.translate) and the fusionrs
modules translate.model, translate.train, metrics.image_quality; diffusers only inside `build_unet`
(a broken diffusers costs the presets, not pix2pix). fusionrs itself pulls no datasets,
transformers, accelerate or gradio; diffusers imports peft (and with it transformers and
accelerate) when they are installed, as they are on the device. The JSON's `third_party_modules`
lists every top-level package that loaded.
"""

from __future__ import annotations

import time

T_IMPORT = time.perf_counter()

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from fusionrs.metrics.image_quality import ssim_torch  # noqa: E402
from fusionrs.translate.model import build_unet, list_presets, load_preset, pad_multiple, translate_tensor  # noqa: E402
from fusionrs.translate.train import PatchDiscriminator, _gradient_loss  # noqa: E402

PIX2PIX = "pix2pix_unet_256"
TRANSLATOR_LOSS = {"l1": 1.0, "ssim": 0.5, "grad": 2.0, "adv": 0.01}  # the finals' weights (grad 2.0), adversarial phase
TRANSLATOR_OPT = {"lr": 1e-3, "betas": (0.5, 0.99), "weight_decay": 1e-4}  # TrainConfig defaults, AdamW
PIX2PIX_OPT = {"lr": 2e-4, "betas": (0.5, 0.999)}  # the reference recipe, Adam

# (batch, size) per measurement kind; the smoke mode runs the same code on smaller batches
GPU_PLAN = {
    "train_unet": [(6, 128), (8, 256)],
    "train_pix2pix": [(1, 256), (8, 256)],
    "infer": [(8, 256), (64, 256)],
    "infer_pix2pix_reference": [(1, 256)],
    "precisions": ["fp32", "bf16"],
    "bf16_models": [],
    "warmup": 3, "repeats": 5, "max_iters": 200,
}
SMOKE_PLAN = {  # CPU bf16 is ~50x slower than fp32 without AMX: bf16 only on the tiny preset there
    "models": ["base", PIX2PIX, "tiny"],
    "train_unet": [(1, 128)],
    "train_pix2pix": [(1, 256)],
    "infer": [(2, 256)],
    "infer_pix2pix_reference": [(1, 256)],
    "precisions": ["fp32"],
    "bf16_models": ["tiny"],
    "warmup": 0, "repeats": 1, "max_iters": 1,  # one (cold) call per measurement: a code-path check
}


def load_pix2pix_module():
    """benchmarks/pix2pix.py as a module (benchmarks/ is no package)."""
    spec = importlib.util.spec_from_file_location("pix2pix_benchmark", REPO / "benchmarks" / "pix2pix.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def model_names(requested: list[str] | None) -> list[str]:
    """base and pix2pix first (the budget may cut the tail), then the other shipped presets."""
    presets = list_presets()
    order = (["base"] if "base" in presets else []) + [PIX2PIX] + [p for p in presets if p != "base"]
    if not requested:
        return order
    unknown = [m for m in requested if m not in order]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; available: {order}")
    return [m for m in order if m in requested]


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class Clock:
    """Wall clock with device synchronisation before every read."""

    def __init__(self, device: torch.device):
        self.device = device

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def __call__(self) -> float:
        self.sync()
        return time.perf_counter()


def time_it(fn: Callable[[], None], clock: Clock, *, warmup: int, repeats: int, max_iters: int,
            repeat_s: float) -> dict[str, Any]:
    """Seconds per call of `fn`: warm-up, one calibration call, then the median of timed repeats."""
    for _ in range(warmup):
        fn()
    one = None
    iters = 1
    if max_iters > 1:  # size the repeats from one call (the smoke mode runs exactly one call per repeat)
        t0 = clock()
        fn()
        one = clock() - t0
        iters = max(1, min(max_iters, int(repeat_s / max(one, 1e-6))))
    per_call = []
    for _ in range(repeats):
        t0 = clock()
        for _ in range(iters):
            fn()
        per_call.append((clock() - t0) / iters)
    return {"seconds_per_call": statistics.median(per_call), "repeats_s": [round(s, 6) for s in per_call],
            "iters_per_repeat": iters, "calibration_s": None if one is None else round(one, 6)}


def autocast(device: torch.device, precision: str):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


# ---------------------------------------------------------------------------------------------
# models and steps


def build(name: str, device: torch.device, p2p) -> dict[str, Any]:
    """The generator (and its discriminator) freshly initialised, with what the steps need."""
    torch.manual_seed(0)
    if name == PIX2PIX:
        gen = p2p.init_weights(p2p.pix2pix_unet_256(3, 1, 64))
        disc = p2p.init_weights(p2p.NLayerDiscriminator(4, 64, 3))
        info = {"kind": "pix2pix unet_256 (benchmarks/pix2pix.py)", "multiple": gen.multiple}
        return {"gen": gen.to(device), "disc": disc.to(device), "f": None, "info": info}
    preset = load_preset(name)
    unet = build_unet(preset, seed=0)
    f = int(preset["pixel_shuffle"])
    disc = PatchDiscriminator(4)
    info = {"kind": "fusionrs one-step translator (diffusers UNet2DModel)", "pixel_shuffle": f,
            "multiple": pad_multiple(unet, f)}
    return {"gen": unet.to(device), "disc": disc.to(device), "f": f, "info": info}


def random_pair(batch: int, size: int, device: torch.device, ir_range: str) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator(device="cpu").manual_seed(batch * 1000 + size)
    rgb = (torch.rand(batch, 3, size, size, generator=g) * 2 - 1).to(device)
    ir = torch.rand(batch, 1, size, size, generator=g).to(device)
    return rgb, (ir * 2 - 1 if ir_range == "signed" else ir)


def translator_train_step(m: dict[str, Any], rgb, ir, device, precision: str) -> Callable[[], None]:
    """The adversarial-phase step of fusionrs.translate.train (no unpaired domain term)."""
    unet, disc, f, w = m["gen"], m["disc"], m["f"], TRANSLATOR_LOSS
    unet.train()
    disc.train()
    opt_g = torch.optim.AdamW(unet.parameters(), **TRANSLATOR_OPT)
    opt_d = torch.optim.AdamW(disc.parameters(), **TRANSLATOR_OPT)

    def step() -> None:
        with autocast(device, precision):
            pred = translate_tensor(unet, rgb, pixel_shuffle=f)
            l1 = (pred - ir).abs().mean()
            ssim_l = 1 - ssim_torch(pred.float(), ir).mean()
            loss = w["l1"] * l1 + w["ssim"] * ssim_l + w["grad"] * _gradient_loss(pred, ir)
            loss = loss + w["adv"] * ((disc(torch.cat([rgb, pred * 2 - 1], 1)) - 1) ** 2).mean()
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        with autocast(device, precision):
            real = disc(torch.cat([rgb, ir * 2 - 1], 1))
            fake = disc(torch.cat([rgb, pred.detach() * 2 - 1], 1))
            d_l = ((real - 1) ** 2).mean() + (fake**2).mean()
        opt_d.zero_grad(set_to_none=True)
        d_l.backward()
        opt_d.step()

    return step


def pix2pix_train_step(m: dict[str, Any], rgb, ir, device, precision: str, p2p) -> Callable[[], None]:
    """One `optimize_parameters` of benchmarks/pix2pix.py: D (fake, real) first, then G (GAN + 100 L1)."""
    gen, disc = m["gen"], m["disc"]
    gen.train()
    disc.train()
    opt_g = torch.optim.Adam(gen.parameters(), **PIX2PIX_OPT)
    opt_d = torch.optim.Adam(disc.parameters(), **PIX2PIX_OPT)

    def step() -> None:
        with autocast(device, precision):
            fake = gen(rgb)
            p2p._set_requires_grad(disc, True)
            d_fake = p2p._gan_loss(disc(torch.cat([rgb, fake.detach()], 1)).float(), False, "vanilla")
            d_real = p2p._gan_loss(disc(torch.cat([rgb, ir], 1)).float(), True, "vanilla")
        opt_d.zero_grad(set_to_none=True)
        ((d_fake + d_real) * 0.5).backward()
        opt_d.step()
        p2p._set_requires_grad(disc, False)
        with autocast(device, precision):
            g_gan = p2p._gan_loss(disc(torch.cat([rgb, fake], 1)).float(), True, "vanilla")
            g_l1 = (fake.float() - ir).abs().mean() * 100.0
        opt_g.zero_grad(set_to_none=True)
        (g_gan + g_l1).backward()
        opt_g.step()

    return step


def infer_call(m: dict[str, Any], rgb, device, precision: str, mode: str = "eval") -> Callable[[], None]:
    gen = m["gen"]
    gen.train(mode == "reference")  # pix2pix reference protocol: train-mode BatchNorm + dropout

    def call() -> None:
        with torch.inference_mode(), autocast(device, precision):
            if m["f"] is None:
                gen(rgb)
            else:
                translate_tensor(gen, rgb, pixel_shuffle=m["f"])

    return call


# ---------------------------------------------------------------------------------------------
# run


def environment(device: torch.device, threads: int) -> dict[str, Any]:
    env: dict[str, Any] = {
        "device": device.type, "torch": torch.__version__, "cuda": torch.version.cuda,
        "python": platform.python_version(), "threads": threads, "cpu_count": os.cpu_count(),
    }
    try:
        import diffusers

        env["diffusers"] = diffusers.__version__
        env["diffusers_from"] = str(Path(diffusers.__file__).parent.parent)
    except Exception as exc:  # build_unet will fail too; recorded in errors then
        env["diffusers"] = f"unavailable: {exc}"
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update({"device_name": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1),
                    "multiprocessors": props.multi_processor_count, "capability": f"{props.major}.{props.minor}",
                    "cudnn": torch.backends.cudnn.version(), "cudnn_benchmark": torch.backends.cudnn.benchmark,
                    "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
                    "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32})
    else:
        name = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        env["device_name"] = name
        env["loadavg_start"] = list(os.getloadavg())
    return env


def third_party_modules() -> list[str]:
    stdlib = getattr(sys, "stdlib_module_names", set())
    tops = {name.split(".")[0] for name in sys.modules}
    return sorted(t for t in tops if t not in stdlib and not t.startswith("_") and t not in ("fusionrs", "pix2pix_benchmark"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(os.environ.get("OUT") or "runs/gpu", "gpu_translator.json"))
    ap.add_argument("--cpu-smoke", action="store_true", help="the same code on CPU: small batches, 1 repeat, 2 threads")
    ap.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    ap.add_argument("--models", nargs="*", help="subset of models (default: every shipped preset and pix2pix; smoke: base, pix2pix, tiny)")
    ap.add_argument("--budget-s", type=float, default=240.0, help="stop starting measurements after this many seconds")
    ap.add_argument("--repeat-s", type=float, default=0.25, help="target seconds per timed repeat")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (smoke: 2)")
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    import_s = round(t_start - T_IMPORT, 2)
    plan = SMOKE_PLAN if args.cpu_smoke else GPU_PLAN
    if args.cpu_smoke or args.device == "cpu":
        device = torch.device("cpu")
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    else:
        print("translator.py: no CUDA device (use --cpu-smoke on a machine without a GPU)", file=sys.stderr)
        return 2
    threads = args.threads or (2 if args.cpu_smoke else torch.get_num_threads())
    torch.set_num_threads(threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # what a long training run would settle on

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "family": "translator", "mode": "cpu-smoke" if args.cpu_smoke else device.type,
        "started_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **environment(device, threads), "budget_s": args.budget_s, "import_s": import_s,
        "plan": {k: v for k, v in plan.items()}, "loss_weights": TRANSLATOR_LOSS,
        "models": {}, "results": [], "skipped": [], "errors": [], "complete": False,
    }

    def save() -> None:
        report["wall_s"] = round(time.perf_counter() - t_start, 2)
        report["third_party_modules"] = third_party_modules()
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        os.replace(tmp, out)

    clock = Clock(device)
    timing = {"warmup": plan["warmup"], "repeats": plan["repeats"], "max_iters": plan["max_iters"], "repeat_s": args.repeat_s}
    p2p = load_pix2pix_module()
    report["startup_s"] = round(time.perf_counter() - t_start, 2)  # after imports of torch etc.: see import_s
    save()

    def measure(model: str, kind: str, batch: int, size: int, precision: str, make: Callable[[], Callable[[], None]],
                mode: str | None = None) -> None:
        tag = {"model": model, "kind": kind, "batch": batch, "size": size, "precision": precision}
        if mode:
            tag["mode"] = mode
        if time.perf_counter() - t_start > args.budget_s:
            report["skipped"].append({**tag, "why": "budget"})
            return
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        try:
            timed = time_it(make(), clock, **timing)
        except Exception as exc:  # an OOM or a broken model costs one line, not the run
            report["errors"].append({**tag, "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
            print(f"  {model} {kind} b{batch}@{size} {precision}: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
        else:
            per = timed["seconds_per_call"]
            row = {**tag, **timed, "t_end_s": round(time.perf_counter() - t_start, 2)}
            if kind == "train":
                row["steps_per_s"] = round(1 / per, 3)
                row["train_images_per_s"] = round(batch / per, 2)
            else:
                row["images_per_s"] = round(batch / per, 2)
            if device.type == "cuda":
                row["peak_mem_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20)
            report["results"].append(row)
            rate = f"{row['steps_per_s']} steps/s" if kind == "train" else f"{row['images_per_s']} img/s"
            print(f"  {model} {kind}{'/' + mode if mode else ''} b{batch}@{size} {precision}: {rate}", flush=True)
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()
        save()

    def precisions(name: str) -> list[str]:
        extra = [p for p in ("bf16",) if name in plan["bf16_models"] and p not in plan["precisions"]]
        return plan["precisions"] + extra

    for name in model_names(args.models or plan.get("models")):
        if time.perf_counter() - t_start > args.budget_s:
            report["skipped"].append({"model": name, "why": "budget"})
            continue
        try:
            m = build(name, device, p2p)
        except Exception as exc:
            report["errors"].append({"model": name, "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
            print(f"{name}: build failed: {type(exc).__name__}: {exc}", flush=True)
            save()
            continue
        report["models"][name] = {**m["info"], "params_generator": n_params(m["gen"]),
                                  "params_discriminator": n_params(m["disc"])}
        print(f"{name}: {report['models'][name]['params_generator'] / 1e6:.2f} M generator parameters", flush=True)
        init_state = {k: v.detach().clone() for k, v in m["gen"].state_dict().items()}
        init_disc = {k: v.detach().clone() for k, v in m["disc"].state_dict().items()}
        pix = name == PIX2PIX
        for batch, size in plan["train_pix2pix" if pix else "train_unet"]:
            for precision in precisions(name):
                m["gen"].load_state_dict(init_state)  # each measurement from the same random init
                m["disc"].load_state_dict(init_disc)
                rgb, ir = random_pair(batch, size, device, "signed" if pix else "unit")
                if pix:
                    make = lambda: pix2pix_train_step(m, rgb, ir, device, precision, p2p)  # noqa: E731
                else:
                    make = lambda: translator_train_step(m, rgb, ir, device, precision)  # noqa: E731
                measure(name, "train", batch, size, precision, make)
        m["gen"].load_state_dict(init_state)
        infer_plan = [(b, s, "eval") for b, s in plan["infer"]]
        if pix:
            infer_plan += [(b, s, "reference") for b, s in plan["infer_pix2pix_reference"]]
        for batch, size, mode in infer_plan:
            for precision in precisions(name):
                rgb, _ = random_pair(batch, size, device, "signed")
                measure(name, "infer", batch, size, precision, lambda: infer_call(m, rgb, device, precision, mode),  # noqa: B023
                        mode if pix else None)
        del m, init_state, init_disc
        if device.type == "cuda":
            torch.cuda.empty_cache()

    report["complete"] = not report["skipped"] and not report["errors"]
    if device.type == "cpu":
        report["loadavg_end"] = list(os.getloadavg())
    save()
    print(f"translator: {len(report['results'])} measurements, {len(report['skipped'])} skipped, "
          f"{len(report['errors'])} errors, {report['wall_s']} s -> {out}", flush=True)
    return 0 if report["results"] and not report["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
