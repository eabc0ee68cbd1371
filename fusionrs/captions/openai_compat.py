"""An OpenAI-compatible chat-completions client for captioning at scale (vLLM, TGI, llama.cpp, ...).

- Images go as PNG data URLs (`mode="image"`), or the measured IR summary goes as text for
  text-only servers (`mode="text"`), or both.
- Bounded concurrency (a thread pool of `concurrency` workers), a per-request timeout, retries with
  exponential backoff on 429, 5xx, timeouts and dropped connections (honouring `Retry-After`, capped).
- Replies that carry no parseable `{"ir_aware_caption": ...}` are asked again (`parse_retries`,
  with a different seed) before they count as `unparseable_reply`.
- Every successful reply is stored in a SQLite cache keyed by (model, prompt version, messages incl.
  the image bytes, decoding parameters, attempt): a resumed or repeated build never pays twice.

Only the standard library is used (urllib, sqlite3, concurrent.futures).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import random
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image

from fusionrs.captions.base import CaptionResult
from fusionrs.captions.filter import CaptionFilter
from fusionrs.captions.measure import measure_ir
from fusionrs.captions.prompt import PROMPT_VERSION, build_messages, extract_caption
from fusionrs.errors import FusionRSError

__all__ = ["OpenAICaptioner", "ReplyCache", "parse_openai_spec"]

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


def parse_openai_spec(spec: str) -> tuple[str, str]:
    """`openai:URL:MODEL` -> (base URL, model). The model is what follows the last ':' after the URL's
    path; a model with ':' in its name (ollama tags) needs a URL ending in `/v1`.

    Args:
        spec: `openai:URL:MODEL`, or the same without the `openai:` prefix.

    Returns:
        A `(url, model)` tuple: the base URL without a trailing '/', and the model name.

    Raises:
        ValueError: the URL does not start with `http://` or `https://`, or the model is empty.
    """
    body = spec[len("openai:"):] if spec.startswith("openai:") else spec
    if "/v1:" in body:
        url, model = body.split("/v1:", 1)
        url += "/v1"
    else:
        url, _, model = body.rpartition(":")
    if not url.startswith(("http://", "https://")) or not model:
        raise ValueError(f"expected openai:URL:MODEL (e.g. openai:http://127.0.0.1:8000/v1:Qwen/Qwen2.5-VL-7B-Instruct), got {spec!r}")
    return url.rstrip("/"), model


class ReplyCache:
    """A thread-safe SQLite key -> reply store (one file, safe to copy, survives crashes)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL, created REAL)")
        self._db.commit()

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, reply: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?, ?)", (key, reply, time.time()))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _RequestFailed(Exception):
    pass


def _png_data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.convert("L").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


