"""The Space under hostile but fair use: a burst of identical requests, refused payloads, over-long texts.

Runs against the real server of tests/test_space.py (`shared_space`: `fusionrs space` in a subprocess on
127.0.0.1 with the tiny seeded translator, tiny CLIP and 14-row world dataset). Requests go over plain HTTP
(gradio's `/gradio_api/upload` and `/gradio_api/call/<api>` routes) or through gradio_client, as a script
would send them; nothing is mocked.

The burst: 20 threads released together by a barrier each upload the same image, call `/translate` and at
once download the returned IR and RGB files, so downloads overlap other requests' writes. Before the fix
20-35% of such downloads ended short (gradio wrote every identical output to one hash-named file, see
fusionrs/space/outputs.py).
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.test_space import MAX_UPLOAD_MB, shared_space

BURST = 20
BURST_LIMIT_S = 90
HTTP_TIMEOUT_S = 60
DEFAULT_MAX_TEXT = 1000  # SpaceConfig.max_text_chars: the test server runs with the default
FILE_DATA = {"meta": {"_type": "gradio.FileData"}}


@pytest.fixture(scope="module")
def space():
    return shared_space()


@pytest.fixture(scope="module")
def http():
    import httpx

    with httpx.Client(timeout=HTTP_TIMEOUT_S, trust_env=False) as client:
        yield client


def _upload(http, space, data: bytes, name: str = "scene.png") -> dict:
    """POST one file to the Space's upload route; its stored-file dict, as the page and gradio_client send it."""
    response = http.post(space.url + "gradio_api/upload", files={"files": (name, data)})
    response.raise_for_status()
    return {"path": response.json()[0], "orig_name": name, **FILE_DATA}


def _call(http, space, api: str, data: list) -> tuple[str, object]:
    """Call an endpoint over gradio's REST route: ("complete", outputs) or ("error", the error payload)."""
    response = http.post(space.url + f"gradio_api/call/{api}", json={"data": data})
    response.raise_for_status()
    event_id = response.json()["event_id"]
    stream = http.get(space.url + f"gradio_api/call/{api}/{event_id}").text
    event = payload = None
    for line in stream.splitlines():
        if line.startswith("event: "):
            event = line[len("event: "):]
        elif line.startswith("data: ") and event in ("complete", "error"):
            payload = json.loads(line[len("data: "):])
    assert event in ("complete", "error"), stream[:500]
    return event, payload


def _refusal(http, space, api: str, data: list) -> str:
    event, payload = _call(http, space, api, data)
    assert event == "error", f"{api} accepted {str(data)[:200]}: {str(payload)[:300]}"
    assert isinstance(payload, dict) and isinstance(payload.get("error"), str) and payload["error"].strip(), \
        f"{api} refused {str(data)[:200]} without a message: {payload}"
    assert "Traceback" not in payload["error"]
    return payload["error"]


def _download_complete(http, space, file_data: dict) -> tuple[bytes, Image.Image]:
    """Fetch a returned file as a browser would and check it arrived whole and decodes."""
    response = http.get(file_data.get("url") or space.url + "gradio_api/file=" + file_data["path"])
    assert response.status_code == 200, response.text[:200]
    body = response.content
    assert len(body) == int(response.headers["content-length"]) and body, "download ended short"
    image = Image.open(io.BytesIO(body))
    image.load()  # a truncated PNG raises here
    return body, image


# ------------------------------------------------------------------------------------------- identical burst


