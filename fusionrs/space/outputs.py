"""The image files the Space's events return: one folder per request, each file written atomically.

Why not return PIL images: gradio (6.31, `processing_utils.save_pil_to_cache`) stores a returned image at
`<cache>/<sha256 of its bytes>/image.png` with a plain `write_bytes`. Two requests with the same image
produce the same bytes, hence the same path: while one client downloads the file (the server has already sent
`Content-Length` from `stat`), the other request's `write_bytes` truncates and rewrites it, so the download
ends short (server log: `h11 LocalProtocolError: Too little data for declared Content-Length`; client:
`peer closed connection without sending complete message body`). With 20 identical requests at once, 20-35% of
them failed that way. The events therefore return paths written here: every request gets a folder of its own
(`<time>-<uuid4>`), files are encoded in memory and renamed into place (`fusionrs.core.atomic.atomic_file`),
and gradio serves a path already inside its cache as it is (no copy, no shared name). Gallery scenes, the
same for every search, are written once per process and reused.

Old request folders are pruned after `ttl_s` (default one hour), at most once a minute, and only folders whose
names this module made (`<digits>-<32 hex>` and `gallery-<32 hex>`) directly under its own root; symlinks and
anything else there are left alone. Nothing here imports gradio.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import threading
import time
import uuid
from pathlib import Path

from PIL import Image

from fusionrs.core.atomic import atomic_file

__all__ = ["OUTPUT_TTL_S", "OutputFiles"]

OUTPUT_TTL_S = 3600.0  # a request's files are kept an hour: long enough for any download or page view
PRUNE_EVERY_S = 60.0
_OURS = re.compile(r"^(\d+-[0-9a-f]{32}|gallery-[0-9a-f]{32})$")


class OutputFiles:
    """Unique, atomically written PNG files under one root folder (inside gradio's cache in the Space).

    Args:
        root: the folder to write under (created on first use).
        ttl_s: how long a request's folder is kept before pruning removes it.
        prune_every_s: the least time between two prunes.
    """

    def __init__(self, root: str | os.PathLike, *, ttl_s: float = OUTPUT_TTL_S,
                 prune_every_s: float = PRUNE_EVERY_S):
        self.root = Path(root)
        self.ttl_s = float(ttl_s)
        self.prune_every_s = float(prune_every_s)
        self._gallery_dir = self.root / f"gallery-{uuid.uuid4().hex}"
        self._gallery: dict[tuple, str] = {}
        self._lock = threading.Lock()
        self._last_prune = 0.0

    def request_folder(self) -> Path:
        """A new, empty folder for one request's files (and, at most once a minute, a prune of old ones).

        Returns:
            The folder, `<root>/<unix time>-<uuid4 hex>`; no other request ever writes into it.
        """
        self.prune()
        folder = self.root / f"{int(time.time())}-{uuid.uuid4().hex}"
        folder.mkdir(parents=True, exist_ok=False)
        return folder

    def save(self, image: Image.Image, folder: str | os.PathLike, name: str) -> str:
        """Encode `image` as PNG and write it as `<folder>/<name>.png`, complete or not at all.

        Args:
            image: the image to write (any PIL mode PNG can store, e.g. RGB or L).
            folder: a folder from `request_folder`.
            name: the file stem (letters, digits, `-` and `_`).

        Returns:
            The absolute path of the written PNG, as a string (what a gradio image output accepts).

        Raises:
            ValueError: `name` is not a plain file stem.
        """
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
            raise ValueError(f"output name must be a plain file stem, got {name!r}")
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return self.save_bytes(buffer.getvalue(), folder, f"{name}.png")

    def save_bytes(self, data: bytes, folder: str | os.PathLike, filename: str) -> str:
        """Write `data` as `<folder>/<filename>`, complete or not at all (e.g. a batch's zip).

        Args:
            data: the file's bytes.
            folder: a folder from `request_folder`.
            filename: a plain file name: a stem of letters, digits, `-` and `_`, and an extension.

        Returns:
            The absolute path of the written file, as a string.

        Raises:
            ValueError: `filename` is not a plain file name.
        """
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9]{1,8}", filename):
            raise ValueError(f"output file name must be a plain stem and extension, got {filename!r}")
        path = Path(folder).resolve() / filename
        with atomic_file(path) as tmp:
            tmp.write_bytes(data)
        return str(path)

    def gallery_file(self, key: tuple, image: Image.Image) -> str:
        """The PNG of a gallery scene, written once per process and key and then reused.

        Args:
            key: what identifies the image for this process, e.g. (split, scene id, "rgb" or "ir").
            image: the image to write the first time `key` is asked for.

        Returns:
            The absolute path of the PNG, as a string.
        """
        with self._lock:
            cached = self._gallery.get(key)
        if cached is not None and os.path.isfile(cached):
            return cached
        self._gallery_dir.mkdir(parents=True, exist_ok=True)
        path = self.save(image, self._gallery_dir, f"g{uuid.uuid4().hex}")
        with self._lock:
            if key in self._gallery and os.path.isfile(self._gallery[key]):  # a concurrent call won: use its file
                Path(path).unlink(missing_ok=True)
                return self._gallery[key]
            self._gallery[key] = path
        return path

    def prune(self, *, now: float | None = None, force: bool = False) -> list[Path]:
        """Remove request folders (and other processes' gallery folders) older than `ttl_s`.

        Only folders directly under the root whose names this class made are considered; symlinks,
        files and other names are never touched, nor this instance's own gallery folder.

        Args:
            now: the current time (seconds since the epoch); None reads the clock.
            force: prune even when the last prune was less than `prune_every_s` ago.

        Returns:
            The folders removed.
        """
        now = time.time() if now is None else now
        with self._lock:
            if not force and now - self._last_prune < self.prune_every_s:
                return []
            self._last_prune = now
        removed = []
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            return removed
        for entry in entries:
            if not _OURS.match(entry.name) or entry.path == str(self._gallery_dir):
                continue
            try:
                if not entry.is_dir(follow_symlinks=False) or now - entry.stat(follow_symlinks=False).st_mtime < self.ttl_s:
                    continue
            except OSError:
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
        return removed
