"""HIT-UAV real-thermal VQA by the FusionRS authors' protocol: val manifest, prior and no-LLM baselines.

Builds the train and val manifests with `fusionrs.vlm.official_vqa` (the release's rules), then scores
on val, with the release's parser and a strict exact-match reading, image-level bootstrap CIs
(1,000 draws, seed 42):

- prior (type): the most frequent train answer of each question type;
- prior (type, class): the most frequent train answer per (question type, object class);
- no-LLM: frozen DINOv2-S/14 features of the thermal image at 224 px (CLS, mean patch token and a
  3 x 3 grid of mean patch tokens: 11 x 384 values, standardised on train), one L2-regularised
  softmax regression per question type and class (presence: yes/no; count: the count values seen in
  train; location: the regions; dominant class: the five answers). The L2 weight is chosen per
  question type from a fixed grid on a flight-grouped 20% slice of *train* (flight = the file name
  without its frame number; consecutive frames are near duplicates), then refit on all of train.
  Val is scored once.

Run: OMP_NUM_THREADS=2 .venv/bin/python benchmarks/hit_uav_vqa_official.py
Writes benchmarks/hit_uav_vqa_official.json / .md (and runs/hit_uav_vqa/ manifests + predictions).

A model's replies (`fusionrs eval vlm --vqa-manifest runs/hit_uav_vqa/val.jsonl ...` writes them) join the
table without recomputing the baselines:
    .venv/bin/python benchmarks/hit_uav_vqa_official.py --add "NAME=EVAL_predictions.jsonl"
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

from fusionrs.core.hashing import file_sha256
from fusionrs.metrics.official_vqa import prior_predictions, score_official_vqa
from fusionrs.results import write_results
from fusionrs.vlm.official_vqa import build_official_manifest, load_annotations, manifest_summary, resolve_image
from fusionrs.vlm.official_vqa import read_predictions, write_official_manifest, write_predictions

HERE = Path(__file__).resolve().parent
HIT_UAV = HERE.parent.parent / "shared" / "data" / "hit_uav"
L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1)
HOLDOUT_SHARE = 0.2
SEED = 0


def flight_of(file_name: str) -> str:
    """HIT-UAV names are DAYNIGHT_ALTITUDE_ANGLE_X_FRAME.jpg; a flight is everything but the frame."""
    return "_".join(Path(file_name).stem.split("_")[:-1])


def image_features(paths: list[Path], batch_size: int = 32) -> np.ndarray:
    """(N, 11 * 384) DINOv2-S features: CLS, mean patch, 3 x 3 grid of mean patches, at 224 px."""
    from PIL import Image
    from tqdm.auto import tqdm

    from fusionrs.core.dinov2 import load_dinov2_small, preprocess_images

    model = load_dinov2_small(device="cpu", dtype=torch.float32)
    out = []
    for start in tqdm(range(0, len(paths), batch_size), desc="DINOv2 features", unit="batch"):
        images = [Image.open(p) for p in paths[start:start + batch_size]]
        pixels = torch.from_numpy(preprocess_images(images, 224))
        with torch.inference_mode():
            hidden = model(pixel_values=pixels).last_hidden_state  # (B, 1 + 256, 384)
        cls, patches = hidden[:, 0], hidden[:, 1:]
        grid = patches.reshape(len(images), 16, 16, -1).permute(0, 3, 1, 2)
        cells = torch.nn.functional.adaptive_avg_pool2d(grid, 3).flatten(2).transpose(1, 2)  # (B, 9, 384)
        out.append(torch.cat([cls[:, None], patches.mean(1, keepdim=True), cells], 1).flatten(1).numpy())
    return np.concatenate(out)


def fit_softmax(x: np.ndarray, y: np.ndarray, n_classes: int, l2: float) -> torch.Tensor:
    """Weights (D + 1, K) of an L2-regularised softmax regression fit by L-BFGS (full batch)."""
    torch.manual_seed(SEED)
    xt = torch.cat([torch.from_numpy(x), torch.ones(len(x), 1)], 1)
    yt = torch.from_numpy(y).long()
    w = torch.zeros(xt.shape[1], n_classes, requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=1, max_iter=200, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w, yt) + l2 * (w[:-1] ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach()


def predict_softmax(w: torch.Tensor, x: np.ndarray) -> np.ndarray:
    xt = torch.cat([torch.from_numpy(x), torch.ones(len(x), 1)], 1)
    return (xt @ w).argmax(1).numpy()


def heads(rows: list[dict]) -> dict[tuple[str, object], list[dict]]:
    """Rows grouped into one classification head per (question type, object class)."""
    grouped: dict[tuple[str, object], list[dict]] = {}
    for row in rows:
        grouped.setdefault((row["question_type"], row["object_class"]), []).append(row)
    return grouped


def no_llm_predictions(train: list[dict], evaluated: list[dict], train_feats: dict[int, np.ndarray],
                       eval_feats: dict[int, np.ndarray], flights: dict[int, str], log: dict) -> dict[str, str]:
    """Fit the per-(type, class) heads (L2 per type chosen on a flight-grouped train slice); answer `evaluated`.

    Features are keyed by image id within their own split (`train_feats` for `train`, `eval_feats` for
    `evaluated`)."""
    flight_names = sorted(set(flights.values()))
    held = {f for f in flight_names
            if int(hashlib.sha256(f"{SEED}:{f}".encode()).hexdigest(), 16) % 1000 < HOLDOUT_SHARE * 1000}
    train_heads, eval_heads = heads(train), heads(evaluated)

    def run(fit_rows: list[dict], answer_rows: list[dict], answer_feats: dict[int, np.ndarray],
            l2: float) -> dict[str, str]:
        labels = sorted({r["canonical_answer"] for r in fit_rows})
        if len(labels) == 1:
            return {r["question_id"]: labels[0] for r in answer_rows}
        x = np.stack([train_feats[r["image_id"]] for r in fit_rows])
        y = np.array([labels.index(r["canonical_answer"]) for r in fit_rows])
        w = fit_softmax(x, y, len(labels), l2)
        pred = predict_softmax(w, np.stack([answer_feats[r["image_id"]] for r in answer_rows]))
        return {r["question_id"]: labels[k] for r, k in zip(answer_rows, pred)}

    chosen = {}
    for question_type in sorted({k[0] for k in train_heads}):
        keys = [k for k in train_heads if k[0] == question_type]
        accuracy = {}
        for l2 in L2_GRID:
            hits = total = 0
            for key in keys:
                fit = [r for r in train_heads[key] if flights[r["image_id"]] not in held]
                hold = [r for r in train_heads[key] if flights[r["image_id"]] in held]
                if not fit or not hold:
                    continue
                answers = run(fit, hold, train_feats, l2)
                hits += sum(answers[r["question_id"]] == r["canonical_answer"] for r in hold)
                total += len(hold)
            accuracy[l2] = hits / max(total, 1)
        chosen[question_type] = max(L2_GRID, key=lambda l2: (accuracy[l2], -l2))
        log[question_type] = {"holdout_accuracy": {str(k): round(100 * v, 2) for k, v in accuracy.items()},
                              "l2": chosen[question_type]}
        print(f"  {question_type}: holdout accuracy per L2 {log[question_type]['holdout_accuracy']} -> "
              f"{chosen[question_type]}", flush=True)
    predictions = {}
    for key, rows in eval_heads.items():
        if key in train_heads:
            predictions.update(run(train_heads[key], rows, eval_feats, chosen[key[0]]))
    return predictions


def summary_line(report: dict, reading: str = "official") -> dict:
    part = report[reading]
    return {"overall": part["overall"], "by_type": part["by_type"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hit-uav", default=str(HIT_UAV))
    parser.add_argument("--work", default="runs/hit_uav_vqa")
    parser.add_argument("--out", default=str(HERE / "hit_uav_vqa_official"))
    parser.add_argument("--add", action="append", default=[], metavar="NAME=PREDICTIONS",
                        help="score a predictions file on the val manifest and add it to the committed table")
    args = parser.parse_args(argv)
    if args.add:
        return add_systems(args)
    root, work = Path(args.hit_uav), Path(args.work)
    t0 = time.time()
    manifests = {}
    for split in ("train", "val"):
        manifests[split] = build_official_manifest(load_annotations(root / f"{split}.jsonl"), locator_folder=split)
        write_official_manifest(manifests[split], work / f"{split}.jsonl")
    train, val = manifests["train"], manifests["val"]
    systems = {
        "prior (type)": prior_predictions(train, val, by="type"),
        "prior (type, class)": prior_predictions(train, val, by="type_class"),
    }
    images = {}
    for split, rows in manifests.items():
        for row in rows:
            images[(split, row["image_id"])] = resolve_image(root, row)
    keys = sorted(images)
    t1 = time.time()
    matrix = image_features([images[k] for k in keys])
    feature_seconds = time.time() - t1
    feats = {k: v for k, v in zip(keys, matrix)}
    mean, std = matrix[[k[0] == "train" for k in keys]].mean(0), matrix[[k[0] == "train" for k in keys]].std(0) + 1e-6
    train_feats = {k[1]: (v - mean) / std for k, v in feats.items() if k[0] == "train"}
    val_feats = {k[1]: (v - mean) / std for k, v in feats.items() if k[0] == "val"}
    flights = {row["image_id"]: flight_of(row["ir_image"]) for row in train}
    selection: dict = {}
    t2 = time.time()
    systems["no-LLM (DINOv2-S + softmax regression)"] = no_llm_predictions(train, val, train_feats, val_feats,
                                                                            flights, selection)
    fit_seconds = time.time() - t2
    reports = {name: score_official_vqa(val, preds) for name, preds in systems.items()}
    for name, preds in systems.items():  # e.g. predictions_prior_type_class.jsonl
        write_predictions(work / f"predictions_{re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_')}.jsonl", preds)
    results = {
        "data": {"hit_uav": str(root), "train_jsonl_sha256": file_sha256(root / "train.jsonl"),
                 "val_jsonl_sha256": file_sha256(root / "val.jsonl"), "translator": None, "captioner": None},
        "manifests": {split: manifest_summary(rows) for split, rows in manifests.items()},
        "systems": {name: {"official": summary_line(r, "official"), "strict": summary_line(r, "strict"),
                           "presence_confusion": r["official"]["confusion"]} for name, r in reports.items()},
        "flight_overlap": {"val_images": len({r["image_id"] for r in val}),
                           "val_images_from_train_flights": len({r["image_id"] for r in val
                                                                 if flight_of(r["ir_image"]) in set(flights.values())}),
                           "train_flights": len(set(flights.values()))},
        "no_llm_selection": {"l2_grid": list(L2_GRID), "holdout_share_of_flights": HOLDOUT_SHARE,
                             "per_type": selection},
        "timing": {"feature_seconds": round(feature_seconds, 1), "fit_seconds": round(fit_seconds, 1),
                   "total_seconds": round(time.time() - t0, 1), "threads": torch.get_num_threads()},
    }
    out = Path(args.out)
    write_results(out.with_suffix(".json"), results, command=" ".join([Path(sys.executable).name] + sys.argv),
                  seed=SEED)
    out.with_suffix(".md").write_text(render(results))
    print(out.with_suffix(".md").read_text())
    return 0


def add_systems(args: argparse.Namespace) -> int:
    """Score prediction files on the val manifest; add them to the existing results JSON and table."""
    out = Path(args.out)
    payload = json.loads(out.with_suffix(".json").read_text())
    results = payload["results"]
    val = build_official_manifest(load_annotations(Path(args.hit_uav) / "val.jsonl"), locator_folder="val")
    for item in args.add:
        name, _, path = item.partition("=")
        report = score_official_vqa(val, read_predictions(path))
        results["systems"][name] = {"official": summary_line(report, "official"),
                                    "strict": summary_line(report, "strict"),
                                    "presence_confusion": report["official"]["confusion"],
                                    "predictions": Path(path).name, "missing": report["missing_predictions"]}
    write_results(out.with_suffix(".json"), results, command=payload["command"] + " ; " + " ".join(
        [Path(sys.executable).name] + sys.argv), seed=SEED)
    out.with_suffix(".md").write_text(render(results))
    print(out.with_suffix(".md").read_text())
    return 0


def render(results: dict) -> str:
    val = results["manifests"]["val"]
    counts = ", ".join(f"{n} {t}" for t, n in val["question_type_counts"].items())
    lines = [
        "# HIT-UAV real-thermal VQA, the authors' protocol (val split)",
        "",
        "Made by `benchmarks/hit_uav_vqa_official.py` (see its docstring); manifests by "
        "`fusionrs vqa manifest`, scores by `fusionrs vqa score` (the release's parser, image-level "
        "bootstrap 95% CIs, 1,000 draws, seed 42). HIT-UAV's test split is not public here; val is "
        "scored once.",
        "",
        f"Val manifest: {val['questions']} questions on {val['images']} images ({counts}); presence per "
        f"class {val['presence_by_class']}, yes/no {val['presence_answer_counts']}.",
        "",
        "| system | overall (official) | 95% CI | presence | count | location | dominant class | strict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    order = ("object_presence", "object_count", "group_location", "dominant_object_class")
    for name, system in results["systems"].items():
        overall = system["official"]["overall"]
        cells = [f"{system['official']['by_type'][t]['accuracy']:.2f}" for t in order]
        low, high = overall["accuracy_ci95"]
        lines.append(f"| {name} | {overall['accuracy']:.2f} | [{low:.2f}, {high:.2f}] | " + " | ".join(cells)
                     + f" | {system['strict']['overall']['accuracy']:.2f} |")
    overlap = results["flight_overlap"]
    lines += [
        "",
        f"Caveat: all {overlap['val_images_from_train_flights']} of {overlap['val_images']} val images come from "
        f"flight groups (file name without frame number; {overlap['train_flights']} in train) that also appear "
        "in train, and consecutive frames are near duplicates, so val measures in-distribution recall; "
        "a feature baseline that memorises scenes profits from that as a fine-tuned VLM would. The L2 weight "
        "hit the grid's upper edge (0.1) for three of the four question types; the grid was fixed before the "
        "run and is not widened after seeing val.",
        "",
        "Per-type CIs, the presence confusion and the L2 selection are in the JSON. Timing: "
        f"{results['timing']}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
