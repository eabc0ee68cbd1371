"""The Space's inference core: every tab calls one `SpaceModels`, which loads each model once, lazily.

The tabs run the registered pipelines, so the Space answers exactly as a script would:
`pipeline("zero-shot-rgb-ir-classification")` (prompt ensembles included), `pipeline("rgb-ir-feature-extraction")`
(gallery search by text or image), `pipeline("rgb-ir-captioning")` and, for `fusionrs:DIR` translators, `RGBToIRPipeline` (through
`get_translator`). Models load through `fusionrs.core.model_cache.default_cache` (shared with the pipelines,
thread-safe, one load even when several queued jobs ask at once). Nothing here imports gradio, so the same code
serves the UI, scripts and tests. Every answer says which model produced it: a Space that silently falls back to
a baseline would mislead its users, and so would a caption of another image: without a captioning model the
Space writes no conventional caption (it says so) and the IR-aware caption comes from the grounded captioner run
on the user's own image.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from fusionrs.core.atomic import atomic_file
from fusionrs.core.references import display_reference
from fusionrs.core.repo_id import looks_like_repo_id
from fusionrs.errors import FusionRSError
from fusionrs.errors import NotConfiguredError  # noqa: F401  (defined in errors.py, re-exported here)
from fusionrs.space.config import LINEAR_WORLD, SpaceConfig

if TYPE_CHECKING:
    import torch

__all__ = ["NO_CAPTIONER", "Answer", "GalleryItem", "NotConfiguredError", "SpaceModels", "check_text",
           "pretty_label", "stratified_rows"]

CLIP_TASKS = ("rgb-ir-feature-extraction", "zero-shot-rgb-ir-classification")
EVALUATION_SPLITS = ("test", "validation")  # the gallery prefers these rows within each class
# The conventional caption without a captioning model: a statement, never a caption of another image.
NO_CAPTIONER = ("(no conventional caption: this Space has no captioning model configured; type your own caption, "
                "or start the Space with `--vlm DIR` / FUSIONRS_SPACE_VLM)")


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


def stratified_rows(classes: dict[str, Sequence[str]], ids: dict[str, Sequence[str]], n: int,
                    seed: int) -> list[tuple[str, int]]:
    """Which rows a gallery of `n` takes: stratified over classes, seeded, evaluation splits first.

    Each class gets its share of `n` by `fusionrs.data.sampling.allocate_per_class` (largest remainder, at least
    one row per class while `n` allows); within a class, rows of the evaluation splits (`test`, then
    `validation`) come first, then the others, each by `seeded_rank(seed, row id)`, so the choice does not depend
    on how the dataset lists its rows (many list them class by class).

    Args:
        classes: split -> the class name of each row ("" for an unlabelled row: one stratum of its own).
        ids: split -> the id of each row (same lengths as `classes`).
        n: the most rows to take.
        seed: the sample's seed (`SpaceConfig.seed`).

    Returns:
        [(split, row index)], at most `n`, in the dataset's order (evaluation splits first).

    Raises:
        ValueError: `classes` and `ids` disagree on a split's rows, or `n` is negative.
    """
    from fusionrs.data.sampling import allocate_per_class, seeded_rank

    order = [s for s in EVALUATION_SPLITS if s in classes] + [s for s in classes if s not in EVALUATION_SPLITS]
    rows: dict[str, list[tuple[int, str, int]]] = {}  # class -> (split rank, split, index)
    for rank, split in enumerate(order):
        if len(classes[split]) != len(ids[split]):
            raise ValueError(f"split {split!r}: {len(classes[split])} class names but {len(ids[split])} ids")
        for index, name in enumerate(classes[split]):
            rows.setdefault(str(name or ""), []).append((rank, split, index))
    counts = allocate_per_class(Counter({c: len(r) for c, r in rows.items()}), n, seed)
    chosen = []
    for name, members in rows.items():
        members.sort(key=lambda m: (m[0], seeded_rank(seed, str(ids[m[1]][m[2]])), m[2]))
        chosen += members[: counts.get(name, 0)]
    return [(split, index) for _, split, index in sorted(chosen)]


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
                          "**No captioning model is configured**: the Space writes no conventional caption (type "
                          "your own, or start it with `--vlm DIR` / FUSIONRS_SPACE_VLM); the IR-aware caption comes "
                          "from the grounded captioner run on your image (no model: it states only what it "
                          "measures in the IR image, plus the scene words of your caption if you give one)"),
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
        """Up to `gallery_size` rows stratified over classes (`stratified_rows`, seeded by `SpaceConfig.seed`).

        Rows without an RGB or an IR image are left out (the gallery shows and searches both).

        Returns:
            The gallery items, evaluation splits first, each split in its own order; built once.
        """
        with self._lock:
            if self._gallery is None:
                ds = self.dataset()
                classes, ids = {}, {}
                for split, part in ds.items():
                    columns = set(part.column_names)
                    classes[split] = list(part["class_name"]) if "class_name" in columns else [""] * len(part)
                    ids[split] = (list(part["id"]) if "id" in columns
                                  else [f"{split}-{i}" for i in range(len(part))])
                items: list[GalleryItem] = []
                for split, i in stratified_rows(classes, ids, self.config.gallery_size, self.config.seed):
                    row = ds[split][i]
                    if row.get("rgb") is None or row.get("ir") is None:
                        continue
                    items.append(GalleryItem(
                        id=str(ids[split][i]), split=split, rgb=row["rgb"].convert("RGB"), ir=row["ir"].convert("L"),
                        captions=list(row.get("captions") or []), ir_captions=list(row.get("ir_captions") or []),
                        class_name=str(row.get("class_name") or "")))
                self._gallery = items
            return self._gallery

    def gallery_description(self) -> str:
        """How the search gallery was chosen, for the Search tab.

        Returns:
            e.g. "256 scenes of 30 classes, stratified over classes (seed 0) from 10,921 rows".
        """
        gallery = self.gallery()
        total = sum(len(part) for part in self.dataset().values())
        classes = len({item.class_name for item in gallery if item.class_name})
        return (f"{len(gallery):,} scenes of {classes} classes, stratified over classes (seed {self.config.seed}) "
                f"from {total:,} rows")

    def examples(self, n: int | None = None) -> list[GalleryItem]:
        """Example scenes for the tabs, taken from the loaded dataset: one per class while classes last.

        Args:
            n: how many (None: `SpaceConfig.examples`).

        Returns:
            Up to `n` gallery items of different classes (a seeded, class-stratified sample of the gallery).
        """
        from fusionrs.data.sampling import sample_per_class

        n = self.config.examples if n is None else n
        return sample_per_class(self.gallery(), n, self.config.seed, key=lambda item: item.id,
                                class_of=lambda item: item.class_name)

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

    def _ir_for(self, rgb: Image.Image | None, ir: Image.Image | None, what: str) -> tuple[Image.Image, str]:
        """The IR image a tab works on: the user's IR upload, else the RGB translated; and how to say which."""
        if ir is not None:
            return ir.convert("L"), "your IR upload"
        if rgb is None:
            raise FusionRSError(f"Please upload the RGB image or the IR image first ({what}).")
        return self.translate(rgb.convert("RGB")).value, "IR translated from your RGB image by the configured translator"

    def classify(self, image: Image.Image | None, modality: str, labels: Sequence[str] | None = None, *,
                 ir: Image.Image | None = None) -> Answer:
        """Zero-shot scene classification with `pipeline("zero-shot-rgb-ir-classification")`.

        The pipeline averages each label's prompt-template embeddings (the modality's ensemble, as
        `fusionrs eval clip` does) and softmaxes over the labels.

        Args:
            image: the RGB image (may be None when classifying an uploaded IR image).
            modality: "RGB" or "IR" (any case): classify the RGB image, or the IR image (`ir` when given, else
                `image` translated); picks the prompt ensemble.
            labels: the candidate labels (blank and repeated ones dropped); None or empty: the dataset's classes.
            ir: the user's own IR image, used instead of translating `image`.

        Returns:
            An Answer whose value maps label -> probability, best first; the source names the image scored.

        Raises:
            NotConfiguredError: no CLIP model is configured.
            FusionRSError: fewer than two different labels, an unknown modality, or no image for the modality.
        """
        from fusionrs.pipelines.zero_shot import prompt_templates

        modality = _modality(modality)
        labels = list(dict.fromkeys(label.strip() for label in (labels or []) if label.strip())) or self.class_names()
        if len(labels) < 2:
            raise FusionRSError("zero-shot classification needs at least two different labels (comma-separated)")
        self.clip_pipeline("zero-shot-rgb-ir-classification")  # "not configured" before any translation runs
        if modality == "ir":
            image, origin = self._ir_for(image, ir, "to classify as IR")
        elif image is None:
            raise FusionRSError("Please upload the RGB image first (or choose IR to classify an IR upload).")
        else:
            image, origin = image.convert("RGB"), "your RGB image"
        output = self.clip_pipeline("zero-shot-rgb-ir-classification")(image, candidate_labels=labels,
                                                                       modality=modality)
        templates = prompt_templates(modality)
        return Answer({o["label"]: o["score"] for o in output},
                      f"CLIP `{display_reference(self.config.clip)}` via "
                      f"`pipeline('zero-shot-rgb-ir-classification')` on the image as {modality.upper()} ({origin}); "
                      f"prompts like \u201c{templates[0].format(labels[0])}\u201d ({len(templates)} templates per "
                      f"label, averaged)", {"image": image})

    def search(self, query: str, modality: str, k: int = 8, *, rgb: Image.Image | None = None,
               ir: Image.Image | None = None) -> Answer:
        """Search the gallery's RGB or IR images by text, or by an image (`pipeline("rgb-ir-feature-extraction")`).

        An image query ranks the IR gallery with the IR image (`ir`, else `rgb` translated) and the RGB gallery
        with `rgb` (an IR-only query ranks RGB images across modalities, through the model's RGB-IR alignment).

        Args:
            query: the description to search for ("" for an image query).
            modality: "RGB" or "IR" (any case): which gallery images to rank.
            k: how many hits (clamped to 1..gallery size).
            rgb: an RGB query image.
            ir: an IR query image (used instead of translating `rgb`).

        Returns:
            An Answer whose value is [(GalleryItem, cosine similarity)], best first.

        Raises:
            NotConfiguredError: no CLIP model is configured.
            FusionRSError: neither a query nor an image, both at once, a query over `max_text_chars` characters,
                an unknown modality or an empty dataset.
        """
        import torch

        query = check_text(query, what="search query", limit=self.config.max_text_chars).strip()
        if query and (rgb is not None or ir is not None):
            raise FusionRSError("Search by text or by image, not both: clear the description or remove the images.")
        if not query and rgb is None and ir is None:
            raise FusionRSError("type a description to search for, e.g. 'a river crossing farmland', or upload an "
                                "image to search by")
        modality = _modality(modality)
        embeddings = self.gallery_embeddings(modality)
        features = self.clip_pipeline("rgb-ir-feature-extraction")
        if query:
            target, by = features(query), "the text"
        elif modality == "rgb" and rgb is not None:
            target, by = features(rgb.convert("RGB"), modality="rgb"), "your RGB image"
        else:
            image, origin = self._ir_for(rgb, ir, "to search by")
            target, by = features(image, modality="ir"), origin
        gallery = self.gallery()
        top = torch.topk(embeddings @ target, k=max(1, min(int(k), len(gallery))))
        hits = [(gallery[i], float(s)) for s, i in zip(top.values.tolist(), top.indices.tolist())]
        return Answer(hits, f"CLIP `{display_reference(self.config.clip)}` via "
                            f"`pipeline('rgb-ir-feature-extraction')`, cosine similarity of {by} to {len(gallery)} "
                            f"gallery {modality.upper()} images")

    # ------------------------------------------------------------------ captioning

    def _vlm(self):
        from fusionrs.core.model_cache import cached_model

        folder = _local(self.config.vlm, "model")

        try:
            return cached_model("space-vlm", folder, lambda: _registered_pipeline("rgb-ir-captioning", model=folder))
        except (OSError, ValueError, KeyError) as error:
            raise FusionRSError(f"VLM {folder!r} could not be loaded: {error}") from None

    def caption(self, rgb: Image.Image, ir: Image.Image | None = None, *, use_ir: bool = True,
                user_caption: str = "") -> Answer:
        """Conventional + IR-aware captions of this image (never a caption of another image).

        With a VLM both come from it. Without one the conventional caption is the user's own or the
        `NO_CAPTIONER` statement, and the IR-aware caption is the grounded captioner's on this IR image (its
        scene words from the user's caption, when given).

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
        ir = ir if use_ir else None  # "RGB only" ignores an IR upload
        if ir is None and not (use_ir or not self.config.vlm):
            return self._captions(rgb.convert("RGB"), None, False, user_caption, "")
        ir, origin = self._ir_for(rgb, ir, "to caption")  # the grounded captioner always needs an IR image
        return self._captions(rgb.convert("RGB"), ir, use_ir, user_caption, origin)

    def _captions(self, rgb: Image.Image, ir: Image.Image | None, use_ir: bool, user_caption: str,
                  ir_origin: str) -> Answer:
        if self.config.vlm:
            # One call for both tasks; the pipeline's "rgb" mode shows the model the RGB image alone.
            inputs = {"rgb": rgb, "ir": ir} if use_ir else {"rgb": rgb}
            output = self._vlm()(inputs, task="both", mode="rgb+ir" if use_ir else "rgb")
            mode = "RGB + IR" if use_ir else "RGB only"
            source = (f"Both captions: VLM `{display_reference(self.config.vlm)}` ({mode}"
                      + (f"; {ir_origin}" if use_ir else "") + ").")
            return Answer({"caption": _generated_text(output, "caption"),
                           "ir_aware_caption": _generated_text(output, "ir_aware_caption"), "ir": ir}, source)

        user_caption = (user_caption or "").strip()
        captions = [user_caption] if user_caption else []
        result = self._grounded().caption([ir], [captions])[0]
        if result is not None and result.caption:
            ir_aware = result.caption
        else:
            ir_aware = f"(no IR-aware caption: the strict filter rejected it: {getattr(result, 'reason', 'unknown')})"
        conv_source = "your caption" if user_caption else "none written: no captioning model is configured"
        scene = "its scene words from your caption" if user_caption else "no scene words, as no caption was given"
        source = (f"Conventional caption: {conv_source}. IR-aware caption: grounded captioner on this image (no "
                  f"model: it states only what it measures in the IR image; {scene}); {ir_origin}.")
        return Answer({"caption": user_caption or NO_CAPTIONER, "ir_aware_caption": ir_aware, "ir": ir}, source)

    def batch(self, images: Sequence[tuple[str, Image.Image]]) -> Answer:
        """Translate and caption up to `max_batch` RGB images (the Batch tab).

        Args:
            images: (name, RGB image) pairs; names are the user's file names, for the results table.

        Returns:
            An Answer whose value is one dict per image, in order: {"name", "ir" (L image), "caption" (None
            without a captioning model), "ir_aware_caption"}; the source names the translator and who wrote
            the captions.

        Raises:
            FusionRSError: no images, or more than `max_batch` (the message states both numbers).
        """
        if not images:
            raise FusionRSError("Please upload at least one image for the batch.")
        if len(images) > self.config.max_batch:
            raise FusionRSError(f"This batch has {len(images)} images; the Space takes up to "
                                f"{self.config.max_batch} at once. Please split it into smaller batches.")
        results, source = [], ""
        for name, rgb in images:
            rgb = rgb.convert("RGB")
            ir = self.translate(rgb).value
            answer = self._captions(rgb, ir, True, "", "IR translated from each RGB image by the configured "
                                                       "translator")
            # Without a captioner the batch files hold no conventional caption (null), not a statement.
            results.append({"name": name, "ir": ir, "caption": answer.value["caption"] if self.config.vlm else None,
                            "ir_aware_caption": answer.value["ir_aware_caption"]})
            source = answer.source
        return Answer(results, f"IR: {self.translator_description()} Captions: {source}")

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
