"""Test session set-up. The environment variables must be set before any HF library is imported:
they read them once, at import time (DESIGN.md, CI traps)."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

_SESSION_HOME = tempfile.mkdtemp(prefix="fusionrs-tests-")
atexit.register(shutil.rmtree, _SESSION_HOME, ignore_errors=True)

os.environ.update(
    {
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",
        "GRADIO_ANALYTICS_ENABLED": "False",
        # A private cache per session: tests never see a stale cache nor write into the user's.
        "HF_HOME": os.path.join(_SESSION_HOME, "hf"),
        "FUSIONRS_CACHE": os.path.join(_SESSION_HOME, "fusionrs"),
        "TOKENIZERS_PARALLELISM": "false",
    }
)

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data of ../shared/data (read-only); tests using it skip on a user's fresh checkout."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (only on the project's machines)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def bad_inputs(tmp_path_factory) -> dict:
    """The bad-input corpus, made by the committed script tests/data/make_bad_inputs.py."""
    from tests.data.make_bad_inputs import make_bad_inputs

    return make_bad_inputs(tmp_path_factory.mktemp("bad_inputs"))
