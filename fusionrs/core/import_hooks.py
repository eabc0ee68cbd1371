"""Run a callback when a module finishes importing, without importing it now.

`import fusionrs` must stay free of torch, transformers and datasets (the CLI's `--help` and every
bad-argument path are timed), yet `datasets.load_dataset("fusionrs")` and
`transformers.pipeline("rgb-ir-captioning")` must work right after it. A one-shot meta-path finder
wraps the target module's loader and calls the callback once the module has executed; if the module
is already imported, the callback runs at once.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Callable

__all__ = ["when_imported"]


class _Loader(importlib.abc.Loader):
    """Runs the real loader, then the callbacks."""

    def __init__(self, inner: importlib.abc.Loader, callbacks: list[Callable[[], None]]) -> None:
        self.inner = inner
        self.callbacks = callbacks

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module) -> None:
        self.inner.exec_module(module)
        for callback in self.callbacks:
            callback()


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, target: str) -> None:
        self.target = target
        self.callbacks: list[Callable[[], None]] = []

    def find_spec(self, fullname, path, target=None):
        if fullname != self.target:
            return None
        sys.meta_path.remove(self)  # one shot; also keeps the find_spec below from recursing here
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader, self.callbacks)
        return spec


def when_imported(module_name: str, callback: Callable[[], None]) -> None:
    """Call `callback()` once `module_name` has been imported (now, if it already is).

    Args:
        module_name: the full dotted name of the module to wait for.
        callback: a function without arguments; it runs at most once per registration.

    Returns:
        None. Registering the same callback twice for a pending module is a no-op.
    """
    if module_name in sys.modules:
        callback()
        return
    for finder in sys.meta_path:
        if isinstance(finder, _Finder) and finder.target == module_name:
            if callback not in finder.callbacks:
                finder.callbacks.append(callback)
            return
    finder = _Finder(module_name)
    finder.callbacks.append(callback)
    sys.meta_path.insert(0, finder)
