"""A stand-in for the Hugging Face Hub on 127.0.0.1, for tests that point HF_ENDPOINT at it.

It answers the requests huggingface_hub makes (read off its ``file_download``,
``_snapshot_download`` and ``hf_api`` modules) with the headers it checks:

- ``HEAD``/``GET /{repo}/resolve/{revision}/{filename}``: the file, with ``X-Repo-Commit``,
  ``ETag`` and ``Content-Length``;
- ``GET /api/models/{repo}/revision/{revision}``: the commit (``sha``) a revision names;
- ``GET /api/models/{repo}/tree/{revision}``: the file listing ``snapshot_download`` filters.

Errors carry the ``X-Error-Code`` header by which huggingface_hub tells them apart: an unknown
repo (404 ``RepoNotFound``), a gated repo without a token (401) or with the wrong one (403,
both ``GatedRepo``), an unknown revision (404 ``RevisionNotFound``) and a missing file (404
``EntryNotFound``). A repo marked ``portal`` answers 200 without the Hub's headers, as a captive
portal or a misconfigured proxy would. Every request is recorded in ``requests``.

The server binds to loopback only, serves from daemon threads, and shuts itself down after
``lifetime`` seconds even if a test never stops it; start one per test.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


@dataclass
class Repo:
    commits: dict[str, dict[str, bytes]]  # commit sha -> {filename: content}
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> commit sha
    token: str | None = None  # set: gated, readable only with this bearer token
    portal: bool = False  # set: answers like a captive portal, not like the Hub

    def commit(self, revision: str) -> str | None:
        return self.refs.get(revision) or (revision if revision in self.commits else None)


class FakeHub:
    def __init__(self, repos: dict[str, Repo], lifetime: float = 300.0):
        self.repos = repos
        self.requests: list[tuple[str, str]] = []  # (method, path) in arrival order
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._deadline = threading.Timer(lifetime, self._stop)
        self._deadline.daemon = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def files_downloaded(self, repo: str) -> list[str]:
        """The names of the files of ``repo`` fetched (GET) through /resolve/, in order; HEAD
        requests, which huggingface_hub makes for a file's metadata, are left out."""
        prefix = f"/{repo}/resolve/"
        return [unquote(p[len(prefix):]).split("/", 1)[1] for m, p in self.requests if m == "GET" and p.startswith(prefix)]

    def __enter__(self) -> FakeHub:
        self._thread.start()
        self._deadline.start()
        return self

    def __exit__(self, *exc) -> None:
        self._deadline.cancel()
        self._stop()
        self._thread.join(timeout=10)

    def _stop(self) -> None:
        # Closing the socket too makes a late client fail at once instead of waiting in the backlog.
        self._server.shutdown()
        self._server.server_close()


def _etag(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # a stuck client cannot hold a thread for long

        def log_message(self, *args) -> None:  # quiet: pytest shows failures, not access logs
            pass

        def do_HEAD(self) -> None:
            self._serve(send_body=False)

        def do_GET(self) -> None:
            self._serve(send_body=True)

        def _serve(self, send_body: bool) -> None:
            hub.requests.append((self.command, self.path))
            parts = urlsplit(self.path).path.split("/")  # split before unquoting: a revision may hold %2F
            if parts[1:3] == ["api", "models"] and len(parts) >= 7:
                self._api(f"{parts[3]}/{parts[4]}", parts[5], unquote(parts[6]))
            elif len(parts) >= 6 and parts[3] == "resolve":
                self._resolve(f"{parts[1]}/{parts[2]}", unquote(parts[4]), unquote("/".join(parts[5:])), send_body)
            else:
                self._reply(404, b"not found", {}, send_body)

        def _repo_and_commit(self, repo_id: str, revision: str, send_body: bool) -> tuple[Repo, str] | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._reply(404, b"", {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"}, send_body)
                return None
            if repo.token is not None and self.headers.get("Authorization") != f"Bearer {repo.token}":
                status = 403 if self.headers.get("Authorization") else 401
                message = f"Access to model {repo_id} is restricted. You must have access to it and be authenticated."
                self._reply(status, b"", {"X-Error-Code": "GatedRepo", "X-Error-Message": message}, send_body)
                return None
            commit = repo.commit(revision)
            if commit is None:
                self._reply(404, b"", {"X-Error-Code": "RevisionNotFound", "X-Error-Message": "Invalid rev id"}, send_body)
                return None
            return repo, commit

        def _resolve(self, repo_id: str, revision: str, filename: str, send_body: bool) -> None:
            found = self._repo_and_commit(repo_id, revision, send_body)
            if found is None:
                return
            repo, commit = found
            if repo.portal:
                self._reply(200, b"<html>sign in to the network</html>", {"Content-Type": "text/html"}, send_body)
                return
            content = repo.commits[commit].get(filename)
            if content is None:
                headers = {"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found", "X-Repo-Commit": commit}
                self._reply(404, b"", headers, send_body)
                return
            headers = {"X-Repo-Commit": commit, "ETag": f'"{_etag(content)}"', "Content-Type": "application/octet-stream"}
            self._reply(200, content, headers, send_body)

        def _api(self, repo_id: str, kind: str, revision: str) -> None:
            found = self._repo_and_commit(repo_id, revision, send_body=True)
            if found is None:
                return
            repo, commit = found
            files = repo.commits[commit]
            if kind == "revision":
                body = {"id": repo_id, "sha": commit, "siblings": [{"rfilename": name} for name in files]}
            elif kind == "tree":
                body = [{"type": "file", "path": name, "size": len(data), "oid": _etag(data)[:40]}
                        for name, data in files.items()]  # fmt: skip
            else:
                self._reply(404, b"not found", {}, send_body=True)
                return
            self._reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"}, send_body=True)

        def _reply(self, status: int, body: bytes, headers: dict[str, str], send_body: bool) -> None:
            self.send_response(status)
            for key, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(key, value)
            self.end_headers()
            if send_body:
                self.wfile.write(body)

    return Handler
