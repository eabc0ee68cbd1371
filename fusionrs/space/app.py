"""The Gradio UI over `SpaceModels`: one tab per task, one named API endpoint per event.

Endpoints (gradio_client `api_name`): `/translate`, `/caption`, `/classify`, `/search`, `/browse`, `/batch`.
Uploads are validated before anything runs (`fusionrs.space.validate`); model problems and unconfigured
tabs come back as one friendly message, never a traceback. Every refusal has a message, never gradio's bare
`{"error": null}`: payloads gradio itself refuses before an event runs (a file that was not uploaded here,
the wrong type or number of inputs) are turned into `gr.Error` by a guard around the demo's
`preprocess_data`, and anything unexpected inside an event becomes a generic message (logged with its
traceback). Output images are written by `fusionrs.space.outputs.OutputFiles`, one folder per request, so
concurrent identical requests never share (and truncate) a file. Examples come from the loaded dataset.
"""

from __future__ import annotations

import base64
import csv
import functools
import html
import io
import json
import logging
import math
import re
import zipfile
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from fusionrs.errors import FusionRSError
from fusionrs.space.config import SpaceConfig
from fusionrs.space.models import NO_CAPTIONER, SpaceModels, check_text, pretty_label
from fusionrs.space.outputs import OutputFiles
from fusionrs.space.validate import UploadLimits, decode_upload

__all__ = ["THUMB_PX", "batch_zip", "build_demo", "launch", "rows_html"]

TITLE = "FusionRS: RGB, infrared-style images and captions for remote sensing"
INTRO = (
    "Turn an aerial RGB image into an **infrared-style** (LWIR-like) image, caption it conventionally and "
    "IR-aware, classify scenes zero-shot, search a gallery by text or image, browse the dataset, and translate "
    "and caption a batch of images. Have a real IR image? Upload it: it is used instead of translating the RGB. "
    "The infrared images are *generated*: they show infrared-style appearance, not measured temperature."
)
CAPTION_MODES = ["RGB + IR", "RGB only"]
MODALITIES = ["RGB", "IR"]
THUMB_PX = 192  # dataset browser thumbnails: large enough to judge an IR image (small images are enlarged)
SOURCES = ["upload", "clipboard"]  # no webcam: aerial images come from files
IMAGE_INPUTS = (gr.Image, gr.ImageSlider)
NUMBER_INPUTS = (gr.Number, gr.Slider)
UPLOAD_HINT = "upload it through the page, or with gradio_client's handle_file (it posts to /gradio_api/upload)"
# Inputs added to an endpoint after its first release, at its end: a request that omits them gets None, so
# scripts written for the older signature keep working.
OPTIONAL_TRAILING = {"classify": 1, "search": 2}
log = logging.getLogger(__name__)


