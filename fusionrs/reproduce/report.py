"""report.md + results.json of a reproduction: the paper-style tables from the stage results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fusionrs.core.atomic import write_json_atomic

__all__ = ["split_timing", "summary_lines", "write_report"]


def _fmt(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else str(value)


def _translator_table(result: dict[str, Any]) -> list[str]:
    systems = result["systems"]
    metrics = [m for m in ("psnr", "ssim", "mae") if m in next(iter(systems.values()))]
    lines = ["| system | " + " | ".join(m.upper() for m in metrics) + " |", "|---|" + "---|" * len(metrics)]
    for name, means in systems.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(means[m], 3 if m == "ssim" else 2) for m in metrics) + " |")
    gains = []
    for base, by_metric in result.get("model_vs_baselines", {}).items():
        if "psnr" in by_metric:
            d = by_metric["psnr"]
            gains.append(f"{base} {d['mean_diff']:+.2f} dB [95% CI {d['low']:+.2f}, {d['high']:+.2f}]")
    if gains:
        lines += ["", "Model PSNR minus baseline: " + "; ".join(gains) + "."]
    return lines


# Keys whose values measure time or speed: they move to timing.json, so results.json holds only what a
# seeded run reproduces bit for bit (on the same machine type and thread count).
_TIMING_SUFFIXES = ("seconds", "_time_s", "_per_s", "_per_second", "budget_s", "wall_s")


def _is_timing(key: str) -> bool:
    return key.endswith(_TIMING_SUFFIXES) or key == "over_budget"


def split_timing(value: Any, root: Path | None = None) -> tuple[Any, Any]:
    """Split a results tree into (numbers, timings); local paths under `root` become relative to it.

    Args:
        value: the results dict (any JSON-like tree).
        root: the reproduction folder; paths inside it (alone or inside a string such as a translator
            spec) are written relative to it.

    Returns:
        `(numbers, timings)`: the same tree without its timing keys (`_TIMING_SUFFIXES`,
        "over_budget"), and a tree holding only those keys (None where a branch has none).
    """
    if isinstance(value, dict):
        numbers, timings = {}, {}
        for key, item in value.items():
            if _is_timing(str(key)):
                timings[key] = item
                continue
            kept, timed = split_timing(item, root)
            numbers[key] = kept
            if timed not in (None, {}, []):
                timings[key] = timed
        return numbers, timings or None
    if isinstance(value, list):
        parts = [split_timing(item, root) for item in value]
        timed = [t for _, t in parts]
        return [n for n, _ in parts], (timed if any(t not in (None, {}) for t in timed) else None)
    if isinstance(value, str) and root is not None:
        for prefix in dict.fromkeys((str(Path(root).resolve()), str(Path(root).absolute()))):
            if prefix in value:  # a path, or a spec naming one (`fusionrs:/abs/out/translator`)
                value = value.replace(prefix + "/", "").replace(prefix, ".")
    return value, None


def write_report(out: Path, results: dict[str, Any]) -> Path:
    """Write results.json, timing.json and report.md into `out`; returns the report path.

    results.json holds what the seeded run computes (no timings, paths relative to `out`), so two
    runs on the same machine type and thread count give identical files; timing.json holds the
    stage seconds, budgets and throughputs.

    Args:
        out: the reproduction folder (must exist); the files are overwritten.
        results: the results dict of `run_reproduction`: "preset", "settings", "seed",
            "total_seconds", "environment" and "stages" (stage name -> result dict with "seconds").

    Returns:
        The path of the written `report.md` (stage timings, then the world, translator, dataset,
        CLIP and captioner sections of the stages present).
    """
    out = Path(out)
    numbers, timings = split_timing(results, out)
    write_json_atomic(out / "results.json", numbers, default=str)
    write_json_atomic(out / "timing.json", timings or {}, default=str)
    stages = results["stages"]
    lines = [f"# FusionRS reproduction: preset `{results['preset']}`", "",
             results["settings"].get("description", ""), "",
             f"Seed {results['seed']}; total {results['total_seconds']:.0f} s on {results['environment'].get('cpu', 'this machine')}.",
             "", "| stage | seconds | budget |", "|---|---|---|"]
    for name, res in stages.items():
        flag = " (over)" if res.get("over_budget") else ""
        lines.append(f"| {name} | {res['seconds']:.0f}{flag} | {res.get('budget_s')} |")
    if "world" in stages:
        fit = stages["world"]["linear_fit"]
        lines += ["", "## Procedural world", "", "Linear RGB->IR fit over the world scenes: "
                  + ", ".join(f"{k} {_fmt(v)}" for k, v in fit.items()) + "."]
    if "translator" in stages:
        t = stages["translator"]
        lines += ["", "## RGB->IR translator fidelity (held-out world scenes)", "",
                  f"{t['steps']} steps in {t['train_seconds']:.0f} s; {t['held_out_scenes']} held-out scenes.", ""]
        lines += _translator_table(t)
    if "build" in stages:
        b = stages["build"]
        lines += ["", "## Dataset", "", f"Splits {b['splits']}; translator `{b['translator']}`, captioner "
                  f"`{b['captioner']}`; {b['failures']} failed items.", "", "![samples](build/samples.png)"]
    for extra in ("clip", "vlm"):
        if extra in stages and "report_lines" in stages[extra]:
            lines += [""] + stages[extra]["report_lines"]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def summary_lines(results: dict[str, Any]) -> list[str]:
    """The headline numbers for the terminal: translator vs baselines, CLIP variants, captioner.

    Args:
        results: the results dict of `run_reproduction` (its "stages" are read).

    Returns:
        One line per stage present among translator (PSNR per system), clip (Mean Recall per
        variant) and vlm (BLEU-4 and CIDEr-D of conventional captions); empty when none ran.
    """
    stages, lines = results["stages"], []
    if "translator" in stages:
        systems = stages["translator"]["systems"]
        lines.append("translator PSNR (held-out world): " + ", ".join(
            f"{name} {means['psnr']:.2f} dB" for name, means in systems.items()))
    if "clip" in stages:
        evaluations = stages["clip"]["evaluations"]
        lines.append("CLIP Mean Recall (validation): " + ", ".join(
            f"{name} {ev['mean_recall']:.2f}" for name, ev in evaluations.items()))
    if "vlm" in stages:
        metrics = stages["vlm"]["all_metrics"]
        lines.append("captioner (conventional captions): " + ", ".join(
            f"{name.split('/')[0]} BLEU-4 {m.get('BLEU-4', 0):.3f} CIDEr-D {m.get('CIDEr-D', 0):.3f}"
            for name, m in metrics.items() if name.endswith("/caption")))
    return lines
