"""The one hub repo-id check: is a string `org/name` (or a bare `name`), and is it meant as a hub id?"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["is_repo_id", "looks_like_repo_id"]

# huggingface_hub's own rule, minus its length limit: names start alphanumeric, then word chars, '.' or '-'.
_NAMESPACED = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_BARE_OR_NAMESPACED = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def is_repo_id(text: str, *, require_namespace: bool = True) -> bool:
    """Whether `text` is spelled like a hub repo id.

    Args:
        text: the candidate id.
        require_namespace: accept only `org/name` (True) or also a bare legacy `name` such as `gpt2`.

    Returns:
        True when the spelling is a valid repo id; nothing is looked up.
    """
    pattern = _NAMESPACED if require_namespace else _BARE_OR_NAMESPACED
    return bool(pattern.match(str(text)))


def looks_like_repo_id(text: str | os.PathLike, *, require_namespace: bool = True) -> bool:
    """`org/name` that is not an existing local path (local folders always win over hub ids).

    Args:
        text: a path or hub id as a user typed it.
        require_namespace: as in `is_repo_id` (False also accepts a bare legacy `name`).

    Returns:
        True when `text` should be resolved on the hub rather than on disk.
    """
    value = str(text)
    return (is_repo_id(value, require_namespace=require_namespace) and not value.startswith((".", "~", "/"))
            and not Path(value).expanduser().exists())
