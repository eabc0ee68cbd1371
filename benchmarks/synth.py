"""Benchmark the procedural world: generation speed on one core, and how little of IR RGB explains.

    OMP_NUM_THREADS=1 python benchmarks/synth.py            # writes benchmarks/synth.json and .md

Speed: scenes per second at 256 px over `--scenes` consecutive scenes of world seed 0 (all classes
in turn), single thread, after a short warm-up; other sizes are reported too.
Linear fit: IR ~ a*R + b*G + c*B + d by least squares over all pixels of `--fit-scenes` scenes
(`fusionrs.synth.linear_fit_report`), RMSE in 8-bit levels, overall and on same-colour-pair pixels.
"""

from __future__ import annotations

import os

# One core, as the target says; must be set before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from fusionrs.results import write_results  # noqa: E402
from fusionrs.synth import SCENE_CLASSES, WORLD_VERSION, generate_scene, linear_fit_report  # noqa: E402

HERE = Path(__file__).resolve().parent


def speed(n: int, size: int, seed: int) -> dict:
    for i in range(5):  # warm-up: imports, caches
        generate_scene(i, seed=seed, size=size)
    start = time.perf_counter()
    for i in range(n):
        generate_scene(i, seed=seed, size=size)
    elapsed = time.perf_counter() - start
    return {"size": size, "scenes": n, "seconds": round(elapsed, 3), "scenes_per_second": round(n / elapsed, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=200)
    parser.add_argument("--fit-scenes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "synth.json")
    args = parser.parse_args()

    main_speed = speed(args.scenes, 256, args.seed)
    other_sizes = [speed(max(20, args.scenes // 4), s, args.seed) for s in (64, 128, 512)]
    fit = linear_fit_report([generate_scene(i, seed=args.seed, size=256) for i in range(args.fit_scenes)])
    results = {
        "world_version": WORLD_VERSION,
        "scene_classes": len(SCENE_CLASSES),
        "speed_256px": main_speed,
        "target_scenes_per_second": 20.0,
        "speed_other_sizes": other_sizes,
        "linear_fit": fit,
    }
    command = "OMP_NUM_THREADS=1 python " + " ".join(shlex.quote(a) for a in sys.argv)
    payload = write_results(args.out, results, command=command, seed=args.seed)
    args.out.with_suffix(".md").write_text(markdown(payload))
    print(markdown(payload))


def markdown(payload: dict) -> str:
    r, env = payload["results"], payload["environment"]
    fit = r["linear_fit"]
    lines = [
        f"# fusionrs world v{r['world_version']} benchmark",
        "",
        f"Command: `{payload['command']}`; seed {payload['seed']}; {payload['date']}.",
        f"Machine: {env['cpu']} ({env['cpu_count']} CPUs, 1 thread used), no GPU; Python {env['python']}, "
        f"numpy {env['libraries'].get('numpy')}, Pillow {env['libraries'].get('pillow')}; {env['platform']}.",
        "",
        "## Generation speed (one core)",
        "",
        "| size (px) | scenes | seconds | scenes / s |",
        "|---:|---:|---:|---:|",
    ]
    for s in [r["speed_256px"], *r["speed_other_sizes"]]:
        lines.append(f"| {s['size']} | {s['scenes']} | {s['seconds']} | {s['scenes_per_second']} |")
    lines += [
        "",
        f"Target: >= {r['target_scenes_per_second']:g} scenes/s at 256 px.",
        "",
        f"## Linear RGB -> IR fit ({fit['scenes']} scenes at 256 px, {fit['pixels']:,} pixels)",
        "",
        "IR ~ a*R + b*G + c*B + d by least squares over all pixels; errors in 8-bit levels (IR std "
        f"{fit['ir_std']}). The lookup column is the best any function of RGB colour can do "
        "over all pixels (mean IR per 16^3 colour bin, scored on its own training pixels); the per-scene "
        "column fits every scene separately, removing time-of-day and camera-gain differences.",
        "",
        "| pixels | linear RMSE | RGB-lookup RMSE | per-scene linear RMSE |",
        "|---|---:|---:|---:|",
        f"| all | {fit['rmse_overall']} | {fit['rgb_lookup_rmse_overall']} | {fit['per_scene_rmse_overall']} |",
        f"| same-colour pairs | {fit['rmse_same_colour_pairs']} | {fit['rgb_lookup_rmse_same_colour_pairs']} | "
        f"{fit['per_scene_rmse_same_colour_pairs']} |",
        "",
        "| pair | pixels | mean RGB distance | mean IR (a / b) | linear RMSE | lookup RMSE | per-scene RMSE |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, p in fit["per_pair"].items():
        a, b = name.split("/")
        lines.append(f"| {name} | {p['pixels'][a]:,} / {p['pixels'][b]:,} | {p['rgb_distance']} | "
                     f"{p['mean_ir'][a]} / {p['mean_ir'][b]} | {p['linear_rmse']} | {p['rgb_lookup_rmse']} | {p['per_scene_rmse']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
