"""Offline-aware resolution of hub repo ids to local folders, for every loader that takes "a folder or a repo id".

Why: with `HF_HUB_OFFLINE=1` and nothing cached, the HF libraries fail with long, generic errors, and
without offline mode a missing hub costs 23-50 s of retries. Loaders call `resolve_repo` first: a
local folder passes through untouched, a cached repo resolves from the cache without network, and an
uncached repo while offline fails at once with a message that says what to do.
"""

from __future__ import annotations

import os
from pathlib import Path

from fusionrs.core.repo_id import is_repo_id, looks_like_repo_id
from fusionrs.errors import HubOfflineError, HubRepoNotFoundError  # noqa: F401  (defined in errors.py, re-exported here)

__all__ = ["HubOfflineError", "HubRepoNotFoundError", "is_offline", "looks_like_repo_id", "resolve_dataset_source",
           "resolve_repo"]

REPO_TYPES = ("model", "dataset", "space")
# What `hf:` dataset sources need from a dataset repo: the card (configs) and the parquet shards.
DATASET_PATTERNS = ["README.md", "generation.json", "data/**", "*.parquet", "**/*.parquet", "*.arrow", "**/*.arrow",
                    "dataset_info.json", "state.json", "**/dataset_info.json", "**/state.json", "dataset_dict.json"]


def is_offline() -> bool:
    """True when huggingface_hub runs offline (`HF_HUB_OFFLINE=1`, read by it at import time)."""
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        return os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")


def _offline_message(repo_id: str, repo_type: str) -> str:
    from huggingface_hub import constants

    flag = "" if repo_type == "model" else f" --repo-type {repo_type}"
    return (
        f"{repo_id!r} is a hub {repo_type} id, but the hub is offline (HF_HUB_OFFLINE=1) and {repo_id} is not in "
        f"the local cache ({constants.HF_HUB_CACHE}). Either go online (unset HF_HUB_OFFLINE), pre-download it "
        f"with `hf download {repo_id}{flag}` where the hub is reachable (then copy that HF_HOME cache here), "
        f"or pass a local folder instead of the repo id."
    )


def resolve_repo(
    repo_id: str | os.PathLike,
    repo_type: str = "model",
    *,
    revision: str | None = None,
    allow_patterns: list[str] | None = None,
    token: str | bool | None = None,
) -> Path:
    """A local folder for `repo_id`: the path itself when it is a local folder, else a hub snapshot.

    Offline (`HF_HUB_OFFLINE=1`) only the cache is consulted, so an uncached repo fails in
    milliseconds with `HubOfflineError`; online, a missing repo raises `HubRepoNotFoundError`.

    Args:
        repo_id: a local folder path, or a hub repo id spelled `org/name`.
        repo_type: "model", "dataset" or "space".
        revision: the hub branch, tag or commit to resolve; None is the default branch.
        allow_patterns: glob patterns of the repo files to download; None downloads all of them.
        token: the hub token (or True to use the saved login); only used online.

    Returns:
        The local folder: `repo_id` itself (user-expanded) when it is a folder, else the path of the
        hub snapshot in the HF cache.

    Raises:
        ValueError: when `repo_type` is not one of "model", "dataset", "space".
        FileNotFoundError: when `repo_id` is neither an existing folder nor spelled like a repo id.
        HubOfflineError: when offline and the repo is not cached, or online but the hub cannot be reached.
        HubRepoNotFoundError: online, when the repo does not exist (or is private without a token),
            is gated, or has no such `revision`.
    """
    if repo_type not in REPO_TYPES:
        raise ValueError(f"repo_type must be one of {', '.join(REPO_TYPES)}, got {repo_type!r}")
    local = Path(repo_id).expanduser()
    if local.is_dir():
        return local
    text = str(repo_id)
    if not is_repo_id(text):
        raise FileNotFoundError(f"{text}: no such folder, and not a hub repo id (org/name) either")

    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if is_offline():
        try:
            return Path(snapshot_download(text, repo_type=repo_type, revision=revision, allow_patterns=allow_patterns,
                                          local_files_only=True))
        except (LocalEntryNotFoundError, FileNotFoundError, OSError) as error:
            raise HubOfflineError(_offline_message(text, repo_type)) from error
    try:
        return Path(snapshot_download(text, repo_type=repo_type, revision=revision, allow_patterns=allow_patterns,
                                      token=token))
    except GatedRepoError as error:
        raise HubRepoNotFoundError(f"{text}: gated {repo_type} repo; accept its terms on the hub and log in "
                                   "(`hf auth login` or HF_TOKEN)") from error
    except RevisionNotFoundError as error:
        raise HubRepoNotFoundError(f"{text}: revision {revision!r} does not exist") from error
    except RepositoryNotFoundError as error:
        raise HubRepoNotFoundError(
            f"{text}: no such hub {repo_type} repo (or it is private and no token was given: `hf auth login` or "
            f"HF_TOKEN){'; for a dataset repo pass repo_type=dataset' if repo_type == 'model' else ''}") from error
    except LocalEntryNotFoundError as error:  # online, but the hub could not be reached
        raise HubOfflineError(f"{text}: the hub could not be reached ({error.__class__.__name__}). "
                              + _offline_message(text, repo_type).split(". ", 1)[1]) from error


def resolve_dataset_source(path_or_repo_id: str | os.PathLike, *, revision: str | None = None) -> Path:
    """The folder an `hf:` build source reads: a local `datasets` folder, or a dataset repo's snapshot
    (card + parquet/arrow files only, not its other files).

    Args:
        path_or_repo_id: a local `datasets` folder, or a hub dataset repo id (`org/name`).
        revision: the dataset repo's branch, tag or commit; None is the default branch.

    Returns:
        The local folder to read: the path itself, or the dataset snapshot in the HF cache. Errors
        are those of `resolve_repo` (FileNotFoundError, HubOfflineError, HubRepoNotFoundError).
    """
    return resolve_repo(path_or_repo_id, "dataset", revision=revision, allow_patterns=DATASET_PATTERNS)
