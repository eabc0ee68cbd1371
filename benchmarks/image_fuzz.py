"""Mutated images through the reader a build uses: every outcome must be the package's own error.

    .venv/bin/python benchmarks/image_fuzz.py --count 6000 --seed 0 \
        --json benchmarks/image_fuzz.json --md benchmarks/image_fuzz.md

`--count` files from `tests/hostile.py` (equal shares of PNG, JPEG, GIF, BMP, WebP and TIFF; bit
flips, byte overwrites, truncations, chunk duplication/deletion, random insertion, header fields
set to boundary values) are written to a temporary source folder, then each is read the way the
builder reads a source file: `read_source_bytes(root, name)` then `load_image(data, name=name)`
with the default pixel limit. Outcomes are counted per format: decoded, each ImageReadError
class, and foreign exceptions (anything else; must be 0). For CorruptImageError the decoder's own
exception (the `__cause__`: what escaped `load_image` before it was wrapped) is counted too.
A second table runs `make_escape_tree` (FIFO, /dev/zero link, links out of the root, a loop, an
oversize file) through `read_source_bytes`, each under a 10 s guard.

`--baseline OLD_IMAGE_IO.py` also runs the same bytes through the `load_image` of an older copy of
fusionrs/core/image_io.py (e.g. `git show 3f5450c:fusionrs/core/image_io.py > /tmp/image_io_before.py`),
to count what escaped it.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import logging
import resource
import shlex
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusionrs.core.image_io import CorruptImageError, load_image, read_source_bytes  # noqa: E402
from fusionrs.errors import ImageReadError  # noqa: E402
from fusionrs.results import write_results  # noqa: E402
from tests.hostile import FORMATS, hostile_images, make_escape_tree  # noqa: E402

GUARD_SECONDS = 10.0
ESCAPE_MAX_BYTES = 1 << 20


def fuzz(count: int, seed: int, root: Path) -> dict:
    """Write the corpus into `root`, read every file back through the builder's path, count outcomes."""
    per_format = {fmt: collections.Counter() for fmt in FORMATS}
    causes = collections.Counter()
    foreign, seconds, reasons = [], [], {}
    samples = list(hostile_images(count, seed))
    for sample in samples:
        (root / sample.name).write_bytes(sample.data)
    for sample in samples:
        start = time.perf_counter()
        try:
            data = read_source_bytes(root, sample.name, name=sample.name)
            load_image(data, name=sample.name)
            outcome = "ok"
        except ImageReadError as error:
            outcome = type(error).__name__
            reasons[sample.name] = f"{outcome}: {error.reason.split(':')[0][:90]}"
            if isinstance(error, CorruptImageError):
                causes[f"{type(error.__cause__).__module__}.{type(error.__cause__).__qualname__}"] += 1
        except Exception as error:  # what must never happen: counted, not raised, so the run finishes
            outcome = "FOREIGN"
            foreign.append({"name": sample.name, "mutation": sample.mutation,
                            "exception": f"{type(error).__name__}: {str(error)[:200]}"})
        seconds.append(time.perf_counter() - start)
        per_format[sample.format][outcome] += 1
    seconds.sort()
    return {
        "files": len(samples),
        "per_format": {fmt: dict(sorted(counts.items())) for fmt, counts in per_format.items()},
        "foreign_exceptions": len(foreign),
        "foreign_examples": foreign[:20],
        "decoder_exceptions_wrapped": dict(causes.most_common()),
        "seconds_total": round(sum(seconds), 3),
        "seconds_per_file_median": round(seconds[len(seconds) // 2], 6),
        "seconds_per_file_p99": round(seconds[int(len(seconds) * 0.99)], 6),
        "seconds_per_file_max": round(seconds[-1], 6),
        "_reasons": reasons,  # per file, for the comparison with --baseline; not written
    }


def baseline(count: int, seed: int, module_path: Path, reasons_now: dict[str, str]) -> dict:
    """Foreign exceptions per format from an older `load_image` (the bytes as the old builder read
    them), and the files it decoded that are refused now, by today's error and reason."""
    spec = importlib.util.spec_from_file_location("image_io_baseline", module_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    per_format = {fmt: collections.Counter() for fmt in FORMATS}
    refused_now = collections.Counter()
    for sample in hostile_images(count, seed):
        try:
            module.load_image(sample.data, name=sample.name)
            outcome = "ok"
            if sample.name in reasons_now:
                refused_now[f"{sample.format} {reasons_now[sample.name]}"] += 1
        except ImageReadError:
            outcome = "package error"
        except Exception as error:
            outcome = f"FOREIGN {type(error).__module__}.{type(error).__qualname__}"
        per_format[sample.format][outcome] += 1
    return {"module": str(module_path), "per_format": {fmt: dict(sorted(c.items())) for fmt, c in per_format.items()},
            "decoded_before_refused_now": dict(refused_now.most_common())}


def escape_cases(workdir: Path) -> dict:
    """Each entry of `make_escape_tree` through `read_source_bytes`: the error, and how long it took."""
    root, outside = workdir / "source", workdir / "elsewhere"
    locators = make_escape_tree(root, outside, oversize_bytes=2 * ESCAPE_MAX_BYTES)
    cases = [(kind, root, locator) for kind, locator in locators.items()]
    if Path("/dev/zero").exists():
        cases.append(("/dev/zero itself (root /dev)", Path("/dev"), "zero"))
    results = {}
    for kind, case_root, locator in cases:
        outcome: dict = {}

        def attempt(case_root=case_root, locator=locator, outcome=outcome):
            try:
                data = read_source_bytes(case_root, locator, max_bytes=ESCAPE_MAX_BYTES)
                outcome["result"] = f"read {len(data)} bytes"
            except ImageReadError as error:
                outcome["result"] = type(error).__name__
                outcome["reason"] = error.reason
            except Exception as error:
                outcome["result"] = f"FOREIGN {type(error).__name__}: {error}"

        start = time.perf_counter()
        thread = threading.Thread(target=attempt, daemon=True)
        thread.start()
        thread.join(GUARD_SECONDS)
        outcome["seconds"] = round(time.perf_counter() - start, 6)
        if thread.is_alive():
            outcome["result"] = f"BLOCKED over {GUARD_SECONDS} s"
        results[kind] = dict(outcome)
    return results


def markdown(results: dict, command: str) -> str:
    run = results["fuzz"]
    classes = sorted({name for counts in run["per_format"].values() for name in counts} - {"ok", "FOREIGN"})
    header = ["format", "files", "decoded ok", *classes, "foreign"]
    lines = [
        "# Mutated images through `read_source_bytes` + `load_image`",
        "",
        f"{run['files']:,} files from `tests/hostile.py` (seed {results['seed']}): bit flips, byte overwrites, "
        "truncations, chunk duplication/deletion, random insertion and header fields set to boundary values, "
        "one file in eight with 2-3 stacked mutations. Each is written to a source folder and read as the "
        "builder reads a source file, with the default pixel limit.",
        "",
        "```bash",
        command,
        "```",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    totals = collections.Counter()
    for fmt, counts in run["per_format"].items():
        files = sum(counts.values())
        totals.update(counts)
        totals["files"] += files
        row = [fmt, f"{files:,}", f"{counts.get('ok', 0):,}", *(f"{counts.get(c, 0):,}" for c in classes),
               str(counts.get("FOREIGN", 0))]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("| **all** | " + " | ".join(
        [f"{totals['files']:,}", f"{totals['ok']:,}", *(f"{totals[c]:,}" for c in classes), f"**{totals['FOREIGN']}**"]
    ) + " |")
    wrapped = ", ".join(f"`{name}` {n}" for name, n in run["decoder_exceptions_wrapped"].items()) or "none"
    lines += [
        "",
        f"**Foreign exceptions: {run['foreign_exceptions']}.** `CorruptImageError` is a decoder's own exception "
        f"wrapped with the file named (it escaped `load_image` before this change); its causes: {wrapped}.",
        "",
        f"Time per file: median {run['seconds_per_file_median'] * 1e3:.2f} ms, p99 "
        f"{run['seconds_per_file_p99'] * 1e3:.2f} ms, max {run['seconds_per_file_max'] * 1e3:.1f} ms; "
        f"{run['seconds_total']:.1f} s in all; peak RSS {results['peak_rss_mb']:.0f} MB. The slowest files and "
        "the peak are headers claiming large sizes under the default 200 MP limit: the decoder allocates the "
        "image before it finds the data missing.",
        "",
        f"## Entries that try to leave the source root or hang the reader (`max_bytes={ESCAPE_MAX_BYTES:,}`)",
        "",
        "| entry | outcome | seconds |",
        "|---|---|---|",
    ]
    for kind, outcome in results["escape"].items():
        lines.append(f"| {kind} | {outcome['result']} | {outcome['seconds']:.4f} |")
    if "baseline" in results:
        ref = results["baseline"].get("ref")
        made = f" (`git show {ref}:fusionrs/core/image_io.py > {results['baseline']['module']}`)" if ref else ""
        lines += ["", f"## Before: the same bytes through the older `load_image` in {results['baseline']['module']}{made}", "",
                  "| format | files | decoded ok | package error | foreign exceptions |", "|---|---|---|---|---|"]
        for fmt, counts in results["baseline"]["per_format"].items():
            foreign = {k[len("FOREIGN "):]: v for k, v in counts.items() if k.startswith("FOREIGN ")}
            listed = ", ".join(f"`{k}` {v}" for k, v in sorted(foreign.items(), key=lambda kv: -kv[1]))
            lines.append(f"| {fmt} | {sum(counts.values()):,} | {counts.get('ok', 0):,} | "
                         f"{counts.get('package error', 0):,} | {sum(foreign.values())}{': ' + listed if listed else ''} |")
        refused = results["baseline"]["decoded_before_refused_now"]
        if refused:
            lines += ["", f"Decoded before, refused now ({sum(refused.values())} files):", ""]
            lines += [f"- {n} x {reason}" for reason, n in refused.items()]
    env = results.get("environment", {})
    lines += ["", f"Pillow {env.get('pillow', '?')}, tifffile {env.get('tifffile', '?')}, Python {env.get('python', '?')}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=6000, help="mutated files (split evenly over 6 formats)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/image_fuzz.json"))
    parser.add_argument("--md", type=Path, default=Path("benchmarks/image_fuzz.md"))
    parser.add_argument("--baseline", type=Path, help="an older image_io.py to count what escaped it")
    parser.add_argument("--baseline-ref", help="the git commit --baseline was taken from (recorded only)")
    args = parser.parse_args()
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)  # one warning per malformed tag otherwise
    warnings.simplefilter("ignore")

    with tempfile.TemporaryDirectory(prefix="fusionrs-image-fuzz-") as workdir:
        root = Path(workdir) / "corpus"
        root.mkdir()
        results = {"seed": args.seed, "fuzz": fuzz(args.count, args.seed, root), "escape": escape_cases(Path(workdir))}
    reasons_now = results["fuzz"].pop("_reasons")
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the baseline run
    if args.baseline:
        results["baseline"] = baseline(args.count, args.seed, args.baseline, reasons_now) | {"ref": args.baseline_ref}
    import PIL
    import tifffile

    results["environment"] = {"pillow": PIL.__version__, "tifffile": tifffile.__version__,
                              "python": sys.version.split()[0]}
    command = "python benchmarks/image_fuzz.py " + shlex.join(sys.argv[1:])
    write_results(args.json, results, command=command, seed=args.seed)
    args.md.write_text(markdown(results, command))
    print(markdown(results, command))
    if results["fuzz"]["foreign_exceptions"]:
        raise SystemExit(f"{results['fuzz']['foreign_exceptions']} foreign exception(s): see {args.json}")


if __name__ == "__main__":
    main()
