"""How a saved artefact names another one: by hub id, builtin name, or a path relative to itself.

A trained captioner records the translator its RGB-only input needs; a dataset records the translator
it was built with. Written as the user typed it (`runs/translator/final`), such a path means something
only from the working directory of the run; written absolute, only on that machine. So a reference is
stored relative to the folder of the artefact that holds it (`../../translator/final`), and resolved
against that folder when read: the pair of folders can move together, and loading works from any
working directory. Hub ids (`user/repo`), builtin names and anything that is not an existing local
path are kept as given.

Translator specs (`fusionrs:DIR`, `linear:FILE`, `diffv2ir:DIR;steps=20`) carry a path after the
kind; only that path is rewritten.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["LOCAL_PATH", "PATH_SPEC_KINDS", "display_reference", "reference_for", "resolve_reference", "resolve_spec",
           "scrub_local_paths", "scrub_published", "spec_for"]

# Translator spec kinds whose argument is a local path (before any ";key=value" options).
PATH_SPEC_KINDS = ("fusionrs", "linear", "diffv2ir")

# An absolute local path inside free text: POSIX `/a/b`, home `~/a`, Windows `C:\a`. Not preceded by a word
# character, '.', '/', '~' or '-' (so `RGB/IR`, `3/4`, `./x`, `https://host/x` are left alone).
LOCAL_PATH = re.compile(r"(?<![\w./~\\-])(?:~/|/(?=[^\s/])|[A-Za-z]:[\\/])[^\s'\"`<>|,;()\[\]{}]*")


def reference_for(target: str | os.PathLike, artefact_dir: str | os.PathLike) -> str:
    """`target` as the artefact in `artefact_dir` should record it.

    Args:
        target: a path (relative to the working directory, or absolute) or a hub id / name.
        artefact_dir: the folder the reference is written into (it need not exist yet).

    Returns:
        A POSIX path relative to `artefact_dir` when `target` is an existing local path; otherwise
        `target` unchanged (a hub id, or a path that does not exist here).
    """
    path = Path(target).expanduser()
    if not path.exists():
        return str(target)
    return Path(os.path.relpath(path.resolve(), Path(artefact_dir).expanduser().resolve())).as_posix()


def resolve_reference(reference: str, artefact_dir: str | os.PathLike) -> str:
    """A recorded reference made usable from the current working directory.

    Args:
        reference: what the artefact recorded (`reference_for` output, or an older absolute path).
        artefact_dir: the folder of the artefact that recorded it.

    Returns:
        The absolute path when `reference` is relative and exists beside `artefact_dir`; otherwise
        `reference` unchanged (absolute paths, hub ids, names).
    """
    if not reference or Path(reference).is_absolute():
        return reference
    candidate = Path(artefact_dir).expanduser() / reference
    return str(candidate.resolve()) if candidate.exists() else reference


def _split_spec(spec: str) -> tuple[str, str, str] | None:
    kind, sep, arg = spec.partition(":")
    if not sep or kind not in PATH_SPEC_KINDS or not arg:
        return None
    path, options_sep, options = arg.partition(";")
    return kind, path, options_sep + options


def spec_for(spec: str | None, artefact_dir: str | os.PathLike) -> str | None:
    """A translator spec as the artefact in `artefact_dir` should record it (its path made relative).

    Args:
        spec: a `fusionrs.translate.get_translator` spec, or None.
        artefact_dir: the folder the spec is written into.

    Returns:
        The spec with its local path made relative to `artefact_dir` (see `reference_for`); baseline
        names, `builtin:` specs and None unchanged.
    """
    parts = _split_spec(spec) if spec else None
    if parts is None:
        return spec
    kind, path, options = parts
    return f"{kind}:{reference_for(path, artefact_dir)}{options}"


def resolve_spec(spec: str | None, artefact_dir: str | os.PathLike) -> str | None:
    """A recorded translator spec made usable from the current working directory.

    Args:
        spec: the spec the artefact recorded, or None.
        artefact_dir: the folder of the artefact that recorded it.

    Returns:
        The spec with a relative path resolved against `artefact_dir` (see `resolve_reference`).
    """
    parts = _split_spec(spec) if spec else None
    if parts is None:
        return spec
    kind, path, options = parts
    return f"{kind}:{resolve_reference(path, artefact_dir)}{options}"


def display_reference(reference: str | os.PathLike | None) -> str:
    """A model, dataset or translator reference as a user interface may show it: never a local path.

    Args:
        reference: a hub id, a builtin name, a translator spec or a local path (absolute or not).

    Returns:
        Hub ids and names unchanged; a local path (or a spec's path) shortened to its last two
        components (`.../translator/final`), so no user name or machine layout is shown.
    """
    if reference is None:
        return ""
    text = str(reference)
    parts = _split_spec(text)
    if parts is not None:
        kind, path, options = parts
        return f"{kind}:{display_reference(path)}{options}"
    path = Path(text).expanduser()
    if not (path.is_absolute() or path.exists() or text.startswith((".", "~"))):
        return text  # a hub id or a name
    tail = Path(*path.parts[-2:]).as_posix() if len(path.parts) >= 2 else path.name
    return f".../{tail}" if len(path.parts) > 2 else tail


def _local_roots(roots: Iterable[str | os.PathLike]) -> list[str]:
    """Each root as given, absolute and resolved, longest first (so the deepest root wins)."""
    forms: set[str] = set()
    for root in roots:
        if not root:
            continue
        path = Path(root).expanduser()
        for form in (path, path.absolute(), path.resolve()):
            text = str(form).rstrip("/\\")
            if text and text not in ("/", "."):
                forms.add(text)
    return sorted(forms, key=len, reverse=True)


def scrub_local_paths(text: str, roots: Iterable[str | os.PathLike] = ()) -> str:
    """`text` with no absolute local path left: what a published file (card, generation.json) may say.

    A path under one of `roots` becomes its locator relative to that root (`/data/RSICD/images/a.jpg`
    with root `/data/RSICD` -> `images/a.jpg`); a root itself becomes `<source root>`; any other
    absolute path (a link target, a home folder, `/etc/passwd`) keeps only its last component, after
    an ellipsis (`.../passwd`). Relative text (`RGB/IR`, `3/4`, `./a.png`, URLs) is left alone.
    Idempotent.

    Args:
        text: free text, e.g. the reason a record was left out.
        roots: local folders whose paths may appear in `text` (source roots, annotation files).

    Returns:
        The text with relative locators only.
    """
    for root in _local_roots(roots):
        text = re.sub(re.escape(root) + r"[/\\]+", "", text)
        text = re.sub(re.escape(root) + r"(?![\w.\-])", "<source root>", text)

    def shorten(match: re.Match) -> str:
        name = re.split(r"[/\\]", match.group(0).rstrip("/\\"))[-1]
        return "..." + ("/" + name if name and name != "~" else "")

    return LOCAL_PATH.sub(shorten, text)


def scrub_published(value: Any, roots: Iterable[str | os.PathLike] = ()) -> Any:
    """`value` (JSON-like: dicts, lists, strings) with `scrub_local_paths` applied to every string and key.

    Args:
        value: what goes into a published file (generation.json's blocks, the skipped list, a model's notes).
        roots: as in `scrub_local_paths`.

    Returns:
        A scrubbed copy; numbers, booleans and None unchanged.
    """
    roots = list(roots)
    if isinstance(value, str):
        return scrub_local_paths(value, roots)
    if isinstance(value, Mapping):
        return {scrub_published(k, roots) if isinstance(k, str) else k: scrub_published(v, roots)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_published(v, roots) for v in value]
    return value