def test_twenty_identical_requests_all_succeed_with_complete_files(space, http):
    import httpx

    rgb_bytes = space.rgb.read_bytes()
    rgb = np.asarray(Image.open(space.rgb).convert("RGB"))
    # The reference: one request alone (also loads the model, so the burst measures serving, not loading).
    event, reference = _call(http, space, "translate", [_upload(http, space, rgb_bytes)])
    assert event == "complete", reference
    _, reference_ir = _download_complete(http, space, reference[1])
    expected_ir = np.asarray(reference_ir.convert("L"))
    assert expected_ir.shape == rgb.shape[:2]

    barrier = threading.Barrier(BURST)

    def one(index: int) -> dict:
        with httpx.Client(timeout=HTTP_TIMEOUT_S, trust_env=False) as own:  # one connection per "user"
            barrier.wait(timeout=HTTP_TIMEOUT_S)
            try:
                event, outputs = _call(own, space, "translate", [_upload(own, space, rgb_bytes)])
                if event != "complete":
                    return {"index": index, "error": f"{event}: {outputs}"}
                _, rgb_out = _download_complete(own, space, outputs[0])
                ir_body, ir_out = _download_complete(own, space, outputs[1])
                slider = [_download_complete(own, space, item)[1] for item in outputs[2]]
            except (AssertionError, OSError, httpx.HTTPError) as error:
                return {"index": index, "error": repr(error)[:300]}
            return {"index": index, "rgb": np.asarray(rgb_out.convert("RGB")), "ir": np.asarray(ir_out),
                    "ir_mode": ir_out.mode, "slider": [im.size for im in slider],
                    "paths": (outputs[0]["path"], outputs[1]["path"]), "ir_bytes": len(ir_body)}

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(BURST) as pool:
        results = list(pool.map(one, range(BURST)))
    elapsed = time.monotonic() - start
    print(f"\n{BURST} identical /translate requests + downloads: {elapsed:.1f} s")

    failures = [r for r in results if "error" in r]
    assert not failures, f"{len(failures)}/{BURST} failed: {failures[:3]}"
    assert elapsed < BURST_LIMIT_S
    for result in results:
        assert result["ir_mode"] == "L" and result["ir"].shape == expected_ir.shape
        assert np.array_equal(result["ir"], expected_ir)  # complete and the translator's output, pixel for pixel
        assert np.array_equal(result["rgb"], rgb)
        assert result["slider"] == [(rgb.shape[1], rgb.shape[0])] * 2
    # The cause is gone: no two requests were handed the same file to download.
    paths = [p for r in results for p in r["paths"]]
    assert len(set(paths)) == len(paths) == 2 * BURST


def test_identical_burst_through_gradio_client(space):
    """The same burst as a script would send it: one gradio_client, 20 threads calling predict."""
    from gradio_client import Client, handle_file

    client = Client(space.url, verbose=False, download_files=str(space.root / "burst-downloads"))
    size = Image.open(space.rgb).size
    barrier = threading.Barrier(BURST)

    def one(_):
        barrier.wait(timeout=HTTP_TIMEOUT_S)
        rgb_out, ir_out, slider, info = client.predict(handle_file(str(space.rgb)), api_name="/translate")
        with Image.open(ir_out) as ir:
            ir.load()
            return ir.mode, ir.size, len(slider), "fusionrs translator" in info

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(BURST) as pool:
        results = list(pool.map(one, range(BURST)))
    elapsed = time.monotonic() - start
    print(f"\n{BURST} identical gradio_client predict calls: {elapsed:.1f} s")
    assert results == [("L", size, 2, True)] * BURST
    assert elapsed < BURST_LIMIT_S


# ------------------------------------------------------------------------------------------- refused payloads


@pytest.fixture(scope="module")
def uploads(space, http, tmp_path_factory):
    """Files stored by the Space's upload route: a text file named .png, too many pixels, too many bytes."""
    from PIL import PngImagePlugin

    folder = tmp_path_factory.mktemp("hostile")
    big = folder / "big.png"
    Image.new("RGB", (400, 300), (40, 120, 60)).save(big)  # 0.12 MP > the test server's 0.1 MP
    heavy = folder / "heavy.png"  # few pixels, 0.7 MB: over our 0.5 MB, under gradio's 1 MB backstop
    meta = PngImagePlugin.PngInfo()
    meta.add_text("padding", os.urandom(350_000).hex())
    Image.new("RGB", (32, 32)).save(heavy, pnginfo=meta)
    assert MAX_UPLOAD_MB * 2**20 < heavy.stat().st_size < 2 * MAX_UPLOAD_MB * 2**20
    return {
        "text": _upload(http, space, b"not an image at all", "notes.png"),
        "big": _upload(http, space, big.read_bytes(), "big.png"),
        "heavy": _upload(http, space, heavy.read_bytes(), "heavy.png"),
        "truncated": _upload(http, space, space.rgb.read_bytes()[:300], "cut.png"),
        "empty": _upload(http, space, b"", "empty.png"),
    }


