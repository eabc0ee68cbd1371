"""The command line's contract: one line and exit 2 for every expected failure, light imports on the
paths that need no model, and every command line the docs show still parses."""

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

FUSIONRS = shutil.which("fusionrs", path=str(Path(sys.executable).parent)) or "fusionrs"
HEAVY = ("torch", "transformers", "datasets", "diffusers", "gradio")


def run_cli(*args, cwd=None, timeout=300):
    return subprocess.run([FUSIONRS, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout)


# One semantic bad input per subcommand (missing folders, unknown kinds), plus the four.
BAD_INPUTS = [
    (["build", "radar:/x", "--out", "o"], "unknown kind 'radar'"),
    (["build", "rsicd:/nonexistent", "--out", "o"], "/nonexistent does not exist"),
    (["build", "synth:4", "--translator", "bogus", "--out", "o"], "unknown translator 'bogus'"),
    (["build", "synth:4", "--captioner", "bogus", "--out", "o"], "unknown IR captioner 'bogus'"),
    (["train", "clip", "--data", "/nope", "--out", "o"], "'/nope' does not exist"),
    (["train", "vlm", "--data", "/nope", "--out", "o"], "'/nope' does not exist"),
    (["train", "translator", "--pairs", "/nope", "--out", "o"], "/nope"),
    (["eval", "vlm", "--model", "/nope", "--data", "/nope", "--json", "e.json"], "/nope: not a model folder"),
    (["eval", "clip", "--model", "/nope", "--data", "/nope", "--json", "e.json"], "/nope"),
    (["eval", "translator", "--model", "/nope", "--pairs", "/nope", "--json", "e.json"], "/nope"),
    (["inspect", "/nope"], "'/nope' does not exist"),
    (["captions", "--data", "/nope", "--backend", "grounded", "--out", "o"], "'/nope' does not exist"),
    (["push", "dataset", "/nope", "--repo", "a/b"], "/nope"),
    (["check-images", "/nope"], "/nope"),
    (["convert-clip", "--open-clip", "/nope", "--arch", "ViT-B-32", "--out", "o"], "/nope"),
    (["convert-diffv2ir", "/nope", "--out", "o"], "/nope"),
    (["reproduce", "--preset", "nope", "--out", "o"], "invalid choice"),
    (["synth", "--n", "0", "--out", "o"], "positive integer"),
    (["space", "--port", "0"], "positive integer"),
    (["demo", "--bogus"], "unrecognized arguments"),
    (["env", "--bogus"], "unrecognized arguments"),
]


@pytest.mark.parametrize("args, message", BAD_INPUTS, ids=[" ".join(a[:2]) + f"#{i}" for i, (a, _) in enumerate(BAD_INPUTS)])
def test_expected_failures_print_one_line_and_exit_2(args, message, tmp_path):
    result = run_cli(*args, cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(lines) == 1 and message in lines[0], result.stderr


def _modules_after(code: str) -> dict:
    probe = (
        "import json, sys\n" + code + "\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


CLI_CALL = "from fusionrs.cli.main import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"


@pytest.mark.parametrize(
    "code",
    [
        "import fusionrs",
        CLI_CALL.format(argv=["--help"]),
        CLI_CALL.format(argv=["train", "clip", "--help"]),
        CLI_CALL.format(argv=["build", "radar:/x", "--out", "o"]),
        CLI_CALL.format(argv=["build", "rsicd:/nonexistent", "--out", "o"]),
        CLI_CALL.format(argv=["synth", "--n", "0", "--out", "o"]),
    ],
    ids=["import", "help", "train-clip-help", "build-radar", "build-missing-root", "bad-int"],
)
def test_light_paths_import_no_heavy_library(code):
    assert _modules_after(code) == []


def test_lazy_hooks_still_fire_after_a_light_import():
    # `import fusionrs` imports neither library, yet both registrations happen once they load.
    code = (
        "import fusionrs, sys\nassert 'datasets' not in sys.modules\nimport datasets\n"
        "assert getattr(datasets.load.dataset_module_factory, '_fusionrs_hook', False)\n"
        "from transformers.pipelines import PIPELINE_REGISTRY\n"
        "assert 'rgb-ir-captioning' in PIPELINE_REGISTRY.supported_tasks\n"
        "assert callable(fusionrs.load_dataset)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr


# -- every `fusionrs ...` command line shown in fenced code blocks of the docs still parses ------------------

DOC_FILES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")),
             *sorted((REPO_ROOT / "benchmarks").glob("*.md"))]
_COMMAND = re.compile(r"(?:^|[;&|]\s*|\b(?:time|nohup)\s+|/bin/|^(?:[A-Z_]+=\S+\s+)+)(fusionrs\s.*)$")


def documented_command_lines() -> list[tuple[str, str]]:
    """(file, command line) for every `fusionrs ...` line inside a fenced code block."""
    found = []
    for path in DOC_FILES:
        in_block, pending = False, ""
        for raw in path.read_text(encoding="utf-8").splitlines():
            if raw.strip().startswith("```"):
                in_block, pending = not in_block, ""
                continue
            if not in_block:
                continue
            line = (pending + " " + raw.strip()).strip()
            pending = ""
            if line.endswith("\\"):
                pending = line[:-1]
                continue
            match = _COMMAND.search(line)
            if match:
                found.append((path.relative_to(REPO_ROOT).as_posix(), match.group(1)))
    return found


COMMAND_LINES = documented_command_lines()


def test_the_docs_show_command_lines():
    files = {name for name, _ in COMMAND_LINES}
    assert len(COMMAND_LINES) >= 40 and {"README.md", "docs/translator.md", "benchmarks/vlm.md"} <= files


@pytest.mark.parametrize("where, line", COMMAND_LINES, ids=[f"{w}:{i}" for i, (w, _) in enumerate(COMMAND_LINES)])
def test_documented_command_line_parses(where, line):
    from fusionrs.cli.main import build_parser

    words = shlex.split(line, comments=True)[1:]
    words = [w for w in words if not (w.startswith("[") and w.endswith("]"))]  # optional flags shown as [--kid]
    args = build_parser().parse_args(words)  # exits 2 (one line on stderr) if the docs went stale
    assert callable(args.run), f"{where}: {line}"