class OpenAICaptioner:
    """`openai:URL:MODEL`: caption through an OpenAI-compatible server."""

    def __init__(self, url: str, model: str, *, mode: str = "image", cache_dir: str | Path | None = None,
                 concurrency: int = 8, timeout: float = 60.0, retries: int = 4, backoff: float = 0.5,
                 max_backoff: float = 30.0, parse_retries: int = 1, temperature: float = 0.2, max_tokens: int = 160,
                 seed: int = 0, api_key: str | None = None, caption_filter: CaptionFilter | None = None):
        if mode not in ("image", "text", "both"):
            raise ValueError(f"mode must be 'image', 'text' or 'both', got {mode!r}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.url, self.model, self.mode = url.rstrip("/"), model, mode
        self.concurrency, self.timeout = concurrency, timeout
        self.retries, self.backoff, self.max_backoff, self.parse_retries = retries, backoff, max_backoff, parse_retries
        self.temperature, self.max_tokens, self.seed = temperature, max_tokens, seed
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        if cache_dir is None:
            from fusionrs.core.paths import cache_dir as default_cache_dir

            cache_dir = default_cache_dir() / "captions"
        self.cache = ReplyCache(Path(cache_dir) / "openai_replies.sqlite")
        self.filter = caption_filter or CaptionFilter()
        self.batch_size = 4 * concurrency
        self.name = f"openai:{self.url}:{model}"
        self.params: dict[str, Any] = {"model": model, "mode": mode, "prompt_version": PROMPT_VERSION,
                                       "temperature": temperature, "max_tokens": max_tokens, "seed": seed,
                                       "parse_retries": parse_retries}
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()

    # ------------------------------------------------------------------ HTTP
    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += n

    def _post(self, payload: dict[str, Any]) -> str:
        """One chat completion with retries; the reply's message content."""
        data = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.retries + 1):
            wait = min(self.max_backoff, self.backoff * 2 ** attempt) * (0.5 + random.random() / 2)
            request = urllib.request.Request(f"{self.url}/chat/completions", data=data, headers=headers, method="POST")
            self._count("http_requests")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    body = json.loads(response.read().decode("utf-8"))
                content = body["choices"][0]["message"]["content"]
                if isinstance(content, list):  # some servers return content parts
                    content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
                return str(content or "")
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
                if exc.code not in _RETRY_STATUS:
                    raise _RequestFailed(f"{last}: {exc.read()[:200].decode('utf-8', 'replace')}") from None
                self._count(f"http_{exc.code}")
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
                if retry_after:
                    try:
                        wait = min(self.max_backoff, float(retry_after))
                    except ValueError:
                        pass
            except (TimeoutError, socket.timeout) as exc:
                last = f"timeout after {self.timeout:g}s"
                self._count("timeouts")
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                    last = f"timeout after {self.timeout:g}s"
                    self._count("timeouts")
                else:
                    last = f"connection error: {exc.reason}"
                    self._count("connection_errors")
            except (ConnectionError, http_client_errors()) as exc:
                last = f"connection error: {exc}"
                self._count("connection_errors")
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                last = f"malformed response body: {exc}"
                self._count("malformed_bodies")
            if attempt < self.retries:
                self._count("retries")
                time.sleep(wait)
        raise _RequestFailed(f"gave up after {self.retries + 1} attempts ({last})")

    # ------------------------------------------------------------------ one item
    def _messages(self, image: Image.Image, captions: Sequence[str]) -> list[dict[str, Any]]:
        summary = measure_ir(image).summary() if self.mode in ("text", "both") else None
        url = _png_data_url(image) if self.mode in ("image", "both") else None
        return build_messages(list(captions), summary=summary, image_url=url)

    def _key(self, messages: list[dict[str, Any]], attempt: int) -> str:
        blob = json.dumps({"model": self.model, "prompt": PROMPT_VERSION, "messages": messages, "t": self.temperature,
                           "max_tokens": self.max_tokens, "seed": self.seed, "attempt": attempt}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def reply_for(self, image: Image.Image, captions: Sequence[str]) -> tuple[str | None, str | None, str]:
        """(raw reply, parsed caption, error) for one record, from the cache when possible."""
        messages = self._messages(image, captions)
        raw = None
        for attempt in range(self.parse_retries + 1):
            key = self._key(messages, attempt)
            raw = self.cache.get(key)
            if raw is not None:
                self._count("cache_hits")
            else:
                payload = {"model": self.model, "messages": messages, "temperature": self.temperature,
                           "max_tokens": self.max_tokens, "seed": self.seed + attempt}
                try:
                    raw = self._post(payload)
                except _RequestFailed as exc:
                    self._count("failed_items")
                    return None, None, str(exc)
                self.cache.put(key, raw)
            parsed = extract_caption(raw)
            if parsed is not None:
                return raw, parsed, ""
            if attempt < self.parse_retries:
                self._count("parse_retries")
        return raw, None, ""

    def caption(self, ir_images: Sequence[Image.Image], captions: Sequence[list[str]]) -> list[CaptionResult | None]:
        items = list(zip(ir_images, captions))
        with ThreadPoolExecutor(max_workers=min(self.concurrency, max(1, len(items)))) as pool:
            replies = list(pool.map(lambda item: self.reply_for(*item), items))
        results: list[CaptionResult | None] = []
        for (raw, parsed, error), caps in zip(replies, captions):
            if error:
                results.append(CaptionResult(None, "backend_error"))
                self.filter.note_backend_error()
            elif parsed is None:
                results.append(CaptionResult(None, "unparseable_reply"))
                self.filter.note_unparsed()
            else:
                results.append(self.filter.check_result(parsed, caps))
        return results


def http_client_errors() -> type[Exception]:
    import http.client

    return http.client.HTTPException
