"""The Space's inference core: every tab calls one `SpaceModels`, which loads each model once, lazily.

The tabs run the registered pipelines, so the Space answers exactly as a script would:
`pipeline("zero-shot-rgb-ir-classification")` (prompt ensembles included), `pipeline("rgb-ir-feature-extraction")`
(gallery search), `pipeline("rgb-ir-captioning")` and, for `fusionrs:DIR` translators, `RGBToIRPipeline` (through
`get_translator`). Models load through `fusionrs.core.model_cache.default_cache` (shared with the pipelines,
thread-safe, one load even when several queued jobs ask at once). Nothing here imports gradio, so the same code
serves the UI, scripts and tests. Every answer says which model produced it: a Space that silently falls back to
a baseline would mislead its users.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from fusionrs.core.atomic import atomic_file
from fusionrs.core.references import display_reference
from fusionrs.core.repo_id import looks_like_repo_id
from fusionrs.errors import FusionRSError
from fusionrs.errors import NotConfiguredError  # noqa: F401  (defined in errors.py, re-exported here)
from fusionrs.space.config import LINEAR_WORLD, SpaceConfig

if TYPE_CHECKING:
    import torch

__all__ = ["Answer", "GalleryItem", "NotConfiguredError", "SpaceModels", "check_text", "example_scenes", "pretty_label"]

CLIP_TASKS = ("rgb-ir-feature-extraction", "zero-shot-rgb-ir-classification")
THUMB = 16  # side of the colour-layout thumbnail used to find the nearest gallery scene without CLIP


@dataclass
class Answer:
    """A result plus the sentence that says where it came from (shown under every output)."""

    value: Any
    source: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class GalleryItem:
    id: str
    split: str
    rgb: Image.Image
    ir: Image.Image
    captions: list[str]
    ir_captions: list[str]
    class_name: str

    def caption(self) -> str:
        return self.captions[0] if self.captions else ""


def pretty_label(name: str) -> str:
    """`lake_pond` -> `lake pond`: class names read as words in prompts and in the UI.

    Args:
        name: a class name.

    Returns:
        `name` with underscores and hyphens replaced by spaces, stripped (case kept).
    """
    return name.replace("_", " ").replace("-", " ").strip()


def check_text(value: Any, *, what: str, limit: int) -> str:
    """A user's text (caption, search query, label list) checked for type and length.

    Args:
        value: the text as it arrived; None counts as empty.
        what: how the message names the text, e.g. "search query".
        limit: the most characters accepted (`SpaceConfig.max_text_chars`).

    Returns:
        `value` unchanged (not stripped), or "" for None.

    Raises:
        FusionRSError: `value` is not a string, or is longer than `limit` characters (the message
            states both lengths).
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FusionRSError(f"The {what} must be text, got {type(value).__name__}.")
    if len(value) > limit:
        raise FusionRSError(f"The {what} is too long: {len(value):,} characters; this Space accepts up to "
                            f"{limit:,}. Please shorten it.")
    return value


