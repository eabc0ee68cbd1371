"""A bounded, thread-safe model cache: load each model once, share it between pipelines and the Space."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["ModelCache", "default_cache"]


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
