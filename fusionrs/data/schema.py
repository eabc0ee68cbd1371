"""The one definition of a FusionRS record and its `datasets.Features`.

Every producer (source adapters, the procedural world, the builder) makes `FusionRecord`s and every
consumer reads rows with `FEATURES`; nothing else defines columns.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, Union

import datasets
from PIL import Image

from fusionrs.errors import LocatorError, PairSizeMismatchError, RecordError

__all__ = [
    "FEATURES",
    "SCHEMA_VERSION",
    "FusionRecord",
    "ImageLike",
    "Provenance",
    "encode_image",
    "validate_locator",
]

SCHEMA_VERSION = "1"

# A record image is a decoded PIL image, or encoded bytes we pass through untouched (no re-encoding
# loss for source JPEGs); both are checked before writing.
ImageLike = Union[Image.Image, bytes]

_SPLIT_NAME = re.compile(r"^\w+(\.\w+)*$")

FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        # RGB is missing for IR-only real thermal sources (e.g. HIT-UAV).
        "rgb": datasets.Image(mode="RGB"),
        # IR is single-channel 8-bit; models replicate it to 3 channels themselves.
        "ir": datasets.Image(mode="L"),
        "captions": datasets.List(datasets.Value("string")),
        "ir_captions": datasets.List(datasets.Value("string")),
        "source_dataset": datasets.Value("string"),
        "source_id": datasets.Value("string"),
        "class_name": datasets.Value("string"),
        "split": datasets.Value("string"),
        "group_id": datasets.Value("string"),
        "is_eval_representative": datasets.Value("bool"),
        "objects": datasets.List(
            {
                "label": datasets.Value("string"),
                # x, y, width, height in pixels of the record's own image.
                "bbox": datasets.List(datasets.Value("float32"), length=4),
            }
        ),
        "provenance": {
            "translator": datasets.Value("string"),
            "translator_params": datasets.Value("string"),  # JSON object
            "caption_model": datasets.Value("string"),
            "caption_params": datasets.Value("string"),  # JSON object
            "rights": datasets.Value("string"),
            "source_locator": datasets.Value("string"),
            "image_conversion": datasets.Value("string"),
            "world_version": datasets.Value("string"),
            "schema_version": datasets.Value("string"),
        },
    }
)


def validate_locator(locator: str, record_id: str = "?") -> str:
    """Return `locator` as a POSIX relative path, or raise `LocatorError`.

    Locators travel with published datasets, so they must never leak a user's absolute paths nor
    point outside the source root.

    Args:
        locator: a path relative to the source root (`\\` separators are accepted and converted).
        record_id: the record named in the error.

    Returns:
        The locator as a POSIX relative path ("" stays "").

    Raises:
        LocatorError: the locator is absolute or holds `..`.
    """
    if locator == "":
        return locator
    if "\\" in locator or PureWindowsPath(locator).drive:
        if PureWindowsPath(locator).is_absolute() or PureWindowsPath(locator).drive:
            raise LocatorError(record_id, "provenance.source_locator", f"absolute path {locator!r}")
        locator = PureWindowsPath(locator).as_posix()
    path = PurePosixPath(locator)
    if path.is_absolute():
        raise LocatorError(record_id, "provenance.source_locator", f"absolute path {locator!r}")
    if ".." in path.parts:
        raise LocatorError(record_id, "provenance.source_locator", f"'..' in {locator!r}")
    return path.as_posix()


@dataclass
class Provenance:
    """Where a record's pixels and words came from, and with which parameters."""

    translator: str = ""
    translator_params: dict[str, Any] = field(default_factory=dict)
    caption_model: str = ""
    caption_params: dict[str, Any] = field(default_factory=dict)
    rights: str = ""
    source_locator: str = ""
    image_conversion: str = ""
    world_version: str = ""

    def to_row(self) -> dict[str, str]:
        return {
            "translator": self.translator,
            "translator_params": json.dumps(self.translator_params, sort_keys=True),
            "caption_model": self.caption_model,
            "caption_params": json.dumps(self.caption_params, sort_keys=True),
            "rights": self.rights,
            "source_locator": self.source_locator,
            "image_conversion": self.image_conversion,
            "world_version": self.world_version,
            "schema_version": SCHEMA_VERSION,
        }

    @classmethod
    def from_row(cls, row: dict[str, str]) -> "Provenance":
        return cls(
            translator=row["translator"],
            translator_params=json.loads(row["translator_params"] or "{}"),
            caption_model=row["caption_model"],
            caption_params=json.loads(row["caption_params"] or "{}"),
            rights=row["rights"],
            source_locator=row["source_locator"],
            image_conversion=row["image_conversion"],
            world_version=row["world_version"],
        )


