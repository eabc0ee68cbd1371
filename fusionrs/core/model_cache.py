"""A bounded, thread-safe model cache: load each model once, share it between pipelines and the Space."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

__all__ = ["ModelCache", "cached_model", "default_cache", "weights_stamp"]


class ModelCache:
    """LRU cache of loaded models keyed by (kind, path, device, dtype, ...).

    Concurrent requests for the same key wait for one load instead of loading twice (models are
    large; a Space with several users would otherwise run out of memory). Loads of different keys
    proceed in parallel.
    """

    def __init__(self, max_items: int = 4):
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}")
        self.max_items = max_items
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[Hashable, threading.Lock] = {}
        self.loads = 0  # how many times a loader actually ran: useful to assert reuse

    def get(self, key: Hashable, loader: Callable[[], Any]) -> Any:
        """Return the cached value for `key`, calling `loader()` once if it is missing."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:  # another thread finished the load while we waited
                    self._items.move_to_end(key)
                    return self._items[key]
            value = loader()
            with self._lock:
                self.loads += 1
                self._items[key] = value
                self._items.move_to_end(key)
                while len(self._items) > self.max_items:
                    self._items.popitem(last=False)
                self._loading.pop(key, None)
            return value

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


default_cache = ModelCache(max_items=4)
"""The process-wide cache that pipelines and the Space share."""


_WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.gguf", "*.onnx")


def weights_stamp(folder: str | os.PathLike) -> tuple:
    """(relative name, mtime in ns) of every weight file under `folder`, sorted.

    A model re-trained in place gets a new stamp, so a cache keyed on it never serves the old weights.

    Args:
        folder: a model folder; a path that is not a folder (e.g. a hub id) gives `()`.

    Returns:
        A hashable tuple, empty when no weight file is found.
    """
    root = Path(folder)
    if not root.is_dir():
        return ()
    files = {p for pattern in _WEIGHT_PATTERNS for p in root.rglob(pattern)}
    return tuple(sorted((p.relative_to(root).as_posix(), p.stat().st_mtime_ns) for p in files))


def cached_model(kind: str, source: str | os.PathLike, loader: Callable[[], Any], *key_parts: Hashable,
                 cache: ModelCache | None = None) -> Any:
    """The one cached model loader: `loader()` runs once per (kind, source, weight mtimes, key_parts).

    Args:
        kind: what is loaded (e.g. "rgb-to-ir", "clip-embedder"); keeps different wrappers of one folder apart.
        source: a local folder (resolved to an absolute path) or a hub id (kept as written).
        loader: builds the model; called at most once per key, even under concurrent requests.
        *key_parts: the rest of what makes two loads different (device, dtype, options).
        cache: the cache to use (default: the process-wide `default_cache`).

    Returns:
        The cached or newly loaded model.
    """
    path = Path(source).expanduser()
    name = str(path.resolve()) if path.exists() else str(source)
    key = (kind, name, weights_stamp(path), *map(str, key_parts))
    return (cache if cache is not None else default_cache).get(key, loader)
