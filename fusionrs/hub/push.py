"""Publish a dataset, model or Space folder to the hub: check the folder, write its card, upload.

Checks come first and are local, so a wrong folder or an invalid card fails before anything is
created on the hub. Uploads go through `HfApi.create_repo(exist_ok=True)` + `upload_folder`, i.e.
whatever endpoint `HF_ENDPOINT` names (the tests use a fake hub on 127.0.0.1).

The card is written into the folder before the upload (so the local folder and the repo agree), except
with `dry_run=True`, which only reports what would be uploaded and the rendered card.

A Space folder whose requirements.txt holds the `# fusionrs-wheel` marker line (spaces/fusionrs/ does) deploys
without hand edits: the push builds fusionrs's wheel from this source checkout (or takes `space_wheel`),
uploads it into the Space repo and, in the uploaded copy only, replaces the marker with
`fusionrs @ <the wheel's resolve URL in that repo>#sha256=<its digest>` (Spaces install requirements before the
repo's files are copied in, so a local path would not exist yet; the hash pins exactly this build).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fusionrs.core.model_card import render_model_card
from fusionrs.data.card import refresh_dataset_card
from fusionrs.data.summary import INSPECT_DIR
from fusionrs.errors import FusionRSError
from fusionrs.errors import FolderError  # noqa: F401  (defined in errors.py, re-exported here)
from fusionrs.hub.resolve import HubOfflineError, is_offline
from fusionrs.hub.validation import check_card, split_front_matter

__all__ = ["FolderError", "PushReport", "PUSH_KINDS", "MODEL_KINDS", "SPACE_WHEEL_MARKER", "build_wheel",
           "detect_model_kind", "check_folder", "pin_space_wheel", "push_folder", "files_to_upload", "describe",
           "upload_ignore_patterns"]

PUSH_KINDS = ("dataset", "model", "space")
MODEL_KINDS = ("translator", "clip", "vlm")
# Never uploaded from a model/Space folder: training state (optimizer pickles, resumable checkpoints)
# and pickled weights (DESIGN: safetensors only); plus what huggingface_hub itself skips (.git, caches).
MODEL_IGNORE = ["checkpoints/**", "checkpoints", "samples/**", "logs/**", "*.pt", "*.pth", "*.ckpt", "*.pkl", "*.bin",
                "optimizer*", "**/__pycache__/**", "**/.*", ".*"]
# Never uploaded from a dataset folder: what only the local copy needs (`fusionrs inspect`'s summary and
# sample grids in FOLDER/inspect), editor/OS litter and temporary files; huggingface_hub adds its own skips.
DATASET_LOCAL_ONLY = (INSPECT_DIR,)
DATASET_IGNORE = [*(p for d in DATASET_LOCAL_ONLY for p in (f"{d}/**", d)), "**/__pycache__/**", "**/.*", ".*",
                  "*.tmp", "*~", "Thumbs.db", "desktop.ini"]
_CLIP_TYPES = ("clip", "vision-text-dual-encoder", "siglip", "siglip2", "chinese_clip", "altclip")
# A requirements.txt line starting with this comment is replaced by the pinned wheel of this push (Space only).
SPACE_WHEEL_MARKER = "# fusionrs-wheel"
_WHEEL_NAME = re.compile(r"^fusionrs-[0-9][0-9A-Za-z.+!_]*-py3-none-any\.whl$")
# What a wheel build needs from the checkout (pyproject's packages, package-dir and readme); nothing else.
_BUILD_FILES = ("pyproject.toml", "README.md", "LICENSE", "NOTICE", "fusionrs", "model_cards")


@dataclass
class PushReport:
    """What a push did (or, with dry_run, would do)."""

    kind: str
    model_kind: str | None
    repo_id: str
    repo_type: str
    folder: Path
    files: list[tuple[str, int]]
    card: str
    url: str | None = None
    commit_url: str | None = None
    dry_run: bool = False
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise FolderError(f"{path}: not readable JSON ({error})") from error


def detect_model_kind(folder: str | Path) -> str:
    """The kind of model a folder holds, read from its files.

    Args:
        folder: a model folder.

    Returns:
        'translator' (diffusers RGBToIRPipeline folder), 'clip' (dual encoder) or 'vlm' (image-text-to-text).

    Raises:
        FolderError: the folder has no model config, an unreadable one, or one of another kind of model.
    """
    folder = Path(folder)
    if (folder / "translator_config.json").is_file() or (folder / "model_index.json").is_file():
        return "translator"
    if not (folder / "config.json").is_file():
        raise FolderError(f"{folder}: not a model folder (no config.json, model_index.json or translator_config.json)")
    config = _read_json(folder / "config.json")
    model_type = str(config.get("model_type", ""))
    if model_type in _CLIP_TYPES or (folder / "fusionrs_clip.json").is_file():
        return "clip"
    architectures = " ".join(config.get("architectures") or [])
    if (folder / "fusionrs_vlm.json").is_file() or "text_config" in config and "vision_config" in config \
            or "ForConditionalGeneration" in architectures or "ImageTextToText" in architectures:
        return "vlm"
    raise FolderError(f"{folder}: config.json model_type {model_type!r} is neither a CLIP-style dual encoder nor an "
                      "image-text-to-text model; pass the model kind explicitly (translator, clip or vlm)")


def _has_safetensors(folder: Path) -> bool:
    return any(folder.glob("*.safetensors")) or (folder / "model.safetensors.index.json").is_file()


def check_folder(kind: str, folder: str | Path, model_kind: str | None = None) -> str | None:
    """Refuse folders that are not what `kind` promises.

    Args:
        kind: "dataset", "model" or "space".
        folder: the folder to push.
        model_kind: "translator", "clip" or "vlm" for a model (None: `detect_model_kind`).

    Returns:
        The model kind for a model folder; None for a dataset or a Space.

    Raises:
        FolderError: an unknown kind, or a folder that lacks what its kind needs (card, shards, app.py,
            config, safetensors weights).
        FileNotFoundError: `folder` does not exist.
    """
    folder = Path(folder)
    if kind not in PUSH_KINDS:
        raise FolderError(f"unknown push kind {kind!r}; one of {', '.join(PUSH_KINDS)}")
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    if kind == "dataset":
        if not (folder / "README.md").is_file():
            raise FolderError(f"{folder}: a dataset folder needs README.md (YAML configs + dataset_info); "
                              "write it with `fusionrs build` / the dataset writer")
        if not any(folder.glob("data/*.parquet")):
            raise FolderError(f"{folder}: a dataset folder needs parquet shards in data/*.parquet")
        return None
    if kind == "space":
        if not (folder / "app.py").is_file():
            raise FolderError(f"{folder}: a Space folder needs app.py")
        if not (folder / "README.md").is_file():
            raise FolderError(f"{folder}: a Space folder needs README.md with the Space YAML (title, sdk, app_file)")
        return None
    model_kind = model_kind or detect_model_kind(folder)
    if model_kind not in MODEL_KINDS:
        raise FolderError(f"unknown model kind {model_kind!r}; one of {', '.join(MODEL_KINDS)}")
    if model_kind == "translator":
        if not (folder / "model_index.json").is_file():
            raise FolderError(f"{folder}: a translator folder needs model_index.json (RGBToIRPipeline); "
                              "save it with fusionrs.translate.train.save_translator")
        unet = folder / "unet"
        if not (unet / "config.json").is_file() or not any(unet.glob("*.safetensors")):
            raise FolderError(f"{folder}: a translator folder needs unet/config.json and unet/*.safetensors")
        return model_kind
    if not (folder / "config.json").is_file():
        raise FolderError(f"{folder}: a {model_kind} folder needs config.json (transformers save_pretrained)")
    if not _has_safetensors(folder):
        pickles = sorted(p.name for p in folder.glob("*.bin"))
        hint = f" (found {', '.join(pickles)}: re-save with safe_serialization=True)" if pickles else ""
        raise FolderError(f"{folder}: no *.safetensors weights{hint}")
    return model_kind


def files_to_upload(folder: str | Path, ignore_patterns: list[str]) -> tuple[list[tuple[str, int]], list[str]]:
    """The files `upload_folder` would send, and the paths it would skip.

    Args:
        folder: the folder to upload.
        ignore_patterns: glob patterns not to upload (huggingface_hub's defaults are added).

    Returns:
        ([(path in repo, size in bytes), ...], [skipped path, ...]), both sorted.
    """
    from huggingface_hub.utils import filter_repo_objects

    folder = Path(folder)
    paths = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    try:
        from huggingface_hub.hf_api import DEFAULT_IGNORE_PATTERNS
    except ImportError:  # pragma: no cover - older huggingface_hub
        DEFAULT_IGNORE_PATTERNS = []
    kept = list(filter_repo_objects(paths, ignore_patterns=list(ignore_patterns) + list(DEFAULT_IGNORE_PATTERNS)))
    kept_set = set(kept)
    return [(p, (folder / p).stat().st_size) for p in kept], [p for p in paths if p not in kept_set]


def upload_ignore_patterns(kind: str) -> list[str]:
    """The patterns `push_folder` never uploads from a folder of `kind` (huggingface_hub adds its own).

    `files_to_upload(folder, upload_ignore_patterns(kind))` is the file list a push would upload.

    Args:
        kind: "dataset", "model" or "space".

    Returns:
        `DATASET_IGNORE` for a dataset (local-only folders such as `inspect/`), `MODEL_IGNORE` otherwise.

    Raises:
        FolderError: `kind` is not a push kind.
    """
    if kind not in PUSH_KINDS:
        raise FolderError(f"unknown push kind {kind!r}; one of {', '.join(PUSH_KINDS)}")
    return list(DATASET_IGNORE if kind == "dataset" else MODEL_IGNORE)


def _space_sdk(card: str) -> str:
    meta, _ = split_front_matter(card)
    return str((meta or {}).get("sdk") or "gradio")


def build_wheel(out_dir: str | Path, source: str | Path | None = None) -> Path:
    """Build fusionrs's wheel (`pip wheel --no-deps`) from a source checkout.

    The checkout's package files are copied to a temporary folder first, so no stale `build/` folder of an
    earlier build leaks into the wheel and the checkout is left as it was. No build isolation: the build
    backend (setuptools) of this environment is used, so the build works offline.

    Args:
        out_dir: where the wheel is written.
        source: the checkout (a folder with fusionrs's pyproject.toml); None: the one this module lives in.

    Returns:
        The path of the built `fusionrs-<version>-py3-none-any.whl`.

    Raises:
        FolderError: `source` is not a fusionrs source checkout (e.g. fusionrs was installed from a wheel).
        FusionRSError: pip failed to build the wheel (the message ends with pip's last line).
    """
    source = Path(source) if source is not None else Path(__file__).resolve().parents[2]
    pyproject = source / "pyproject.toml"
    if not pyproject.is_file() or not re.search(r'(?m)^name\s*=\s*"fusionrs"', pyproject.read_text()):
        raise FolderError(f"{source}: not a fusionrs source checkout, so no wheel can be built here; pass a built "
                          "wheel (`fusionrs push space DIR --wheel fusionrs-...whl`)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fusionrs-wheel-") as tmp:
        tree = Path(tmp) / "src"
        tree.mkdir()
        skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".*")
        for name in _BUILD_FILES:
            path = source / name
            if path.is_dir():
                shutil.copytree(path, tree / name, ignore=skip)
            elif path.is_file():
                shutil.copy2(path, tree / name)
        built = Path(tmp) / "wheels"
        env = {**os.environ, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                               "-w", str(built), str(tree)], capture_output=True, text=True, env=env)
        wheels = sorted(built.glob("fusionrs-*.whl")) if built.is_dir() else []
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["no wheel written"])[-1]
            raise FusionRSError(f"building the fusionrs wheel from {source} failed: {last}")
        target = out_dir / wheels[-1].name
        shutil.move(str(wheels[-1]), target)
    return target


def _check_wheel(wheel: Path) -> None:
    if not wheel.is_file():
        raise FileNotFoundError(f"{wheel}: no such wheel")
    if not _WHEEL_NAME.match(wheel.name):
        raise FolderError(f"{wheel.name}: not a fusionrs wheel (expected fusionrs-<version>-py3-none-any.whl)")
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        raise FolderError(f"{wheel}: not a wheel (not a zip archive)") from None
    if "fusionrs/__init__.py" not in names:
        raise FolderError(f"{wheel}: the wheel holds no fusionrs/__init__.py")


def pin_space_wheel(requirements: str, url: str) -> str:
    """requirements.txt text with its `# fusionrs-wheel` marker line replaced by `fusionrs @ url`.

    Args:
        requirements: the Space folder's requirements.txt.
        url: the wheel's download URL, with its `#sha256=` fragment.

    Returns:
        The text with the marker line (the first line starting with `SPACE_WHEEL_MARKER`) replaced.

    Raises:
        FolderError: no marker line, or a line that already installs fusionrs (two sources would conflict).
    """
    lines = requirements.splitlines()
    marker = next((i for i, line in enumerate(lines) if line.strip().startswith(SPACE_WHEEL_MARKER)), None)
    if marker is None:
        raise FolderError(f"requirements.txt has no `{SPACE_WHEEL_MARKER}` line to replace with the pinned wheel")
    if any(re.match(r"^fusionrs\b(?!-wheel)", line.strip()) for line in lines):
        raise FolderError("requirements.txt both installs fusionrs and has the wheel marker: keep one of them")
    lines[marker] = f"fusionrs @ {url}"
    return "\n".join(lines) + "\n"


def _stage_space(folder: Path, repo_id: str, wheel: Path | None, staging: Path) -> tuple[Path, list[str]]:
    """The Space folder as it is uploaded: itself, or (with a wheel marker) a copy with the wheel and pin."""
    requirements = folder / "requirements.txt"
    text = requirements.read_text() if requirements.is_file() else ""
    if not any(line.strip().startswith(SPACE_WHEEL_MARKER) for line in text.splitlines()):
        return folder, []
    wheel = Path(wheel) if wheel is not None else build_wheel(staging / "built")
    _check_wheel(wheel)
    from huggingface_hub import constants

    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    url = f"{constants.ENDPOINT.rstrip('/')}/spaces/{repo_id}/resolve/main/{wheel.name}#sha256={digest}"
    pinned = pin_space_wheel(text, url)
    staged = staging / "space"
    shutil.copytree(folder, staged, ignore=shutil.ignore_patterns("fusionrs-*.whl", "__pycache__", ".git"))
    shutil.copy2(wheel, staged / wheel.name)
    (staged / "requirements.txt").write_text(pinned)
    return staged, [f"wheel {wheel.name} (sha256 {digest[:16]}...) goes into the Space repo",
                    f"requirements.txt as uploaded: fusionrs @ {url}"]


def push_folder(
    kind: str,
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    dry_run: bool = False,
    model_kind: str | None = None,
    keep_card: bool = False,
    card_options: Mapping[str, Any] | None = None,
    commit_message: str | None = None,
    space_wheel: str | Path | None = None,
) -> PushReport:
    """Check `folder`, write/refresh its card, create the repo (exist_ok) and upload the folder.

    Offline (`HF_HUB_OFFLINE=1`) a real push is refused at once; `dry_run` works offline.

    Args:
        kind: "dataset", "model" or "space".
        folder: the folder to push.
        repo_id: the target repo, ORG/NAME.
        private: create the repo private.
        token: a hub token (default: the logged-in one / HF_TOKEN).
        dry_run: only report what would be uploaded and the rendered card; nothing is written.
        model_kind: "translator", "clip" or "vlm" for a model (None: detected).
        keep_card: upload the folder's own README.md (still validated) instead of rendering one.
        card_options: keyword arguments for `render_model_card` (base_model, datasets, eval_json,
            license, training_data).
        commit_message: the commit message (default: "fusionrs push KIND").
        space_wheel: for a Space whose requirements.txt has the `# fusionrs-wheel` marker: the fusionrs wheel
            to upload and pin (None: built from this source checkout with `build_wheel`).

    Returns:
        The `PushReport` (with the repo and commit URLs after a real push).

    Raises:
        FusionRSError: `repo_id` is not ORG/NAME, or there is no hub token.
        FolderError: the folder is not what `kind` promises (see `check_folder`).
        CardValidationError: the card breaks a hub metadata rule.
        HubOfflineError: a real push while the hub is offline.
    """
    with tempfile.TemporaryDirectory(prefix="fusionrs-push-") as staging:
        return _push(kind, Path(folder), repo_id, private=private, token=token, dry_run=dry_run,
                     model_kind=model_kind, keep_card=keep_card, card_options=card_options,
                     commit_message=commit_message, space_wheel=space_wheel, staging=Path(staging))


def _push(kind: str, folder: Path, repo_id: str, *, private: bool, token: str | None, dry_run: bool,
          model_kind: str | None, keep_card: bool, card_options: Mapping[str, Any] | None,
          commit_message: str | None, space_wheel: str | Path | None, staging: Path) -> PushReport:
    if "/" not in repo_id or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise FusionRSError(f"--repo must be ORG/NAME, got {repo_id!r}")
    model_kind = check_folder(kind, folder, model_kind)
    repo_type = "model" if kind == "model" else kind

    readme = folder / "README.md"
    if kind == "dataset":
        card = readme.read_text() if keep_card else refresh_dataset_card(folder, repo_id=repo_id)
    elif kind == "space" or keep_card:
        if not readme.is_file():
            raise FolderError(f"{folder}: keep_card needs an existing README.md")
        card = readme.read_text()
    else:
        card = render_model_card(model_kind, folder, repo_id=repo_id, **dict(card_options or {}))
    check_card(card, repo_type, where=str(readme))

    upload, notes = (_stage_space(folder, repo_id, space_wheel, staging) if kind == "space" else (folder, []))
    ignore = upload_ignore_patterns(kind)
    files, ignored = files_to_upload(upload, ignore)
    if "README.md" not in {p for p, _ in files}:
        files.append(("README.md", len(card.encode())))
        files.sort()
    report = PushReport(kind=kind, model_kind=model_kind, repo_id=repo_id, repo_type=repo_type, folder=folder,
                        files=files, card=card, dry_run=dry_run, ignored=ignored, notes=notes)
    if dry_run:
        return report

    if is_offline():
        raise HubOfflineError(
            f"cannot push {repo_id}: the hub is offline (HF_HUB_OFFLINE=1). Unset HF_HUB_OFFLINE (and set "
            "HF_ENDPOINT for a private hub) to upload; `--dry-run` shows what would be uploaded without network.")
    from huggingface_hub import HfApi, get_token

    if not (token or get_token()):
        raise FusionRSError(f"cannot push {repo_id}: no hub token; log in with `hf auth login` or set HF_TOKEN")
    if not readme.is_file() or readme.read_text() != card:
        readme.write_text(card)
    api = HfApi(token=token)
    extra = {"space_sdk": _space_sdk(card)} if kind == "space" else {}
    url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, **extra)
    commit = api.upload_folder(
        repo_id=repo_id, folder_path=upload, repo_type=repo_type, ignore_patterns=list(ignore),
        commit_message=commit_message or f"fusionrs push {kind}" + (f" ({model_kind})" if model_kind else ""),
    )
    report.url = str(url)
    report.commit_url = getattr(commit, "commit_url", None) or str(commit)
    return report


def _human(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"  # pragma: no cover


def describe(report: PushReport, *, show_card: bool = False) -> str:
    """The human summary `fusionrs push` prints.

    Args:
        report: what `push_folder` returned.
        show_card: append the card text.

    Returns:
        The summary, several lines.
    """
    what = report.kind + (f" ({report.model_kind})" if report.model_kind else "")
    head = (f"dry run: would upload {what} {report.folder} to {report.repo_type} repo {report.repo_id}"
            if report.dry_run else f"pushed {what} {report.folder} to {report.url}")
    lines = [head, f"{len(report.files)} files, {_human(report.total_bytes)}:"]
    lines += [f"  {path}  ({_human(size)})" for path, size in report.files]
    if report.ignored:
        lines.append(f"not uploaded ({len(report.ignored)}): " + ", ".join(report.ignored[:10])
                     + (" ..." if len(report.ignored) > 10 else ""))
    lines += report.notes
    if report.commit_url:
        lines.append(f"commit: {report.commit_url}")
    if show_card:
        lines += ["", "----- README.md -----", report.card]
    return "\n".join(lines)