def _friendly(fn):
    """Turn every error into a gr.Error with a message (gradio shows it as a toast / client error).

    Our own errors keep their message; anything else (a bug, a library failure on odd input) is logged with
    its traceback and answered with a generic sentence naming only the error type, so no internal detail
    (paths, values) leaks and the client never sees `{"error": null}`.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (FusionRSError, FileNotFoundError) as error:
            raise gr.Error(str(error)) from None
        except MemoryError:
            raise gr.Error("This request needs more memory than the Space has; try a smaller image.") from None
        except Exception as error:  # noqa: BLE001 - a message for the user; the traceback goes to the log
            log.exception("event %s failed", fn.__name__)
            raise gr.Error(f"The Space could not complete this request ({type(error).__name__}). Please try "
                           "again; if it keeps failing, report it with the input that caused it.") from None

    return wrapper


def _label(block: Any, index: int) -> str:
    label = getattr(block, "label", None)
    return f"{label} (input {index + 1})" if label else f"input {index + 1}"


def _payload_problem(block_fn: Any, inputs: list[Any]) -> str | None:
    """Why gradio would refuse this request's inputs before the event runs (None: nothing found).

    Checks what gradio refuses without a message: too few inputs, an image input that is not file data, a file
    list that is not a list of file data, a number input that is not a finite number, a text input that is not
    text.
    """
    blocks = list(getattr(block_fn, "inputs", []) or [])
    if not isinstance(inputs, list) or len(inputs) < len(blocks):
        got = len(inputs) if isinstance(inputs, list) else type(inputs).__name__
        names = ", ".join(str(getattr(b, "label", None) or type(b).__name__) for b in blocks)
        return f"This endpoint takes {len(blocks)} inputs ({names}); the request sent {got}."
    for index, (block, value) in enumerate(zip(blocks, inputs)):
        if value is None:
            continue
        if isinstance(block, IMAGE_INPUTS):
            if not isinstance(value, dict):
                return (f"The {_label(block, index)} must be an uploaded image file (file data such as "
                        f"{{\"path\": ..., \"meta\": {{\"_type\": \"gradio.FileData\"}}}}), not "
                        f"{type(value).__name__}: {UPLOAD_HINT}.")
            for key in ("path", "url", "orig_name"):
                if value.get(key) is not None and not isinstance(value[key], str):
                    return f"The {_label(block, index)} file data has a {type(value[key]).__name__} {key!r}; " \
                           "expected text."
        elif isinstance(block, gr.File):
            if getattr(block, "file_count", "single") != "single" and not isinstance(value, list):
                return (f"The {_label(block, index)} must be a list of uploaded image files (file data, e.g. "
                        f"gradio_client's handle_file), not {type(value).__name__}.")
            for item in value if isinstance(value, list) else [value]:
                if not isinstance(item, dict):
                    return (f"Every file of the {_label(block, index)} must be an uploaded image file (file data), "
                            f"not {type(item).__name__}: {UPLOAD_HINT}.")
        elif isinstance(block, NUMBER_INPUTS):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                return f"The {_label(block, index)} must be a finite number, not {value!r:.40}."
        elif isinstance(block, gr.Textbox) and not isinstance(value, str):
            return f"The {_label(block, index)} must be text, not {type(value).__name__}."
    return None


def _pad_optional(block_fn: Any, inputs: Any) -> Any:
    """`inputs` with None for the trailing optional inputs a request left out (`OPTIONAL_TRAILING`)."""
    blocks = list(getattr(block_fn, "inputs", []) or [])
    optional = OPTIONAL_TRAILING.get(str(getattr(block_fn, "api_name", "") or ""), 0)
    if isinstance(inputs, list) and len(blocks) - optional <= len(inputs) < len(blocks):
        return inputs + [None] * (len(blocks) - len(inputs))
    return inputs


def _refusal(error: BaseException) -> str:
    """The message for an error gradio raised while taking in a request (before the event ran)."""
    from gradio.exceptions import InvalidPathError

    if isinstance(error, InvalidPathError):
        return ("A file in this request was refused: it was not uploaded to this Space (only files posted to "
                f"its upload route can be used); {UPLOAD_HINT}.")
    errors = getattr(error, "errors", None)
    if callable(errors):  # pydantic's ValidationError: name the first bad field, not the whole dump
        try:
            first = errors()[0]
            where = ".".join(str(part) for part in first.get("loc", ())) or "value"
            return f"The request's file data is malformed: {where}: {first.get('msg', 'invalid')}."
        except Exception:  # noqa: BLE001
            pass
    reason = (str(error).strip().splitlines() or [""])[0][:200]
    return f"The request was refused ({type(error).__name__}){': ' + reason if reason else ''}."


def _guard_requests(demo: gr.Blocks) -> None:
    """Make gradio's own input refusals messages: wrap this demo's `preprocess_data` (gradio 6.31).

    gradio checks a request's inputs before the event runs (input count, that a file was uploaded here,
    file-data shape, number bounds) and, unless launched with `show_error=True`, answers any error that is not
    a `gr.Error` with `{"error": null}`. The guard checks the common cases first with our own sentences
    (`_payload_problem`) and turns whatever else gradio raises there into a `gr.Error` (`_refusal`). It is set
    on this instance only, so both entry points (`launch` and spaces/fusionrs/app.py) get it.
    """
    original = demo.preprocess_data

    @functools.wraps(original)
    async def preprocess_data(block_fn, inputs, *args, **kwargs):
        inputs = _pad_optional(block_fn, inputs)
        problem = _payload_problem(block_fn, inputs)
        if problem:
            raise gr.Error(problem)
        try:
            return await original(block_fn, inputs, *args, **kwargs)
        except gr.Error:
            raise
        except Exception as error:  # noqa: BLE001 - gradio's refusal, as a message
            log.info("request refused before %s ran: %r", getattr(block_fn, "name", "?"), error)
            raise gr.Error(_refusal(error)) from None

    demo.preprocess_data = preprocess_data


def _thumbnail(image: Image.Image, side: int = THUMB_PX) -> Image.Image:
    """`image` scaled to fit a `side` x `side` box, small images enlarged (an IR image must be judged by eye)."""
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    # Enlarging: nearest neighbour shows the real pixels, not an interpolated blur.
    resample = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS
    return image.resize(size, resample)


def _img_tag(image: Image.Image | None, alt: str, side: int = THUMB_PX) -> str:
    if image is None:
        return f"<i>no {html.escape(alt.split(' ')[0])} image</i>"
    thumb = _thumbnail(image, side)
    buffer = io.BytesIO()
    thumb.save(buffer, format="PNG")
    src = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    # Fixed pixel size (max-width:none): gradio's CSS would otherwise shrink images to the table column.
    return (f"<img alt='{html.escape(alt)}' src='{src}' width='{thumb.width}' height='{thumb.height}' "
            f"style='width:{thumb.width}px;height:{thumb.height}px;max-width:none'>")


def _cell(content: str, style: str = "") -> str:
    return f"<td style='padding:4px;{style}'>{content}</td>"


def _texts(items) -> str:
    return "<br>".join(html.escape(str(t)) for t in (items or [])) or "<i>none</i>"


def rows_html(rows: list[dict[str, Any]], side: int = THUMB_PX) -> str:
    """Dataset rows as a self-contained HTML table: RGB | IR | captions | IR-aware captions | class.

    Args:
        rows: dataset rows (dicts with "rgb" and "ir" PIL images or None, "id", "captions", "ir_captions",
            "class_name").
        side: the thumbnails' longest side in pixels (small images are enlarged to it).

    Returns:
        The `<table>` HTML, thumbnails inline as PNG data URLs of exactly their displayed size.
    """
    head = "".join(f"<th style='text-align:left;padding:4px'>{h}</th>"
                   for h in ("RGB", "IR", "captions", "IR-aware captions", "class"))
    body = []
    for row in rows:
        row_id = html.escape(str(row.get("id", "")))
        body.append(
            "<tr style='vertical-align:top;border-top:1px solid #ddd'>"
            + _cell(_img_tag(row.get("rgb"), f"RGB {row_id}", side), f"min-width:{side}px")
            + _cell(_img_tag(row.get("ir"), f"IR {row_id}", side), f"min-width:{side}px")
            + _cell(f"<b>{row_id}</b><br>{_texts(row.get('captions'))}", "font-size:0.9em")
            + _cell(_texts(row.get("ir_captions")), "font-size:0.9em")
            + _cell(html.escape(pretty_label(str(row.get("class_name") or ""))))
            + "</tr>"
        )
    return (f"<table class='fusionrs-rows' style='border-collapse:collapse;width:100%'><tr>{head}</tr>"
            f"{''.join(body)}</table>")


def _safe_stem(name: str, index: int, taken: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(name or "").stem).strip("_")[:48] or f"image{index + 1:02d}"
    unique, n = stem, 2
    while unique in taken:
        unique, n = f"{stem}-{n}", n + 1
    taken.add(unique)
    return unique


def batch_zip(results: list[dict[str, Any]], source: str) -> tuple[bytes, list[dict[str, str]]]:
    """The Batch tab's download: `ir/<name>.png` per image, `captions.json` and `captions.csv`.

    Args:
        results: `SpaceModels.batch` items ({"name", "ir", "caption", "ir_aware_caption"}).
        source: who made the IR images and captions (the batch's source note), kept in captions.json.

    Returns:
        (the zip file's bytes, the caption table: one {"file", "ir_file", "caption", "ir_aware_caption"} per
        image, as in captions.json and captions.csv).
    """
    taken: set[str] = set()
    table = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, item in enumerate(results):
            ir_file = f"ir/{_safe_stem(item['name'], index, taken)}.png"
            png = io.BytesIO()
            item["ir"].save(png, format="PNG")
            archive.writestr(ir_file, png.getvalue())
            table.append({"file": str(item["name"]), "ir_file": ir_file, "caption": item["caption"],
                          "ir_aware_caption": item["ir_aware_caption"]})
        archive.writestr("captions.json", json.dumps({"source": source, "items": table}, indent=2, ensure_ascii=False))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=["file", "ir_file", "caption", "ir_aware_caption"])
        writer.writeheader()
        writer.writerows(table)
        archive.writestr("captions.csv", text.getvalue())
    return buffer.getvalue(), table


def _row_summary(row: dict[str, Any]) -> dict[str, Any]:
    """The JSON face of a dataset row (images are in the HTML table)."""
    return {"id": row.get("id"), "split": row.get("split"), "class_name": row.get("class_name"),
            "captions": list(row.get("captions") or []), "ir_captions": list(row.get("ir_captions") or []),
            "size": list((row.get("rgb") or row.get("ir")).size) if (row.get("rgb") or row.get("ir")) else None}


def build_demo(config: SpaceConfig | None = None, models: SpaceModels | None = None) -> gr.Blocks:
    """The whole Space as a `gr.Blocks` (not launched: call `.queue(...).launch()` or `launch()`).

    Args:
        config: the Space settings; None reads them from the environment (`SpaceConfig.from_env`).
            Ignored when `models` is given (its own config is used).
        models: the shared model access; None builds a `SpaceModels(config)`.

    Returns:
        The `gr.Blocks` app with one tab per task and the named API endpoints `/translate`,
        `/caption`, `/classify`, `/search`, `/browse` and `/batch`.

    Raises:
        SpaceConfigError: when `config` is None and a `FUSIONRS_SPACE_*` variable is malformed.
        gradio.Error: not from this call but from its event functions, at request time: bad or
            missing uploads, an unknown caption mode, too many batch images, and `FusionRSError` /
            `FileNotFoundError` from the models, each shown to the user as one message.
    """
    models = models or SpaceModels(config)
    config = models.config
    limits = UploadLimits(max_bytes=config.max_bytes, max_pixels=config.max_pixels)
    from gradio.utils import get_upload_folder

    # Returned images: one folder per request inside gradio's cache (served as they are, never shared).
    files = OutputFiles(Path(get_upload_folder()) / "fusionrs-outputs")
    max_text = config.max_text_chars
    status = models.status()
    splits = models.splits()
    # Examples are scenes of the loaded dataset (one per class), written once into the gallery folder.
    examples = [{"rgb": files.gallery_file((e.split, e.id, "rgb"), e.rgb),
                 "ir": files.gallery_file((e.split, e.id, "ir"), e.ir), "class_name": e.class_name}
                for e in models.examples()]
    example_label = ("Examples from the dataset: " + ", ".join(pretty_label(e["class_name"]) or "unlabelled"
                                                               for e in examples)) if examples else ""
    limit_text = (f"Uploads: up to {config.max_upload_mb:g} MB and {config.max_megapixels:g} megapixels; "
                  f"texts up to {max_text:,} characters; batches up to {config.max_batch} images.")
    no_vlm = not config.vlm

    # ---------------------------------------------------------------- event functions
    # Events run with preprocess=False: image inputs arrive as gradio's stored-file dicts and are checked
    # and decoded by decode_upload (type, bytes, megapixels) before any model runs.
    def rgb_upload(payload, what="RGB image", required=True):
        return decode_upload(payload, mode="RGB", limits=limits, what=what, required=required)

    def ir_upload(payload, what="IR image"):
        return decode_upload(payload, mode="L", limits=limits, what=what, required=False)

    def whole(value, what: str, default: int) -> int:
        if value is None or value == "":
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise gr.Error(f"The {what} must be a finite number, not {value!r:.40}.")
        return int(value)

    # Every returned image is a PNG path from `files` (see fusionrs.space.outputs for why not a PIL image).
    @_friendly
    def translate(rgb_file):
        rgb = rgb_upload(rgb_file)
        answer = models.translate(rgb)
        folder = files.request_folder()
        rgb_path, ir_path = files.save(rgb, folder, "rgb"), files.save(answer.value, folder, "ir")
        return rgb_path, ir_path, (rgb_path, ir_path), answer.source

    @_friendly
    def caption(rgb_file, ir_file, mode: str, user_caption: str):
        user_caption = check_text(user_caption, what="caption", limit=max_text)
        if mode not in CAPTION_MODES:
            raise gr.Error(f"Inputs must be one of {', '.join(CAPTION_MODES)}.")
        rgb = rgb_upload(rgb_file)
        ir = ir_upload(ir_file)
        answer = models.caption(rgb, ir, use_ir=mode == "RGB + IR", user_caption=user_caption)
        value = answer.value
        ir_path = files.save(value["ir"], files.request_folder(), "ir") if value["ir"] is not None else None
        return value["caption"], value["ir_aware_caption"], ir_path, answer.source

    @_friendly
    def classify(image_file, modality: str, labels: str, ir_file=None):
        labels = check_text(labels, what="label list", limit=max_text)
        ir = ir_upload(ir_file)
        image = rgb_upload(image_file, required=str(modality).upper() != "IR" or ir is None)
        answer = models.classify(image, modality, labels.split(","), ir=ir)
        used = answer.extra["image"]
        return answer.value, files.save(used, files.request_folder(), "image"), answer.source

    @_friendly
    def search(query: str, modality: str, k: float, rgb_file=None, ir_file=None):
        rgb = rgb_upload(rgb_file, what="RGB query image", required=False)
        ir = ir_upload(ir_file, what="IR query image")
        answer = models.search(query, modality, whole(k, "number of results", 8), rgb=rgb, ir=ir)
        key = "rgb" if modality == "RGB" else "ir"
        items = [(files.gallery_file((item.split, item.id, key), item.rgb if key == "rgb" else item.ir),
                  f"{item.id} · {pretty_label(item.class_name)} · {score:.3f} · {item.caption()}")
                 for item, score in answer.value]
        return items, answer.source

    @_friendly
    def browse(split: str, page: float):
        answer = models.browse(split, whole(page, "page", 1))
        return (rows_html(answer.value), [_row_summary(r) for r in answer.value], answer.source,
                answer.extra["page"])

    def step(split: str, page: float, delta: int):
        return browse(split, whole(page, "page", 1) + delta)

    @_friendly
    def batch(uploads):
        if uploads in (None, ""):
            uploads = []
        if isinstance(uploads, dict):
            uploads = [uploads]
        if not isinstance(uploads, list):
            raise gr.Error(f"The batch must be a list of uploaded image files, not {type(uploads).__name__}.")
        if len(uploads) > config.max_batch:  # counted before anything is decoded
            raise gr.Error(f"This batch has {len(uploads)} images; the Space takes up to {config.max_batch} at "
                           "once. Please split it into smaller batches.")
        images = []
        for index, payload in enumerate(uploads):
            if not isinstance(payload, dict):  # a bare path string would name a server file, never an upload
                raise gr.Error(f"Batch image {index + 1} must be an uploaded image file (gradio's file data, e.g. "
                               f"gradio_client's handle_file), not {type(payload).__name__}: {UPLOAD_HINT}.")
            name = payload.get("orig_name") or f"image {index + 1}"
            images.append((str(name), rgb_upload(payload, what=f"batch image {index + 1} ({name})")))
        answer = models.batch(images)
        folder = files.request_folder()
        data, table = batch_zip(answer.value, answer.source)
        zip_path = files.save_bytes(data, folder, "fusionrs-batch.zip")
        previews = [(files.save(item["ir"], folder, f"ir{index:02d}"), item["name"])
                    for index, item in enumerate(answer.value)]
        rows = [[r["file"], r["caption"] or NO_CAPTIONER, r["ir_aware_caption"]] for r in table]
        return zip_path, previews, rows, answer.source

    # Every model-running event draws from one pool of `concurrency` workers: they share the models and the CPUs.
    shared = {"concurrency_limit": config.concurrency, "concurrency_id": "models"}

    # ---------------------------------------------------------------- layout
    with gr.Blocks(title="FusionRS") as demo:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        with gr.Accordion("Models in this Space", open=False):
            gr.Markdown("\n".join(f"- **{k}**: {v}" for k, v in status.items()) + f"\n- **limits**: {limit_text}")

        with gr.Tab("RGB → IR"):
            gr.Markdown(f"Translator: {status['translator']}  \n{limit_text}")
            with gr.Row():
                with gr.Column(scale=1):
                    t_in = gr.Image(label="RGB image", type="filepath", sources=SOURCES, height=280,
                                    elem_id="translate-input")
                    t_btn = gr.Button("Translate", variant="primary", elem_id="translate-button")
                    if examples:
                        gr.Examples([[e["rgb"]] for e in examples], inputs=[t_in], label=example_label)
                with gr.Column(scale=2):
                    with gr.Row():
                        t_rgb = gr.Image(label="RGB", format="png", interactive=False, height=280)
                        t_ir = gr.Image(label="Infrared-style (generated)", format="png", interactive=False,
                                        height=280, elem_id="translate-ir")
                    t_slider = gr.ImageSlider(label="Slide: RGB | IR", format="png", type="pil", interactive=False,
                                              max_height=420)
                    t_info = gr.Markdown(elem_id="translate-info")
            t_btn.click(translate, [t_in], [t_rgb, t_ir, t_slider, t_info], api_name="translate", preprocess=False,
                        **shared)

        with gr.Tab("Captions"):
            gr.Markdown("Conventional and IR-aware captions. " + status["captioner"] + ".",
                        elem_id="caption-status")
            with gr.Row():
                c_rgb = gr.Image(label="RGB image", type="filepath", sources=SOURCES, height=280,
                                 elem_id="caption-input")
                c_ir = gr.Image(label="Your IR image (optional; else the RGB is translated)", type="filepath",
                                sources=SOURCES, height=280, elem_id="caption-ir-input")
            with gr.Row():
                c_mode = gr.Radio(CAPTION_MODES, value="RGB + IR", label="Inputs")
                c_user = gr.Textbox(label="Your conventional caption (optional)", lines=1, max_length=max_text)
            c_btn = gr.Button("Caption", variant="primary", elem_id="caption-button")
            c_caption = gr.Textbox(label="Conventional caption" + (" (none without a captioning model)" if no_vlm
                                                                   else ""), interactive=False,
                                   elem_id="caption-text")
            c_ir_caption = gr.Textbox(label="IR-aware caption" + (" (grounded captioner: measured in the IR image, "
                                                                  "no model)" if no_vlm else ""),
                                      interactive=False, elem_id="ir-caption-text")
            with gr.Row():
                c_ir_used = gr.Image(label="IR image used", format="png", interactive=False)
                c_info = gr.Markdown(elem_id="caption-info")
            if examples:
                gr.Examples([[e["rgb"], e["ir"]] for e in examples], inputs=[c_rgb, c_ir], label=example_label)
            c_btn.click(caption, [c_rgb, c_ir, c_mode, c_user], [c_caption, c_ir_caption, c_ir_used, c_info],
                        api_name="caption", preprocess=False, **shared)

        with gr.Tab("Zero-shot classification"):
            gr.Markdown(status["clip"] + ".")
            with gr.Row():
                z_in = gr.Image(label="RGB image", type="filepath", sources=SOURCES, height=240,
                                elem_id="classify-input")
                z_ir = gr.Image(label="Your IR image (optional; else the RGB is translated)", type="filepath",
                                sources=SOURCES, height=240, elem_id="classify-ir-input")
                with gr.Column():
                    z_mod = gr.Radio(MODALITIES, value="RGB", label="Classify")
                    z_labels = gr.Textbox(label="Labels, comma-separated (empty: the dataset's scene classes)",
                                          placeholder=", ".join(models.class_names()[:6]), max_length=max_text)
                    z_btn = gr.Button("Classify", variant="primary", elem_id="classify-button")
            with gr.Row():
                z_out = gr.Label(label="Scores", num_top_classes=5, elem_id="classify-scores")
                z_used = gr.Image(label="Image classified", format="png", interactive=False, height=240)
            z_info = gr.Markdown(elem_id="classify-info")
            if examples:
                gr.Examples([[e["rgb"], e["ir"], m] for e, m in zip(examples, ["RGB", "IR"] * len(examples))],
                            inputs=[z_in, z_ir, z_mod], label=example_label)
            z_btn.click(classify, [z_in, z_mod, z_labels, z_ir], [z_out, z_used, z_info], api_name="classify",
                        preprocess=False, **shared)

        with gr.Tab("Search"):
            gr.Markdown(status["clip"] + f". Gallery: {models.gallery_description()}. Search by a description, or "
                                         "by an image (an RGB image, your IR image, or both).")
            with gr.Row():
                s_query = gr.Textbox(label="Describe the scene (or leave empty and give an image)",
                                     placeholder="a river crossing farmland", scale=3, max_length=max_text,
                                     elem_id="search-query")
                s_mod = gr.Radio(MODALITIES, value="RGB", label="Search images")
                s_k = gr.Slider(1, 24, value=8, step=1, label="Results")
            with gr.Accordion("Search by image", open=False):
                with gr.Row():
                    s_rgb = gr.Image(label="RGB query image", type="filepath", sources=SOURCES, height=200,
                                     elem_id="search-rgb-input")
                    s_ir = gr.Image(label="Your IR query image (optional; else the RGB is translated)",
                                    type="filepath", sources=SOURCES, height=200, elem_id="search-ir-input")
            s_btn = gr.Button("Search", variant="primary", elem_id="search-button")
            s_out = gr.Gallery(label="Best matches", columns=6, format="png", object_fit="contain",
                               elem_id="search-gallery")
            s_info = gr.Markdown(elem_id="search-info")
            s_inputs = [s_query, s_mod, s_k, s_rgb, s_ir]
            s_btn.click(search, s_inputs, [s_out, s_info], api_name="search", preprocess=False, **shared)
            s_query.submit(search, s_inputs, [s_out, s_info], api_visibility="private", preprocess=False, **shared)

        with gr.Tab("Dataset"):
            gr.Markdown(f"Rows of {status['data']}: RGB | IR | captions | IR-aware captions | class.")
            with gr.Row():
                b_split = gr.Dropdown(splits, value=splits[0] if splits else None, label="Split")
                b_page = gr.Number(value=1, precision=0, minimum=1, label="Page")
                b_prev = gr.Button("◀ Previous")
                b_next = gr.Button("Next ▶")
                b_btn = gr.Button("Show", variant="primary")
            b_info = gr.Markdown()
            b_html = gr.HTML(elem_id="dataset-rows")
            with gr.Accordion("Rows as JSON", open=False):
                b_json = gr.JSON()
            outputs = [b_html, b_json, b_info, b_page]
            b_btn.click(browse, [b_split, b_page], outputs, api_name="browse")
            b_split.change(lambda split: browse(split, 1), [b_split], outputs, api_visibility="private")
            b_prev.click(lambda s, p: step(s, p, -1), [b_split, b_page], outputs, api_visibility="private")
            b_next.click(lambda s, p: step(s, p, +1), [b_split, b_page], outputs, api_visibility="private")
            demo.load(browse, [b_split, b_page], outputs, api_visibility="private")

        with gr.Tab("Batch"):
            gr.Markdown(f"Translate and caption up to {config.max_batch} RGB images at once; download the IR PNGs "
                        "and the captions (JSON and CSV) as one zip. " + status["captioner"] + ".")
            m_in = gr.File(label=f"RGB images (up to {config.max_batch})", file_count="multiple",
                           file_types=["image"], elem_id="batch-input")
            m_btn = gr.Button("Translate and caption", variant="primary", elem_id="batch-button")
            with gr.Row():
                m_zip = gr.File(label="Results: ir/*.png, captions.json, captions.csv", interactive=False,
                                elem_id="batch-zip")
                m_info = gr.Markdown(elem_id="batch-info")
            m_gallery = gr.Gallery(label="Infrared-style images (generated)", columns=4, format="png",
                                   object_fit="contain", elem_id="batch-gallery")
            m_table = gr.Dataframe(headers=["file", "conventional caption", "IR-aware caption"], interactive=False,
                                   wrap=True, label="Captions")
            m_btn.click(batch, [m_in], [m_zip, m_gallery, m_table, m_info], api_name="batch", preprocess=False,
                        **shared)
    _guard_requests(demo)
    return demo


def launch(config: SpaceConfig | None = None, *, host: str = "127.0.0.1", port: int | None = None,
           share: bool = False, **launch_kwargs):
    """Build, queue (bounded concurrency: models are shared, CPUs are few) and serve the Space.

    Args:
        config: the Space settings; None reads them from the environment.
        host: the address to listen on (default 127.0.0.1, local only).
        port: the port; None lets gradio choose (its default or `GRADIO_SERVER_PORT`).
        share: ask gradio for a public share link.
        **launch_kwargs: passed on to `gr.Blocks.launch`.

    Returns:
        What `gr.Blocks.launch` returns (it blocks while serving unless told not to).
    """
    models = SpaceModels(config)
    demo = build_demo(models=models)
    cfg = models.config
    # gradio's own byte limit is a backstop at twice ours, so files just over ours get our friendly message.
    demo.queue(default_concurrency_limit=cfg.concurrency, max_size=64)
    return demo.launch(server_name=host, server_port=port, share=share, max_file_size=2 * cfg.max_bytes,
                       **launch_kwargs)
