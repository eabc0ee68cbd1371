"""A fake Hugging Face hub: a real HTTP server on 127.0.0.1 with the subset of the hub API that
huggingface_hub (2.x) needs for `create_repo`, `upload_folder`/`create_commit`, `hf_hub_download`,
`snapshot_download` and `HfFileSystem` (which `datasets.load_dataset("org/name")` uses).

Why a server and not mocks: the push/pull path is mostly other people's code (huggingface_hub,
datasets, transformers, diffusers); only a real HTTP exchange shows that it works end to end.
Clients must set `HF_ENDPOINT=http://127.0.0.1:PORT`, `HF_TOKEN=hf_fake` and `HF_HUB_DISABLE_XET=1`
before importing HF libraries (xet uploads go to a separate CAS service this server does not fake).

Simplifications, on purpose: one branch (`main`); any known commit id resolves to the current
tree (no history of file contents); every file is uploaded inline ("regular" upload mode, base64 in
the commit's ndjson), so no LFS/xet endpoints; no auth beyond requiring a bearer token on writes.
Stdlib only: the server runs in the test process without importing any HF library.

    with FakeHub(tmp_path) as hub:
        env = {"HF_ENDPOINT": hub.endpoint, ...}
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["FakeHub"]

_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


def git_blob_sha1(data: bytes) -> str:
    """The id git (and the hub) gives a regular file; huggingface_hub compares it to skip unchanged files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class _Repo:
    """One repository on disk: `tree/` holds the files of `main`, `meta.json` its metadata."""

    def __init__(self, root: Path, repo_type: str, repo_id: str):
        self.dir = root / f"{repo_type}s" / repo_id
        self.tree = self.dir / "tree"
        self.repo_type, self.repo_id = repo_type, repo_id

    @property
    def exists(self) -> bool:
        return (self.dir / "meta.json").is_file()

    def meta(self) -> dict[str, Any]:
        return json.loads((self.dir / "meta.json").read_text())

    def save_meta(self, meta: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "meta.json").write_text(json.dumps(meta))

    def files(self) -> list[str]:
        return sorted(p.relative_to(self.tree).as_posix() for p in self.tree.rglob("*") if p.is_file())

    def entry(self, path: str) -> dict[str, Any] | None:
        """A tree entry as the hub's /tree and /paths-info endpoints return it."""
        target = self.tree / path
        if target.is_file():
            return {"type": "file", "path": path, "size": target.stat().st_size, "oid": git_blob_sha1(target.read_bytes())}
        if target.is_dir():
            return {"type": "directory", "path": path, "size": 0,
                    "oid": hashlib.sha1(path.encode()).hexdigest()}
        return None


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        self.server.log.append(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}")

    # --- plumbing -------------------------------------------------------------------------------
    def _body(self) -> bytes:
        # read once, always: an unread body would be parsed as the next request on a kept-alive connection
        if not hasattr(self, "_raw_body"):
            length = int(self.headers.get("Content-Length") or 0)
            self._raw_body = self.rfile.read(length) if length else b""
        return self._raw_body

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(value).encode(), headers)

    def _error(self, status: int, code: str | None, message: str) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._json({"error": message}, status, headers)

    def _repo(self, repo_type: str, repo_id: str, revision: str | None = None) -> _Repo | None:
        """The repository, or None after answering 404 (unknown repo or revision)."""
        repo = _Repo(self.server.root, repo_type, repo_id)
        if not repo.exists:
            self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
            return None
        if revision is not None:
            meta = repo.meta()
            if revision not in ("main", meta["sha"]) and revision not in meta["commits"]:
                self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                return None
        return repo

    def _authorised(self) -> bool:
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            self._error(401, None, "Invalid credentials in Authorization header")
            return False
        return True

    # --- routing --------------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self._route("HEAD")

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        query = parse_qs(url.query)
        self.__dict__.pop("_raw_body", None)
        self._body()
        try:
            with self.server.lock:
                self._dispatch(method, parts, query)
        except Exception as exc:  # a bug in the fake must show up in the client's error, not hang it
            self._error(500, None, f"fake hub error: {exc!r}")

    def _dispatch(self, method: str, parts: list[str], query: dict[str, list[str]]) -> None:
        if parts[:1] == ["api"]:
            return self._api(method, parts[1:], query)
        # /{repo}/resolve/{rev}/{path}, /datasets/{repo}/resolve/..., /spaces/{repo}/resolve/...
        repo_type = "model"
        if parts and parts[0] in ("datasets", "spaces"):
            repo_type, parts = _TYPES[parts[0]], parts[1:]
        if len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
            return self._resolve(repo_type, "/".join(parts[:2]), parts[3], "/".join(parts[4:]))
        self._error(404, None, f"fake hub: no route for {method} {self.path}")

    def _api(self, method: str, parts: list[str], query: dict[str, list[str]]) -> None:
        if parts == ["whoami-v2"]:
            return self._json({"type": "user", "name": "fake", "fullname": "Fake User", "orgs": [],
                               "auth": {"type": "access_token", "accessToken": {"role": "write"}}})
        if parts == ["validate-yaml"] and method == "POST":
            return self._json({"errors": [], "warnings": []})
        if parts == ["repos", "create"] and method == "POST":
            return self._create_repo(json.loads(self._body() or b"{}"))
        if len(parts) < 3 or parts[0] not in _TYPES:
            return self._error(404, None, f"fake hub: no route for {method} {self.path}")
        repo_type, repo_id, rest = _TYPES[parts[0]], "/".join(parts[1:3]), parts[3:]
        if not rest and method in ("GET", "HEAD"):
            return self._info(repo_type, repo_id, "main")
        action, revision, tail = rest[0], (rest[1] if len(rest) > 1 else "main"), "/".join(rest[2:])
        if action == "revision" and method == "GET":
            return self._info(repo_type, repo_id, revision)
        if action == "tree" and method == "GET":
            return self._tree(repo_type, repo_id, revision, tail, query.get("recursive", ["False"])[0].lower() == "true")
        if action == "paths-info" and method == "POST":
            form = parse_qs(self._body().decode())
            return self._paths_info(repo_type, repo_id, revision, form.get("paths", []))
        if action == "preupload" and method == "POST":
            return self._preupload(repo_type, repo_id, revision, json.loads(self._body() or b"{}"))
        if action == "commit" and method == "POST":
            return self._commit(repo_type, repo_id, revision, self._body())
        self._error(404, None, f"fake hub: no route for {method} {self.path}")

    # --- endpoints ------------------------------------------------------------------------------
    def _create_repo(self, payload: dict[str, Any]) -> None:
        if not self._authorised():
            return
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or 'fake'}/{payload['name']}"
        repo = _Repo(self.server.root, repo_type, repo_id)
        url = f"{self.server.endpoint}/{_PREFIX[repo_type]}{repo_id}"
        if repo.exists:
            # the real hub's 409 carries the url too: create_repo(exist_ok=True) returns it
            return self._json({"error": "You already created this repo", "url": url}, 409)
        if repo_type == "space" and not payload.get("sdk"):
            return self._error(400, None, "a Space needs an sdk")
        sha = hashlib.sha1(f"init {repo_type} {repo_id} {time.time_ns()}".encode()).hexdigest()
        repo.tree.mkdir(parents=True, exist_ok=True)
        repo.save_meta({"sha": sha, "commits": [sha], "private": payload.get("visibility") == "private",
                        "sdk": payload.get("sdk"), "created": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())})
        self._json({"url": url, "name": repo_id, "id": repo_id})

    def _info(self, repo_type: str, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_type, repo_id, revision)
        if repo is None:
            return
        meta = repo.meta()
        info = {
            "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24], "id": repo_id, "author": repo_id.split("/")[0],
            "sha": meta["sha"], "private": meta["private"], "disabled": False, "gated": False,
            "lastModified": meta["created"], "createdAt": meta["created"], "tags": [], "downloads": 0, "likes": 0,
            "siblings": [{"rfilename": f} for f in repo.files()],
        }
        if repo_type == "model":
            info["modelId"] = repo_id
        if repo_type == "space":
            info["sdk"] = meta["sdk"]
        self._json(info)

    def _tree(self, repo_type: str, repo_id: str, revision: str, path: str, recursive: bool) -> None:
        repo = self._repo(repo_type, repo_id, revision)
        if repo is None:
            return
        base = repo.tree / path
        if not base.is_dir():
            return self._error(404, "EntryNotFound", f"{path} does not exist on {revision}")
        children = base.rglob("*") if recursive else base.iterdir()
        entries = [repo.entry(p.relative_to(repo.tree).as_posix()) for p in sorted(children)]
        self._json([e for e in entries if e is not None])

    def _paths_info(self, repo_type: str, repo_id: str, revision: str, paths: list[str]) -> None:
        repo = self._repo(repo_type, repo_id, revision)
        if repo is None:
            return
        entries = [repo.entry(p.strip("/")) for p in paths]
        self._json([e for e in entries if e is not None])

    def _preupload(self, repo_type: str, repo_id: str, revision: str, payload: dict[str, Any]) -> None:
        repo = self._repo(repo_type, repo_id, revision)
        if repo is None or not self._authorised():
            return
        files = []
        for item in payload.get("files", []):
            existing = repo.entry(item["path"])
            files.append({"path": item["path"], "uploadMode": "regular", "shouldIgnore": False,
                          "oid": existing["oid"] if existing and existing["type"] == "file" else None})
        self._json({"files": files, "commitOid": repo.meta()["sha"]})

    def _commit(self, repo_type: str, repo_id: str, revision: str, body: bytes) -> None:
        repo = self._repo(repo_type, repo_id, revision)
        if repo is None or not self._authorised():
            return
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        for item in lines:
            key, value = item["key"], item["value"]
            if key == "lfsFile":  # never asked for: preupload answers "regular" for every file
                return self._error(400, None, f"fake hub: LFS upload of {value['path']} not supported")
            if key == "file":
                target = repo.tree / value["path"]
                if ".." in Path(value["path"]).parts:
                    return self._error(400, None, f"bad path {value['path']}")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(base64.b64decode(value["content"]))
            elif key in ("deletedFile", "deletedFolder"):
                target = repo.tree / value["path"]
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
        meta = repo.meta()
        sha = hashlib.sha1(meta["sha"].encode() + body).hexdigest()
        meta["sha"] = sha
        meta["commits"].append(sha)
        repo.save_meta(meta)
        self.server.commits.append((repo_type, repo_id, [i["value"].get("path") for i in lines if i["key"] != "header"]))
        url = f"{self.server.endpoint}/{_PREFIX[repo_type]}{repo_id}/commit/{sha}"
        self._json({"commitUrl": url, "commitOid": sha, "pullRequestUrl": None, "success": True})

    def _resolve(self, repo_type: str, repo_id: str, revision: str, path: str) -> None:
        repo = self._repo(repo_type, repo_id, revision)
        if repo is None:
            return
        target = repo.tree / path
        if not target.is_file():
            return self._error(404, "EntryNotFound", f"{path} does not exist on {revision}")
        data = target.read_bytes()
        headers = {"ETag": f'"{git_blob_sha1(data)}"', "X-Repo-Commit": repo.meta()["sha"], "Accept-Ranges": "bytes"}
        content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        byte_range = self.headers.get("Range")
        if byte_range and byte_range.startswith("bytes=") and self.command == "GET":
            start_text, _, end_text = byte_range[6:].partition("-")
            start = int(start_text) if start_text else max(len(data) - int(end_text), 0)
            end = min(int(end_text), len(data) - 1) if (end_text and start_text) else len(data) - 1
            if start >= len(data):
                return self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return self._send(206, data[start:end + 1], headers, content_type)
        if self.command == "HEAD":
            # HEAD carries the real Content-Length with no body (send_response would count 0 otherwise)
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return
        self._send(200, data, headers, content_type)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.endpoint = f"http://127.0.0.1:{self.server_address[1]}"
        # One request at a time: commits rewrite files that concurrent downloads may be reading.
        self.lock = threading.RLock()
        self.log: list[str] = []
        self.commits: list[tuple[str, str, list[str]]] = []


class FakeHub:
    """Start/stop the fake hub; repositories live under `root` (a temporary folder of the test)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._server = _Server(self.root)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True)

    @property
    def endpoint(self) -> str:
        return self._server.endpoint

    @property
    def log(self) -> list[str]:
        """'METHOD /path -> status' per request, for test failure messages."""
        return self._server.log

    @property
    def commits(self) -> list[tuple[str, str, list[str]]]:
        """(repo_type, repo_id, paths) per commit received."""
        return self._server.commits

    def repo_files(self, repo_id: str, repo_type: str = "model") -> list[str]:
        return _Repo(self.root, repo_type, repo_id).files()

    def start(self) -> "FakeHub":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeHub":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":  # `python tests/fake_hub.py DIR`: a fake hub to try `fusionrs push` by hand
    import sys

    hub = FakeHub(sys.argv[1] if len(sys.argv) > 1 else "runs/fake_hub").start()
    print(f"HF_ENDPOINT={hub.endpoint} HF_TOKEN=hf_fake HF_HUB_DISABLE_XET=1", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        hub.stop()