BAD_IMAGES = [
    ("text", "not an image this Space can read"),
    ("big", "too large: 400x300 = 120,000 pixels"),
    ("heavy", "file is too large"),
    ("truncated", "damaged or incomplete"),
    ("empty", "empty (0 bytes)"),
]


@pytest.mark.parametrize("kind, expected", BAD_IMAGES, ids=[k for k, _ in BAD_IMAGES])
@pytest.mark.parametrize("api", ["translate", "caption", "classify"])
def test_bad_or_too_large_images_are_refused_with_a_message(space, http, uploads, kind, expected, api):
    data = {"translate": [uploads[kind]], "caption": [uploads[kind], None, "RGB + IR", ""],
            "classify": [uploads[kind], "RGB", "river, forest"]}[api]
    assert expected in _refusal(http, space, api, data)


WRONG_PAYLOADS = [
    ("not uploaded here", "translate", [{"path": "/etc/passwd", **FILE_DATA}], "not uploaded to this Space"),
    ("plain path string", "translate", ["/etc/passwd"], "must be an uploaded image file"),
    ("number for an image", "translate", [5], "not int"),
    ("list for an image", "classify", [[1, 2], "RGB", ""], "not list"),
    ("non-text file path", "translate", [{"path": 7, **FILE_DATA}], "expected text"),
    ("remote URL", "translate", [{"url": "http://example.com/a.png", **FILE_DATA}], "does not fetch URLs"),
    ("no inputs", "translate", [], "takes 1 inputs"),
    ("too few inputs", "caption", [None, None], "takes 4 inputs"),
    ("number for text", "search", [5, "RGB", 3], "must be text"),
    ("text for a number", "search", ["river", "RGB", "three"], "must be a finite number"),
    ("text for the page", "browse", ["train", "x"], "must be a finite number"),
    ("unknown caption mode", "caption", [None, None, "thermal", ""], "must be one of RGB + IR, RGB only"),
    ("missing upload", "caption", [None, None, "RGB + IR", ""], "Please upload the RGB image first"),
    ("batch: a server path", "batch", [["/etc/passwd"]], "must be an uploaded image file (file data), not str"),
    ("batch: not uploaded here", "batch", [[{"path": "/etc/passwd", **FILE_DATA}]], "not uploaded to this Space"),
    ("batch: not a list", "batch", [5], "must be a list of uploaded image files"),
    ("classify: IR, nothing uploaded", "classify", [None, "IR", "", None], "Please upload the RGB image first"),
    ("search: text and an image", "search", ["river", "IR", 2, None, {"url": "data:image/png;base64,iVBO"}],
     "not an image this Space can read"),
]


@pytest.mark.parametrize("api, data, expected", [c[1:] for c in WRONG_PAYLOADS], ids=[c[0] for c in WRONG_PAYLOADS])
def test_wrong_payloads_are_refused_with_a_message(space, http, api, data, expected):
    assert expected in _refusal(http, space, api, data)


def test_a_file_over_gradios_backstop_is_refused_at_upload_with_a_message(space, http):
    response = http.post(space.url + "gradio_api/upload",
                         files={"files": ("huge.png", b"\0" * int(2 * MAX_UPLOAD_MB * 2**20 + 1))})
    assert response.status_code == 413 and "maximum allowed size" in response.text


def test_gradio_client_sees_the_message(space):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(space.url, verbose=False, download_files=False)
    with pytest.raises(AppError, match="must be a finite number"):
        client.predict("train", "x", api_name="/browse")


# ------------------------------------------------------------------------------------------- text length cap


