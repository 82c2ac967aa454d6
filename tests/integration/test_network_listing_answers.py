"""``AiohttpRemoteFiles.list_files`` against answers the simulator does not make: bodies
that are not JSON, wrong shapes, relative and looping ``Link`` pages, a non-HTTP link."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from support.network import FAST
from tokenizer_acquisition import ListingRefused, ListingUnavailable
from tokenizer_acquisition.adapters.aiohttp_remote import AiohttpRemoteFiles
from tokenizer_acquisition.domain.hub_listing import MAX_PAGES
from tokenizer_acquisition.domain.options import NetworkOptions

pytestmark = pytest.mark.timeout(60)

REPO = "org/name"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
Handler = Callable[[web.Request], Any]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[dict[str, Handler]], Any]]:
    """Start a loopback server with the given routes; yields a factory of remotes."""
    runners: list[web.AppRunner] = []
    remotes: list[AiohttpRemoteFiles] = []

    async def start(routes: dict[str, Handler]) -> AiohttpRemoteFiles:
        app = web.Application()
        for path, handler in routes.items():
            app.router.add_get(path, handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        remote = AiohttpRemoteFiles(NetworkOptions(
            endpoint=f"http://127.0.0.1:{port}", trust_env=False, max_retries=0,
            connect_timeout=2.0, read_timeout=5.0), backoff=FAST)
        remotes.append(remote)
        return remote

    yield start
    for remote in remotes:
        await remote.aclose()
    for runner in runners:
        await runner.cleanup()


REVISION = f"/api/models/{REPO}/revision/main"
TREE = f"/api/models/{REPO}/tree/{COMMIT}"


async def no_sizes(request: web.Request) -> web.Response:
    return web.json_response({"sha": COMMIT, "siblings": [{"rfilename": "vocab.txt"}]})


def tree_file(name: str) -> dict[str, Any]:
    return {"type": "file", "path": name, "size": 3, "oid": "a" * 40}


@pytest.mark.parametrize("body", [b"<html>not json</html>", b"{\"sha\": ", b"[" * 100_000],
                         ids=["html", "truncated", "deep"])
async def test_an_answer_that_is_not_json_is_listing_refused(serve: Any, body: bytes) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    remote = await serve({REVISION: answer})
    with pytest.raises(ListingRefused) as caught:
        await remote.list_files(REPO, "main")
    assert caught.value.repo == REPO


async def test_a_wrong_shape_is_listing_refused(serve: Any) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"sha": COMMIT, "siblings": [{"rfilename": "a", "size": "1"}]})

    remote = await serve({REVISION: answer})
    with pytest.raises(ListingRefused, match="size"):
        await remote.list_files(REPO, "main")


async def test_a_missing_api_is_listing_unavailable(serve: Any) -> None:
    remote = await serve({})
    with pytest.raises(ListingUnavailable) as caught:
        await remote.list_files(REPO, "main")
    assert caught.value.status == 404


async def test_relative_next_links_are_followed_at_the_listed_commit(serve: Any) -> None:
    """No sizes in /revision/: the tree at the listed commit, page after page, with a
    relative Link target resolved against the page's URL."""
    seen: list[str] = []

    async def tree(request: web.Request) -> web.Response:
        seen.append(request.path_qs)
        page = int(request.query.get("page", "0"))
        headers = {} if page == 2 else {
            "Link": f'<{TREE}?recursive=true&page={page + 1}>; rel="next"'}
        return web.json_response([tree_file(f"f{page}.txt")], headers=headers)

    remote = await serve({REVISION: no_sizes, TREE: tree})
    listing = await remote.list_files(REPO, "main")
    assert listing.commit == COMMIT
    assert listing.names == ("f0.txt", "f1.txt", "f2.txt")
    assert len(seen) == 3 and all(COMMIT in path for path in seen)


async def test_a_link_that_loops_is_bounded(serve: Any) -> None:
    """A next link to itself stops at MAX_PAGES pages (ListingRefused), never forever."""
    count = 0

    async def tree(request: web.Request) -> web.Response:
        nonlocal count
        count += 1
        return web.json_response([], headers={"Link": f'<{TREE}?recursive=true>; rel="next"'})

    remote = await serve({REVISION: no_sizes, TREE: tree})
    with pytest.raises(ListingRefused, match="pages"):
        await remote.list_files(REPO, "main")
    assert count == MAX_PAGES


async def test_a_next_link_to_another_scheme_is_refused(serve: Any) -> None:
    async def tree(request: web.Request) -> web.Response:
        return web.json_response([tree_file("a.txt")],
                                 headers={"Link": '<file:///etc/passwd>; rel="next"'})

    remote = await serve({REVISION: no_sizes, TREE: tree})
    with pytest.raises(ListingRefused, match="file"):
        await remote.list_files(REPO, "main")


async def test_a_bad_tree_page_is_refused(serve: Any) -> None:
    async def tree(request: web.Request) -> web.Response:
        return web.Response(text=json.dumps({"not": "a list"}), content_type="application/json")

    remote = await serve({REVISION: no_sizes, TREE: tree})
    with pytest.raises(ListingRefused, match="list"):
        await remote.list_files(REPO, "main")
