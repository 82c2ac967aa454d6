"""The aiohttp application behind the Hub simulator: routing, auth, redirects, recording.

One catch-all route parses paths itself because repo ids have one or two segments,
revisions arrive URL-quoted (``refs%2Fpr%2F1``) and file paths contain slashes.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Literal, TypeAlias
from urllib.parse import quote, unquote

from aiohttp import web
from aiohttp.typedefs import Handler

from .faults import Fault, FaultPlan, FaultStage, Latency, Status
from .http_body import send_file_body
from .hub_api import model_info, tree_listing
from .hub_store import Commit, RepoStore, StoredFile
from .recording import Exchange, RequestLog

__all__ = ["ApiOptions", "Mode", "SimState", "build_app"]

Mode: TypeAlias = Literal["hub", "mirror", "opaque"]

_EXCHANGE = web.RequestKey("hub_simulator_exchange", Exchange)
_RESOLVE_CACHE = ("api", "resolve-cache", "models")


@dataclass
class ApiOptions:
    """How ``/api/models`` answers (mutable; tests change it while the server runs).

    ``enabled=False``: a mirror without the API (plain 404s). ``sizes=False``: the
    ``/revision/`` answer has only ``rfilename`` even with ``?blobs=true`` (a mirror
    that ignores it), so clients must page through the tree. ``tree_page_size``: tree
    entries per page, linked by ``Link: <...>; rel="next"`` as the Hub does (1,000).
    ``siblings`` / ``tree``: raw JSON served instead of the real listing (hostile
    answers).
    """

    enabled: bool = True
    sizes: bool = True
    tree_page_size: int = 1000
    siblings: list[object] | None = None
    tree: list[object] | None = None


@dataclass
class SimState:
    """Everything the handlers share with the public ``HubSimulator`` object."""

    store: RepoStore
    mode: Mode
    relative_redirect: bool
    faults: FaultPlan = field(default_factory=FaultPlan)
    log: RequestLog = field(default_factory=RequestLog)
    tokens: set[str] = field(default_factory=set)
    latency: float = 0.0
    cdn_endpoint: str = ""
    cdn_address: tuple[str, int] = ("", -1)
    """The CDN socket's (address, port); the port alone can equal the hub's on 127.0.0.2."""
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    api: ApiOptions = field(default_factory=ApiOptions)


def build_app(state: SimState) -> web.Application:
    routes = _Routes(state)
    app = web.Application(middlewares=[routes.record])
    app.router.add_route("*", "/{tail:.*}", routes.dispatch)
    app.on_response_prepare.append(_add_request_id)
    return app


async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    exchange = request.get(_EXCHANGE)
    if exchange is not None:
        response.headers["X-Request-Id"] = exchange.request_id


def _segments(raw_path: str) -> list[str]:
    """Still-quoted path segments, so ``%2F`` inside a revision stays one segment."""
    return [s for s in raw_path.split("/") if s]


class _Routes:
    def __init__(self, state: SimState) -> None:
        self._s = state

    @web.middleware
    async def record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Log every request on arrival; its entry is complete before the answer leaves."""
        auth = request.headers.get("Authorization")
        scheme, _, token = (auth or "").partition(" ")
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        address: tuple[str, int] = (sock[0], sock[1]) if sock else ("", 0)
        exchange = Exchange(
            request_id=f"sim-{next(self._s.ids):06d}",
            listener="cdn" if address == self._s.cdn_address else "hub",
            method=request.method,
            path=request.rel_url.raw_path,
            host=request.url.host or "",
            port=address[1],
            range=request.headers.get("Range"),
            if_range=request.headers.get("If-Range"),
            authorized=auth is not None,
            token_valid=scheme.lower() == "bearer" and token.strip() in self._s.tokens,
        )
        request[_EXCHANGE] = exchange
        self._s.log.append(exchange)
        try:
            if self._s.latency > 0:
                await asyncio.sleep(self._s.latency)
            response = await handler(request)
        except BaseException:
            exchange.status = exchange.status or 500
            raise
        if isinstance(response, web.Response) and request.method != "HEAD":
            body = response.body
            if not exchange.bytes_sent and isinstance(body, (bytes, bytearray)):
                exchange.bytes_sent = len(body)  # aiohttp writes it after we return
        exchange.status = exchange.status or response.status
        return response

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        exchange = request[_EXCHANGE]
        segs = _segments(request.rel_url.raw_path)
        if exchange.listener == "cdn":
            return await self._cdn(request, exchange, segs)
        if tuple(segs[:3]) == _RESOLVE_CACHE:
            return await self._resolve_cache(request, exchange, segs[3:])
        if segs[:2] == ["api", "models"]:
            return self._api(request, exchange, segs[2:])
        split = self._split_repo(segs, "resolve")
        if split is None or len(split[1]) < 2:
            return _error(exchange, 404, None, "Not Found")
        repo_id, rest = split
        if request.method not in ("GET", "HEAD"):
            return _error(exchange, 405, None, "Method Not Allowed")
        revision, path = unquote(rest[0]), "/".join(unquote(s) for s in rest[1:])
        return await self._file(request, exchange, repo_id, revision, path, cached=False)

    def _split_repo(self, segs: list[str], marker: str) -> tuple[str, list[str]] | None:
        """``repo_id`` is one or two segments before ``marker``; prefer one that exists."""
        cuts = [n for n in (2, 1) if len(segs) > n and segs[n] == marker]
        for n in cuts:
            repo_id = "/".join(unquote(s) for s in segs[:n])
            if n == cuts[-1] or self._s.store.has_repo(repo_id):
                return repo_id, segs[n + 1 :]
        return None

    async def _resolve_cache(
        self, request: web.Request, exchange: Exchange, segs: list[str]
    ) -> web.StreamResponse:
        """``/api/resolve-cache/models/{repo_id}/{commit}/{path}``: target of relative redirects."""
        for n in (2, 1):
            if len(segs) > n + 1 and len(segs[n]) == 40:
                repo_id = "/".join(unquote(s) for s in segs[:n])
                path = "/".join(unquote(s) for s in segs[n + 1 :])
                return await self._file(request, exchange, repo_id, segs[n], path, cached=True)
        return _error(exchange, 404, None, "Not Found")

    def _access(
        self, exchange: Exchange, repo_id: str, revision: str, *, gated_ok: bool = False
    ) -> Commit | web.Response:
        repo, commit = self._s.store.resolve(repo_id, revision)
        if repo is None or (repo.private and not exchange.token_valid):
            return _error(exchange, 401, "RepoNotFound", "Repository not found")
        if repo.gated and not exchange.token_valid and not gated_ok:
            msg = "Access to this gated repo is restricted; authenticate to access it."
            return _error(exchange, 403, "GatedRepo", msg)
        if commit is None:
            return _error(exchange, 404, "RevisionNotFound", "Invalid rev id: " + revision)
        return commit

    async def _file(
        self,
        request: web.Request,
        exchange: Exchange,
        repo_id: str,
        revision: str,
        path: str,
        *,
        cached: bool,
    ) -> web.StreamResponse:
        exchange.repo_id, exchange.file = repo_id, path
        commit = self._access(exchange, repo_id, revision)
        if isinstance(commit, web.Response):
            return commit
        stored = commit.files.get(path)
        head = {"X-Repo-Commit": commit.sha}
        if stored is None:
            return _error(exchange, 404, "EntryNotFound", "Entry not found", head)
        redirect = self._redirect(repo_id, commit, stored, cached=cached)
        body = request.method == "GET" and redirect is None
        fault = await self._take_fault(exchange, path, "body" if body else "metadata")
        if isinstance(fault, Status):
            return _fault_status(exchange, fault)
        if redirect is not None:
            exchange.status = redirect.status
            return redirect
        lfs_direct = stored.lfs and self._s.mode != "hub"
        etag = stored.sha256 if lfs_direct else stored.sha1
        if self._s.mode == "opaque":
            etag = f"opaque-{self._s.store.opaque_id(stored.sha256)}"
            return await send_file_body(
                request, exchange, data=stored.data, etag=f'W/"{etag}"', headers=head, fault=fault
            )
        return await send_file_body(
            request, exchange, data=stored.data, etag=f'"{etag}"', headers=head, fault=fault
        )

    def _redirect(
        self, repo_id: str, commit: Commit, stored: StoredFile, *, cached: bool
    ) -> web.Response | None:
        linked = stored.lfs and self._s.mode == "hub"
        headers = {"X-Repo-Commit": commit.sha}
        if linked:
            headers["X-Linked-Etag"] = f'"{stored.sha256}"'
            headers["X-Linked-Size"] = str(stored.size)
            headers["ETag"] = f'"{stored.blob_id}"'
        if self._s.relative_redirect and not cached:
            headers["Location"] = (
                f"/api/resolve-cache/models/{repo_id}/{commit.sha}/{quote(stored.path)}"
            )
            return web.Response(status=307, headers=headers)
        if not linked:
            return None
        query = f"repo={quote(repo_id, safe='')}&file={quote(stored.path, safe='')}"
        headers["Location"] = f"{self._s.cdn_endpoint}/lfs/{stored.sha256}?{query}"
        return web.Response(status=302, headers=headers)

    async def _take_fault(
        self, exchange: Exchange, path: str | None, stage: FaultStage
    ) -> Fault | None:
        fault = self._s.faults.take(path, stage)
        exchange.fault = fault
        if isinstance(fault, Latency):
            await asyncio.sleep(fault.seconds)
        return fault

    async def _cdn(
        self, request: web.Request, exchange: Exchange, segs: list[str]
    ) -> web.StreamResponse:
        """Content-addressed blobs: no auth, ETag is the sha256, like a signed CDN URL."""
        data = self._s.store.blob(segs[1]) if len(segs) == 2 and segs[0] == "lfs" else None
        if data is None:
            return _error(exchange, 404, None, "NoSuchKey")
        if request.method not in ("GET", "HEAD"):
            return _error(exchange, 405, None, "Method Not Allowed")
        exchange.repo_id = request.query.get("repo")
        exchange.file = request.query.get("file")
        stage: FaultStage = "body" if request.method == "GET" else "metadata"
        fault = await self._take_fault(exchange, exchange.file, stage)
        if isinstance(fault, Status):
            return _fault_status(exchange, fault)
        name = (exchange.file or segs[1]).rsplit("/", 1)[-1]
        disposition = f"inline; filename*=UTF-8''{quote(name)}; filename=\"{name}\";"
        headers = {"Content-Disposition": disposition}
        return await send_file_body(
            request, exchange, data=data, etag=f'"{segs[1]}"', headers=headers, fault=fault
        )

    def _api(self, request: web.Request, exchange: Exchange, segs: list[str]) -> web.Response:
        """``/api/models/{repo_id}[/revision/{rev}|/tree/{rev}[/{path}]]``."""
        kind, rest = "info", list[str]()
        split = self._split_repo(segs, "revision") or self._split_repo(segs, "tree")
        if split is not None and split[1]:
            kind = segs[len(segs) - len(split[1]) - 1]
            repo_id, rest = split
        elif 1 <= len(segs) <= 2:
            repo_id = "/".join(unquote(s) for s in segs)
        else:
            return _error(exchange, 404, None, "Not Found")
        exchange.repo_id = repo_id
        if not self._s.api.enabled:
            return _error(exchange, 404, None, "Not Found")
        revision = unquote(rest[0]) if rest else "main"
        commit = self._access(exchange, repo_id, revision, gated_ok=True)
        if isinstance(commit, web.Response):
            return commit
        repo = self._s.store.repo(repo_id)
        assert repo is not None
        exchange.status = 200
        if kind == "tree":
            prefix = "/".join(unquote(s) for s in rest[1:])
            recursive = request.query.get("recursive", "").lower() in ("1", "true")
            listing = tree_listing(commit, prefix, recursive=recursive)
            if listing is None:
                return _error(exchange, 404, "EntryNotFound", f"{prefix} does not exist")
            if self._s.api.tree is not None:
                listing = list(self._s.api.tree)  # type: ignore[arg-type]
            return self._page(request, listing)
        blobs = request.query.get("blobs", "").lower() in ("1", "true")
        info = model_info(repo, commit, blobs=blobs and self._s.api.sizes)
        if self._s.api.siblings is not None:
            info["siblings"] = list(self._s.api.siblings)
        return web.json_response(info)

    def _page(self, request: web.Request, listing: list[dict[str, object]]) -> web.Response:
        """One page of a tree listing; ``cursor`` is the offset, as an opaque string."""
        size = max(1, self._s.api.tree_page_size)
        cursor = request.query.get("cursor", "0")
        start = int(cursor) if cursor.isdigit() else 0
        headers = {}
        if start + size < len(listing):
            following = request.url.update_query(cursor=str(start + size))
            headers["Link"] = f'<{following}>; rel="next"'
        return web.json_response(listing[start : start + size], headers=headers)


def _error(
    exchange: Exchange,
    status: int,
    code: str | None,
    message: str,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Errors as the Hub sends them: ``huggingface_hub`` maps ``X-Error-Code`` to exceptions."""
    out = {"X-Error-Message": message, **(headers or {})}
    if code is not None:
        out["X-Error-Code"] = code
    exchange.status = status
    return web.json_response({"error": message}, status=status, headers=out)


def _fault_status(exchange: Exchange, fault: Status) -> web.Response:
    exchange.status = fault.code
    return web.Response(status=fault.code, headers=dict(fault.headers), body=fault.body)
