import io

import numpy as np
import pytest
from PIL import Image

from fusionrs.data.schema import FEATURES, FusionRecord, Provenance, validate_locator
from fusionrs.errors import LocatorError, PairSizeMismatchError, RecordError


def _record(**overrides) -> FusionRecord:
    rng = np.random.default_rng(0)
    fields = dict(
        id="r1",
        rgb=Image.fromarray(rng.integers(0, 255, (16, 20, 3), dtype=np.uint8)),
        ir=Image.fromarray(rng.integers(0, 255, (16, 20), dtype=np.uint8)),
        captions=["a road crosses a field"],
        ir_captions=["the road appears as a bright line"],
        objects=[{"label": "car", "bbox": [1, 2, 5, 4]}],
        provenance=Provenance(source_locator="images/a.jpg", translator_params={"steps": 1}),
    )
    fields.update(overrides)
    return FusionRecord(**fields)


def test_valid_record_round_trips_through_features():
    record = _record().validate()
    encoded = FEATURES.encode_example(record.to_row())
    decoded = FEATURES.decode_example(encoded)
    assert np.array_equal(np.asarray(decoded["rgb"]), np.asarray(record.rgb))
    assert decoded["ir"].mode == "L" and np.array_equal(np.asarray(decoded["ir"]), np.asarray(record.ir))
    assert Provenance.from_row(decoded["provenance"]).translator_params == {"steps": 1}
    assert decoded["objects"][0]["label"] == "car"


@pytest.mark.parametrize(
    "overrides, error, field",
    [
        ({"id": ""}, RecordError, "id"),
        ({"rgb": None, "ir": None}, RecordError, "rgb/ir"),
        ({"captions": ["ok", "  "]}, RecordError, "captions"),
        ({"captions": "not a list"}, RecordError, "captions"),
        ({"split": "train/../x"}, RecordError, "split"),
        ({"ir": Image.new("L", (8, 8))}, PairSizeMismatchError, "ir"),
        ({"ir": Image.new("RGB", (20, 16))}, RecordError, "ir"),
        ({"objects": [{"label": "car", "bbox": [15, 2, 10, 4]}]}, RecordError, "objects[0].bbox"),
        ({"objects": [{"bbox": [1, 2, 3, 4]}]}, RecordError, "objects[0]"),
        ({"rgb": b"not an image"}, RecordError, "rgb"),
        ({"provenance": Provenance(source_locator="/home/me/a.jpg")}, LocatorError, "provenance.source_locator"),
        ({"provenance": Provenance(source_locator="imgs/../../etc/passwd")}, LocatorError, "provenance.source_locator"),
    ],
)
def test_invalid_fields_name_the_record_and_field(overrides, error, field):
    with pytest.raises(error) as info:
        _record(**overrides).validate()
    assert info.value.field == field
    if "id" not in overrides:
        assert "'r1'" in str(info.value)


def test_encoded_bytes_pass_through_unchanged():
    buffer = io.BytesIO()
    Image.new("RGB", (20, 16), (10, 200, 30)).save(buffer, format="JPEG", quality=90)
    record = _record(rgb=buffer.getvalue()).validate()
    assert record.to_row()["rgb"]["bytes"] == buffer.getvalue()


def test_ir_only_record_is_valid():
    record = _record(rgb=None).validate()
    assert record.to_row()["rgb"] is None


@pytest.mark.parametrize("locator, expected", [("a/b.jpg", "a/b.jpg"), ("a\\b.jpg", "a/b.jpg"), ("", "")])
def test_locator_normalised(locator, expected):
    assert validate_locator(locator) == expected


@pytest.mark.parametrize("locator", ["C:\\data\\a.jpg", "\\\\server\\share\\a.jpg", "/abs", "../up"])
def test_locator_rejects_absolute_and_parent(locator):
    with pytest.raises(LocatorError):
        validate_locator(locator)