def example_scenes(folder: Path, n: int, *, seed: int = 7, size: int = 256) -> list[dict[str, str]]:
    """Write `n` world scenes (RGB + IR PNG + first caption) once and return their paths.

    Classes are spread over the world's scene types, so the examples show different things.

    Args:
        folder: the cache folder; scenes go into a sub-folder named by world version, seed and size.
        n: how many example scenes.
        seed: the world seed of the generated scenes.
        size: the scene side in pixels.

    Returns:
        One dict per scene: {"rgb": path of the RGB PNG, "ir": path of the IR PNG, "class_name",
        "caption" (the scene's first caption)}; scenes already written are reused.
    """
    from fusionrs.synth import SCENE_CLASSES, WORLD_VERSION, generate_scene

    folder = Path(folder) / f"world{WORLD_VERSION}-seed{seed}-{size}px"
    folder.mkdir(parents=True, exist_ok=True)
    step = max(1, len(SCENE_CLASSES) // max(n, 1))
    out = []
    for k in range(n):
        index = (k * step) % len(SCENE_CLASSES)
        rgb_path, ir_path = folder / f"scene{index:03d}_rgb.png", folder / f"scene{index:03d}_ir.png"
        meta_path = folder / f"scene{index:03d}.json"
        if not meta_path.is_file():
            scene = generate_scene(index, seed=seed, size=size)
            Image.fromarray(scene.rgb).save(rgb_path)
            Image.fromarray(scene.ir).save(ir_path)
            meta_path.write_text(json.dumps({"class_name": scene.class_name, "caption": scene.captions[0]}))
        meta = json.loads(meta_path.read_text())
        out.append({"rgb": str(rgb_path), "ir": str(ir_path), **meta})
    return out


class SpaceModels:
    """Lazy access to the configured translator, captioners, CLIP model and dataset."""

    def __init__(self, config: SpaceConfig | None = None):
        self.config = (config or SpaceConfig.from_env()).with_defaults()
        self._lock = threading.RLock()  # gallery() calls dataset() under it
        self._translator = None
        self._dataset = None
        self._gallery: list[GalleryItem] | None = None
        self._clip_pipelines: dict[str, Any] = {}  # task -> pipeline over the loaded CLIP model
        self._embeddings: dict[str, tuple[Any, torch.Tensor]] = {}  # modality -> (the model that made them, embeddings)
        self._thumbs: np.ndarray | None = None
        self._captioner = None

    # ------------------------------------------------------------------ descriptions for the UI

    def translator_description(self) -> str:
        """The sentence under every translated image: which translator runs, its training data and licence.

        Returns:
            Markdown text; the linear fallback is named a baseline.
        """
        spec = self.config.translator
        if spec == LINEAR_WORLD:
            return ("**Baseline** linear colour fit (IR = a·R + b·G + c·B + d, least squares on 16 procedural "
                    "world scenes): no trained translator was found or configured. Train one with "
                    "`fusionrs demo` / `fusionrs train translator`, or set `--translator fusionrs:DIR`.")
        if spec.startswith("fusionrs:"):
            folder = Path(spec.partition(":")[2])
            text = f"Trained one-step fusionrs translator `{display_reference(spec)}`"
            if folder.is_dir():  # its licence follows its training data (e.g. non-commercial for LLVIP)
                from fusionrs.translate.model import read_translator_config

                info = read_translator_config(folder)
                if info.get("training_data"):
                    text += f"; trained on {', '.join(map(str, info['training_data']))}"
                if info.get("licence"):
                    text += f"; licence: {info['licence']}"
            return text + "."
        if spec == "builtin:default":
            return ("Packaged default fusionrs translator (`builtin:default`, one-step UNet, fp16); trained on "
                    "RoadScene + procedural world scenes; licence: research-only (RoadScene states no licence; "
                    "commercial use: no).")
        return f"Translator `{display_reference(spec)}`."

    def status(self) -> dict[str, str]:
        """One line per model: what runs, or why a tab is limited."""
        vlm, clip, data = (display_reference(value) for value in (self.config.vlm, self.config.clip, self.config.data))
        return {
            "translator": self.translator_description(),
            "captioner": (f"VLM `{vlm}` via `pipeline('rgb-ir-captioning')`" if self.config.vlm else
                          "VLM not configured: conventional captions come from your text or the nearest gallery "
                          "scene; IR-aware captions from the grounded captioner (measurements of the IR image, no "
                          "model)"),
            "clip": (f"CLIP model `{clip}` via `pipeline('zero-shot-rgb-ir-classification')` and "
                     f"`pipeline('rgb-ir-feature-extraction')`" if self.config.clip else
                     "CLIP model not configured: zero-shot classification and text search are unavailable "
                     "(start with `--clip DIR` or set FUSIONRS_SPACE_CLIP)"),
            "data": f"dataset `{data}`" if self.config.data else "embedded procedural world dataset",
        }

    # ------------------------------------------------------------------ translation

    def translator(self) -> Any:
        """The configured translator (`get_translator`; `fusionrs:DIR` runs the cached `RGBToIRPipeline`), loaded once.

        Returns:
            An object with `translate(list of RGB images) -> list of L images`.

        Raises:
            FusionRSError: the spec names no translator or a missing folder (the message names the spec).
        """
        with self._lock:
            if self._translator is None:
                from fusionrs.translate.base import get_translator

                spec = self.config.translator
                if spec == LINEAR_WORLD:
                    spec = f"linear:{self._fit_linear_world()}"
                kind, _, arg = spec.partition(":")
                if kind in ("fusionrs", "diffv2ir") and arg:  # a hub id works like a folder (Space variables)
                    folder, sep, options = arg.partition(";")
                    spec = f"{kind}:{_local(folder, 'model')}{sep}{options}"
                try:
                    self._translator = get_translator(spec)
                except (ValueError, FileNotFoundError) as error:
                    raise FusionRSError(f"translator {self.config.translator!r}: {error}") from None
            return self._translator

    @staticmethod
    def _fit_linear_world() -> Path:
        """Fit the linear baseline on world scenes once and keep its 4 coefficients in the cache."""
        from fusionrs.data.loading import cache_dir
        from fusionrs.synth import WORLD_VERSION, generate_scene
        from fusionrs.translate.base import LinearTranslator

        path = cache_dir() / "space" / f"linear-world{WORLD_VERSION}.json"
        if not path.is_file():
            scenes = [generate_scene(i, seed=1000, size=128) for i in range(16)]
            with atomic_file(path) as tmp:
                LinearTranslator.fit((s.rgb, s.ir) for s in scenes).save(tmp)
        return path

    def translate(self, rgb: Image.Image) -> Answer:
        """RGB -> infrared-style with the configured translator.

        Args:
            rgb: the RGB image (any mode is converted).

        Returns:
            An Answer whose value is the IR image (mode L, the size of `rgb`).

        Raises:
            FusionRSError: the translator cannot be loaded.
        """
        ir = self.translator().translate([rgb.convert("RGB")])[0]
        return Answer(ir, self.translator_description())

    # ------------------------------------------------------------------ data

    def dataset(self):
        """The DatasetDict behind the browser and the gallery (loaded once)."""
        with self._lock:
            if self._dataset is None:
                from fusionrs.data.loading import load_dataset

                data = self.config.data
                if data and looks_like_repo_id(data):
                    from fusionrs.core.resolve import resolve_dataset_source

                    data = resolve_dataset_source(data)
                self._dataset = load_dataset(data)
            return self._dataset

    def splits(self) -> list[str]:
        """The dataset's split names, in its order."""
        return list(self.dataset().keys())

    def page_count(self, split: str) -> int:
        """How many browser pages `split` fills (at least 1)."""
        n = len(self.dataset()[split])
        return max(1, -(-n // self.config.page_size))

    def browse(self, split: str, page: int) -> Answer:
        """Rows of one page (1-based) of a split, images decoded."""
        ds = self.dataset()
        if split not in ds:
            raise FusionRSError(f"unknown split {split!r}; this dataset has {', '.join(ds)}")
        pages = self.page_count(split)
        page = min(max(1, int(page)), pages)
        start = (page - 1) * self.config.page_size
        stop = min(start + self.config.page_size, len(ds[split]))
        rows = [ds[split][i] for i in range(start, stop)]
        return Answer(rows, f"{split}: rows {start + 1}-{stop} of {len(ds[split])} (page {page}/{pages})",
                      {"page": page, "pages": pages, "total": len(ds[split])})

    def gallery(self) -> list[GalleryItem]:
        """Up to `gallery_size` rows, evaluation splits first (what a user would search)."""
        with self._lock:
            if self._gallery is None:
                ds = self.dataset()
                first = ("test", "validation")
                order = [s for s in first if s in ds] + [s for s in ds if s not in first]
                items: list[GalleryItem] = []
                for split in order:
                    part = ds[split]
                    for i in range(min(len(part), self.config.gallery_size - len(items))):
                        row = part[i]
                        items.append(GalleryItem(
                            id=str(row.get("id", f"{split}-{i}")), split=split, rgb=row["rgb"].convert("RGB"),
                            ir=row["ir"].convert("L"), captions=list(row.get("captions") or []),
                            ir_captions=list(row.get("ir_captions") or []),
                            class_name=str(row.get("class_name") or "")))
                    if len(items) >= self.config.gallery_size:
                        break
                self._gallery = items
            return self._gallery

    def class_names(self) -> list[str]:
        """The dataset's scene classes as phrases ("lake_pond" -> "lake or pond"), the default labels."""
        from fusionrs.clip.zeroshot import pretty_class_name

        return sorted({pretty_class_name(item.class_name) for item in self.gallery() if item.class_name})

    # ------------------------------------------------------------------ CLIP

    def clip_pipeline(self, task: str) -> Any:
        """A registered CLIP pipeline over the configured model: "rgb-ir-feature-extraction" or
        "zero-shot-rgb-ir-classification".

        The model loads once, through `ClipEmbedder.from_pretrained` (`default_cache`, keyed on the folder and
        its weight mtimes); both tasks wrap that one model, each pipeline built once per loaded model.

        Args:
            task: the pipeline task.

        Returns:
            The `transformers` pipeline.

        Raises:
            FusionRSError: `task` is not one of the two CLIP tasks.
            NotConfiguredError: the Space was started without a CLIP model.
            ClipLoadError: the configured folder is not a loadable CLIP model (the message names it).
        """
        if task not in CLIP_TASKS:
            raise FusionRSError(f"task must be one of {', '.join(CLIP_TASKS)}, got {task!r}")
        if not self.config.clip:
            raise NotConfiguredError(
                "No CLIP model is configured for this Space. Start it with `fusionrs space --clip DIR` (a folder "
                "from `fusionrs train clip`) or set the FUSIONRS_SPACE_CLIP variable.")
        from fusionrs.clip.embed import ClipEmbedder

        embedder = ClipEmbedder.from_pretrained(_local(self.config.clip, "model"))
        with self._lock:
            pipe = self._clip_pipelines.get(task)
            if pipe is None or pipe.model is not embedder.model:  # a folder retrained in place loads anew
                pipe = _registered_pipeline(task, model=embedder.model, processor=embedder.processor,
                                            device=embedder.device)
                self._clip_pipelines[task] = pipe
            return pipe

    def gallery_embeddings(self, modality: str) -> torch.Tensor:
        """(gallery, dim) L2-normalised image embeddings from `pipeline("rgb-ir-feature-extraction")`.

        Computed once per model and modality.

        Args:
            modality: "RGB" or "IR" (any case): which image of each gallery scene.

        Returns:
            A float32 CPU tensor, one row per gallery item.

        Raises:
            NotConfiguredError: no CLIP model is configured.
            FusionRSError: an unknown modality, or the dataset has no rows.
        """
        import torch

        modality = _modality(modality)
        features = self.clip_pipeline("rgb-ir-feature-extraction")
        with self._lock:
            cached = self._embeddings.get(modality)
            if cached is not None and cached[0] is features.model:
                return cached[1]
        gallery = self.gallery()
        if not gallery:
            raise FusionRSError("the dataset has no rows to search or take a caption from")
        images = [item.rgb if modality == "rgb" else item.ir for item in gallery]
        embeddings = torch.stack(features(images, modality=modality, batch_size=32))
        with self._lock:
            self._embeddings[modality] = (features.model, embeddings)
        return embeddings

    def classify(self, image: Image.Image, modality: str, labels: Sequence[str] | None = None) -> Answer:
        """Zero-shot scene classification with `pipeline("zero-shot-rgb-ir-classification")`.

        The pipeline averages each label's prompt-template embeddings (the modality's ensemble, as
        `fusionrs eval clip` does) and softmaxes over the labels.

        Args:
            image: the image to label.
            modality: "RGB" or "IR" (any case): what the image is; picks the prompt ensemble.
            labels: the candidate labels (blank and repeated ones dropped); None or empty: the dataset's classes.

        Returns:
            An Answer whose value maps label -> probability, best first.

        Raises:
            NotConfiguredError: no CLIP model is configured.
            FusionRSError: fewer than two different labels, or an unknown modality (the message names it).
        """
        from fusionrs.pipelines.zero_shot import prompt_templates

        modality = _modality(modality)
        labels = list(dict.fromkeys(label.strip() for label in (labels or []) if label.strip())) or self.class_names()
        if len(labels) < 2:
            raise FusionRSError("zero-shot classification needs at least two different labels (comma-separated)")
        output = self.clip_pipeline("zero-shot-rgb-ir-classification")(image, candidate_labels=labels,
                                                                       modality=modality)
        templates = prompt_templates(modality)
        return Answer({o["label"]: o["score"] for o in output},
                      f"CLIP `{self.config.clip}` via `pipeline('zero-shot-rgb-ir-classification')` on the image "
                      f"as {modality.upper()}; prompts like \u201c{templates[0].format(labels[0])}\u201d "
                      f"({len(templates)} templates per label, averaged)")

    def search(self, query: str, modality: str, k: int = 8) -> Answer:
        """Text-to-image search over the gallery's RGB or IR images (`pipeline("rgb-ir-feature-extraction")`).

        Args:
            query: the description to search for.
            modality: "RGB" or "IR" (any case): which gallery images to rank.
            k: how many hits (clamped to 1..gallery size).

        Returns:
            An Answer whose value is [(GalleryItem, cosine similarity)], best first.

        Raises:
            NotConfiguredError: no CLIP model is configured.
            FusionRSError: an empty query, a query over `max_text_chars` characters, an unknown modality or an
                empty dataset.
        """
        import torch

        query = check_text(query, what="search query", limit=self.config.max_text_chars).strip()
        if not query:
            raise FusionRSError("type a description to search for, e.g. 'a river crossing farmland'")
        modality = _modality(modality)
        embeddings = self.gallery_embeddings(modality)
        text = self.clip_pipeline("rgb-ir-feature-extraction")(query)
        gallery = self.gallery()
        top = torch.topk(embeddings @ text, k=max(1, min(int(k), len(gallery))))
        hits = [(gallery[i], float(s)) for s, i in zip(top.values.tolist(), top.indices.tolist())]
        return Answer(hits, f"CLIP `{self.config.clip}` via `pipeline('rgb-ir-feature-extraction')`, cosine "
                            f"similarity over {len(gallery)} gallery {modality.upper()} images")

    # ------------------------------------------------------------------ captioning

    def nearest_gallery_item(self, rgb: Image.Image) -> tuple[GalleryItem, float, str]:
        """The gallery scene most like `rgb`: by CLIP when configured, else by a colour-layout thumbnail."""
        gallery = self.gallery()
        if not gallery:
            raise FusionRSError("the dataset has no rows to take a caption from")
        if self.config.clip:
            query = self.clip_pipeline("rgb-ir-feature-extraction")(rgb.convert("RGB"), modality="rgb")
            sims = self.gallery_embeddings("rgb") @ query
            best = int(sims.argmax())
            return gallery[best], float(sims[best]), "CLIP image similarity"
        with self._lock:
            if self._thumbs is None:
                self._thumbs = np.stack([_thumb(item.rgb) for item in gallery])
        sims = self._thumbs @ _thumb(rgb)
        best = int(sims.argmax())
        return gallery[best], float(sims[best]), "colour-layout thumbnail similarity"

    def _vlm(self):
        from fusionrs.core.model_cache import cached_model

        folder = _local(self.config.vlm, "model")

        try:
            return cached_model("space-vlm", folder, lambda: _registered_pipeline("rgb-ir-captioning", model=folder))
        except (OSError, ValueError, KeyError) as error:
            raise FusionRSError(f"VLM {folder!r} could not be loaded: {error}") from None

    def caption(self, rgb: Image.Image, ir: Image.Image | None = None, *, use_ir: bool = True,
                user_caption: str = "") -> Answer:
        """Conventional + IR-aware captions.

        Args:
            rgb: the RGB image.
            ir: an IR image to caption with (None: translated from `rgb` when needed).
            use_ir: "RGB + IR" (True) or "RGB only" (False, an `ir` given is ignored).
            user_caption: the user's own conventional caption ("" for none), at most
                `max_text_chars` characters.

        Returns:
            An Answer whose value is {"caption", "ir_aware_caption", "ir"} (the IR image used); the source
            says who wrote what.

        Raises:
            FusionRSError: `user_caption` is not text or is too long; a model cannot be loaded.
        """
        user_caption = check_text(user_caption, what="caption", limit=self.config.max_text_chars)
        rgb = rgb.convert("RGB")
        ir = ir.convert("L") if (ir is not None and use_ir) else None  # "RGB only" ignores an IR upload
        translated = ir is None
        if ir is None and (use_ir or not self.config.vlm):  # the grounded captioner always needs an IR image
            ir = self.translate(rgb).value
        ir_origin = "translated from the RGB image by the configured translator" if translated else "your IR upload"
        if self.config.vlm:
            # One call for both tasks; the pipeline's "rgb" mode shows the model the RGB image alone.
            inputs = {"rgb": rgb, "ir": ir} if use_ir else {"rgb": rgb}
            output = self._vlm()(inputs, task="both", mode="rgb+ir" if use_ir else "rgb")
            mode = "RGB + IR" if use_ir else "RGB only"
            source = (f"Both captions: VLM `{display_reference(self.config.vlm)}` ({mode}"
                      + (f"; IR {ir_origin}" if use_ir else "") + ").")
            return Answer({"caption": _generated_text(output, "caption"),
                           "ir_aware_caption": _generated_text(output, "ir_aware_caption"), "ir": ir}, source)

        user_caption = (user_caption or "").strip()
        if user_caption:
            captions, conv_source = [user_caption], "your caption"
        else:
            item, sim, how = self.nearest_gallery_item(rgb)
            captions = item.captions or [pretty_label(item.class_name)]
            conv_source = (f"copied from the nearest gallery scene `{item.id}` ({pretty_label(item.class_name)}, "
                           f"{how} {sim:.2f}), since no captioning model is configured")
        result = self._grounded().caption([ir], [captions])[0]
        if result is not None and result.caption:
            ir_aware = result.caption
        else:
            ir_aware = f"(no IR-aware caption: the strict filter rejected it: {getattr(result, 'reason', 'unknown')})"
        source = (f"Conventional caption: {conv_source}. IR-aware caption: grounded captioner (states only what it "
                  f"measures in the IR image, no model), IR {ir_origin}.")
        return Answer({"caption": captions[0], "ir_aware_caption": ir_aware, "ir": ir}, source)

    def _grounded(self):
        with self._lock:
            if self._captioner is None:
                from fusionrs.captions.base import get_captioner

                self._captioner = get_captioner("grounded")
            return self._captioner


def _registered_pipeline(task: str, **kwargs: Any) -> Any:
    """`transformers.pipeline(task, **kwargs)` for one of fusionrs' tasks (registered first: nothing here
    imports the top-level `fusionrs`, whose import hook would register them)."""
    from transformers import pipeline

    from fusionrs.pipelines.registry import register_pipelines

    register_pipelines()
    return pipeline(task, **kwargs)


def _local(value: str, repo_type: str) -> str:
    """A local folder for a folder path or a hub repo id (offline: from the cache, or a clear error at once)."""
    if not looks_like_repo_id(value):
        return value
    from fusionrs.core.resolve import resolve_repo

    return str(resolve_repo(value, repo_type))


def _modality(value: str) -> str:
    value = (value or "rgb").strip().lower()
    if value.startswith("ir") or value.startswith("infra"):
        return "ir"
    if value.startswith("rgb"):
        return "rgb"
    raise FusionRSError(f"modality must be 'RGB' or 'IR', got {value!r}")


def _thumb(image: Image.Image) -> np.ndarray:
    """A unit vector of a 16x16 colour thumbnail with its mean removed: layout + colour, nothing learned."""
    x = np.asarray(image.convert("RGB").resize((THUMB, THUMB), Image.Resampling.BILINEAR), np.float32).reshape(-1)
    x -= x.mean()
    return x / (np.linalg.norm(x) + 1e-6)


def _generated_text(output: Any, key: str) -> str:
    """One task's text of a pipeline answer (`{"caption": ..., "ir_aware_caption": ...}`, or a list of one)."""
    if isinstance(output, list) and output:
        output = output[0]
    if isinstance(output, dict):
        if output.get("error"):
            raise FusionRSError(f"the captioning model could not read the input: {output['error']}")
        for name in (key, "generated_text", "text"):
            if name in output:
                return str(output[name]).strip() or "(empty: the model generated no text)"
    return str(output).strip() or "(empty: the model generated no text)"