@dataclass
class FusionRecord:
    """One aligned RGB / IR / caption sample. `rgb` or `ir` may be None, never both."""

    id: str
    rgb: ImageLike | None
    ir: ImageLike | None
    captions: list[str]
    ir_captions: list[str] = field(default_factory=list)
    source_dataset: str = ""
    source_id: str = ""
    class_name: str = ""
    split: str = "train"
    group_id: str = ""
    is_eval_representative: bool = False
    objects: list[dict[str, Any]] = field(default_factory=list)
    provenance: Provenance = field(default_factory=Provenance)

    def validate(self) -> "FusionRecord":
        """Check every field; raise a `RecordError` naming the first bad one. Returns self."""
        rid = self.id if isinstance(self.id, str) else repr(self.id)
        if not isinstance(self.id, str) or not self.id.strip():
            raise RecordError(rid, "id", "must be a non-empty string")
        if self.rgb is None and self.ir is None:
            raise RecordError(rid, "rgb/ir", "a record needs an RGB or an IR image")
        for name in ("captions", "ir_captions"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
                raise RecordError(rid, name, "must be a list of strings")
            if any(not c.strip() for c in value):
                raise RecordError(rid, name, "contains an empty caption")
        if not _SPLIT_NAME.match(self.split or ""):
            raise RecordError(rid, "split", f"{self.split!r} is not a valid split name (letters, digits, _)")
        self.provenance.source_locator = validate_locator(self.provenance.source_locator, rid)
        rgb_size = _image_size(self.rgb, rid, "rgb")
        ir_size = _image_size(self.ir, rid, "ir")
        if rgb_size and ir_size and rgb_size != ir_size:
            raise PairSizeMismatchError(
                rid, "ir", f"IR is {ir_size[0]}x{ir_size[1]} but RGB is {rgb_size[0]}x{rgb_size[1]}"
            )
        size = rgb_size or ir_size
        for i, obj in enumerate(self.objects):
            bbox = obj.get("bbox") if isinstance(obj, dict) else None
            if not isinstance(obj, dict) or not isinstance(obj.get("label"), str) or bbox is None or len(bbox) != 4:
                raise RecordError(rid, f"objects[{i}]", "needs a 'label' string and a 4-number 'bbox' (x, y, w, h)")
            x, y, w, h = (float(v) for v in bbox)
            if w < 0 or h < 0 or x < 0 or y < 0 or x + w > size[0] + 0.5 or y + h > size[1] + 0.5:
                raise RecordError(rid, f"objects[{i}].bbox", f"{bbox} lies outside the {size[0]}x{size[1]} image")
        return self

    def to_row(self) -> dict[str, Any]:
        """The row as `FEATURES` expects it, images encoded (PNG for decoded images)."""
        return {
            "id": self.id,
            "rgb": None if self.rgb is None else {"bytes": encode_image(self.rgb, "RGB"), "path": None},
            "ir": None if self.ir is None else {"bytes": encode_image(self.ir, "L"), "path": None},
            "captions": list(self.captions),
            "ir_captions": list(self.ir_captions),
            "source_dataset": self.source_dataset,
            "source_id": self.source_id,
            "class_name": self.class_name,
            "split": self.split,
            "group_id": self.group_id,
            "is_eval_representative": bool(self.is_eval_representative),
            "objects": [{"label": o["label"], "bbox": [float(v) for v in o["bbox"]]} for o in self.objects],
            "provenance": self.provenance.to_row(),
        }


def encode_image(image: ImageLike, mode: str) -> bytes:
    """Losslessly encode `image` (PNG), or pass encoded bytes through unchanged.

    Args:
        image: a PIL image, or encoded bytes (returned as they are).
        mode: the PIL mode to store a decoded image in (`RGB`, `L`).

    Returns:
        The encoded bytes.
    """
    if isinstance(image, bytes):
        return image
    if image.mode != mode:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _complete(data: bytes, image_format: str | None) -> bool:
    """True when JPEG / PNG bytes end as a whole file does; raises OSError when they are cut short.

    The cheap stand-in for a full decode (the builder's pass-through bytes were decoded once already):
    a PNG has its IEND chunk, a JPEG an end-of-image marker after its last scan (entropy-coded data
    never holds one). False for other formats, which the caller decodes.
    """
    if image_format == "PNG":
        if data.rfind(b"IEND") < 8:
            raise OSError("image file is truncated (no IEND chunk)")
        return True
    if image_format in ("JPEG", "MPO"):
        if data.find(b"\xff\xd9", max(data.rfind(b"\xff\xda"), 2)) < 0:
            raise OSError("image file is truncated (no end-of-image marker after the last scan)")
        return True
    return False


def _image_size(image: ImageLike | None, record_id: str, name: str) -> tuple[int, int] | None:
    if image is None:
        return None
    expected = "RGB" if name == "rgb" else "L"
    if isinstance(image, bytes):
        try:
            with Image.open(io.BytesIO(image)) as opened:  # reads the header: mode and size, no pixels
                mode, size = opened.mode, opened.size
                if not _complete(image, opened.format):
                    opened.load()  # other formats: decode, so a truncated payload fails here, not at training time
        except Exception as exc:  # PIL raises many types for bad bytes
            raise RecordError(record_id, name, f"encoded image does not decode ({exc})") from None
    elif isinstance(image, Image.Image):
        mode, size = image.mode, image.size
    else:
        raise RecordError(record_id, name, f"expected a PIL image or encoded bytes, got {type(image).__name__}")
    if mode != expected:
        raise RecordError(record_id, name, f"mode is {mode}, expected {expected} (convert with fusionrs.core.load_image)")
    return size