def test_over_long_texts_are_refused_and_the_limit_itself_is_accepted(space, http, uploads):
    image = _upload(http, space, space.rgb.read_bytes())
    long = "a river " * (DEFAULT_MAX_TEXT // 8) + "xy"  # DEFAULT_MAX_TEXT + 2 characters
    assert len(long) == DEFAULT_MAX_TEXT + 2
    for api, data, what in [
        ("search", [long, "RGB", 3], "search query"),
        ("caption", [image, None, "RGB + IR", long], "caption"),
        ("classify", [image, "RGB", long], "label list"),
    ]:
        message = _refusal(http, space, api, data)
        assert f"The {what} is too long: {len(long):,} characters" in message and f"up to {DEFAULT_MAX_TEXT:,}" in message

    at_limit = long[:DEFAULT_MAX_TEXT]
    event, outputs = _call(http, space, "caption", [image, None, "RGB + IR", at_limit])
    assert event == "complete" and outputs[0] == at_limit.strip()
    event, outputs = _call(http, space, "search", [at_limit, "IR", 2])
    assert event == "complete" and len(outputs[0]) == 2, outputs


# ------------------------------------------------------------------------------------------- in-process


def test_output_files_are_unique_complete_and_pruned_only_if_ours(tmp_path):
    from fusionrs.space.outputs import OutputFiles

    files = OutputFiles(tmp_path / "out", ttl_s=100)
    image = Image.new("L", (20, 10), 77)
    first, second = files.request_folder(), files.request_folder()
    assert first != second and first.parent == second.parent == tmp_path / "out"
    path = files.save(image, first, "ir")
    assert path == str(first.resolve() / "ir.png") and Image.open(path).size == (20, 10)
    assert [p.name for p in first.iterdir()] == ["ir.png"]  # no staging file left
    with pytest.raises(ValueError, match="plain file stem"):
        files.save(image, first, "../escape")
    gallery = files.gallery_file(("test", "world-1", "ir"), image)
    assert files.gallery_file(("test", "world-1", "ir"), Image.new("L", (5, 5))) == gallery  # written once

    foreign = tmp_path / "out" / "123-notours"
    foreign.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "keep.txt").write_text("not ours")
    link = tmp_path / "out" / f"1-{'a' * 32}"
    link.symlink_to(outside, target_is_directory=True)
    old = time.time() - 1000
    for folder in (first, foreign, Path(gallery).parent):
        os.utime(folder, (old, old))
    removed = files.prune(force=True)
    assert removed == [first]  # old and ours; the fresh one, the foreign name, the link and the live gallery stay
    assert second.is_dir() and foreign.is_dir() and link.is_symlink() and (outside / "keep.txt").is_file()
    assert Path(gallery).is_file()
    assert files.prune() == []  # at most once per prune_every_s


def test_check_text_and_the_configured_cap():
    from fusionrs.errors import FusionRSError
    from fusionrs.space.config import SpaceConfig, SpaceConfigError
    from fusionrs.space.models import check_text

    assert check_text(None, what="caption", limit=3) == "" and check_text("abc", what="caption", limit=3) == "abc"
    with pytest.raises(FusionRSError, match="too long: 4 characters; this Space accepts up to 3"):
        check_text("abcd", what="caption", limit=3)
    with pytest.raises(FusionRSError, match="must be text, got int"):
        check_text(5, what="caption", limit=3)
    assert SpaceConfig().max_text_chars == DEFAULT_MAX_TEXT
    assert SpaceConfig.from_env({"FUSIONRS_SPACE_MAX_TEXT_CHARS": "200"}).max_text_chars == 200
    with pytest.raises(SpaceConfigError, match="max_text_chars"):
        SpaceConfig(max_text_chars=0)


def test_an_unexpected_error_in_an_event_becomes_a_message():
    import gradio as gr

    from fusionrs.space.app import _friendly

    @_friendly
    def broken(x):
        return 1 / x

    with pytest.raises(gr.Error) as info:
        broken(0)
    assert "could not complete this request (ZeroDivisionError)" in info.value.message
