"""What the Space runs: models, data and limits, from arguments or `FUSIONRS_SPACE_*` environment variables.

Kept free of gradio and torch so `fusionrs space --help` and config checks stay instant. On a hosted Space
the environment variables (Space "variables") are the configuration; locally `fusionrs space` passes flags.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from fusionrs.errors import SpaceConfigError  # noqa: F401  (defined in errors.py, re-exported here)

__all__ = ["ENV_PREFIX", "LINEAR_WORLD", "SpaceConfig", "SpaceConfigError", "default_translator_spec",
           "local_model"]

ENV_PREFIX = "FUSIONRS_SPACE_"
# Translator spec of last resort: a least-squares colour->IR map fitted on procedural world scenes at first
# use (see fusionrs.space.models). Not a get_translator spec: the Space resolves it itself.
LINEAR_WORLD = "linear:world"
# Locally trained translators, best first: the base preset (trained on real RGB-T pairs + world), then the
# tiny one `make run` (fusionrs demo) trains on world scenes only.
LOCAL_TRANSLATORS = ("runs/translator/base/final", "runs/mini/translator/run/final", "runs/demo/translator/final")
# CLIP and captioner that `make run` (fusionrs reproduce --preset mini) trains; `fusionrs space` uses them
# when no --clip / --vlm is given.
LOCAL_MODELS = {"clip": ("runs/mini/clip/trimodal/final", "config.json"),
                "vlm": ("runs/mini/vlm/trained/final", "config.json")}


@dataclass(frozen=True)
class SpaceConfig:
    """Everything the Space needs. `None` model settings mean "not configured" (the tab says so)."""

    translator: str | None = None  # get_translator spec; None -> default_translator_spec()
    clip: str | None = None  # CLIP model folder (CLIPModel / VisionTextDualEncoderModel + processor)
    vlm: str | None = None  # rgb-ir-captioning model folder
    data: str | None = None  # dataset folder for the browser and the search gallery; None -> embedded world
    max_megapixels: float = 16.0  # 16 MP = 4096 x 4096: larger scenes should be tiled offline, not uploaded
    max_upload_mb: float = 20.0
    gallery_size: int = 256  # rows embedded for search, stratified over classes (embedded once, kept in memory)
    page_size: int = 8  # dataset browser rows per page
    concurrency: int = 2  # jobs per event at once: 2 CPU cores, models shared through one cache
    examples: int = 4  # dataset scenes (of different classes) offered as examples
    max_text_chars: int = 1000  # longest caption / search query / label list accepted (characters)
    max_batch: int = 16  # images per batch request (Batch tab, /batch)
    seed: int = 0  # which rows the stratified gallery and the examples take
    extra: dict = field(default_factory=dict, compare=False)  # free-form notes shown in the About tab

    def __post_init__(self) -> None:
        checks = {
            "max_megapixels": self.max_megapixels > 0,
            "max_upload_mb": self.max_upload_mb > 0,
            "gallery_size": self.gallery_size >= 1,
            "page_size": 1 <= self.page_size <= 100,
            "concurrency": self.concurrency >= 1,
            "examples": 0 <= self.examples <= 16,
            "max_text_chars": 1 <= self.max_text_chars <= 100_000,
            "max_batch": 1 <= self.max_batch <= 64,
        }
        for name, ok in checks.items():
            if not ok:
                raise SpaceConfigError(f"Space setting {name} ({ENV_PREFIX}{name.upper()}) is out of range: "
                                       f"{getattr(self, name)!r}")

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1_000_000)

    @property
    def max_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> "SpaceConfig":
        """Read `FUSIONRS_SPACE_<FIELD>` variables; keyword overrides that are not None win."""
        environ = os.environ if environ is None else environ
        values: dict = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw.strip() == "":
                continue
            kind = {"max_megapixels": float, "max_upload_mb": float, "gallery_size": int, "page_size": int,
                    "concurrency": int, "examples": int, "max_text_chars": int, "max_batch": int,
                    "seed": int}.get(f.name, str)
            try:
                values[f.name] = kind(raw.strip())
            except ValueError:
                raise SpaceConfigError(f"{ENV_PREFIX}{f.name.upper()}={raw!r}: expected {kind.__name__}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_defaults(self) -> "SpaceConfig":
        """The translator resolved to a concrete spec (so the UI can state which one runs)."""
        return replace(self, translator=self.translator or default_translator_spec())


def _roots() -> list[Path]:
    """Where `runs/` may be: the working directory and, in a source checkout, the repository root."""
    roots = [Path.cwd()]
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file() and repo not in roots:
        roots.append(repo)
    return roots


def default_translator_spec() -> str:
    """The packaged default translator (`builtin:default`) when installed, else a locally trained one,
    else the fitted linear baseline.

    Returns:
        A translator spec: `builtin:default`, `fusionrs:DIR` or `LINEAR_WORLD`.
    """
    from fusionrs.errors import FusionRSError
    from fusionrs.weights import DEFAULT_TRANSLATOR_SPEC, default_translator_dir

    try:
        default_translator_dir()
        return DEFAULT_TRANSLATOR_SPEC
    except FusionRSError:  # a build without package data
        pass
    for relative in LOCAL_TRANSLATORS:
        for root in _roots():
            folder = root / relative
            if (folder / "model_index.json").is_file():
                return f"fusionrs:{folder}"
    return LINEAR_WORLD


def local_model(kind: str) -> str | None:
    """The locally trained model of `kind` ("clip" or "vlm") from `make run`, if there is one.

    Args:
        kind: "clip" or "vlm" (a key of `LOCAL_MODELS`).

    Returns:
        The model folder (`runs/mini/.../final` under the working directory or the source checkout)
        as a string when it holds config.json, else None.
    """
    relative, marker = LOCAL_MODELS[kind]
    for root in _roots():
        if (root / relative / marker).is_file():
            return str(root / relative)
    return None
