"""Point ``huggingface_hub`` (2.4) at a Hub simulator, in-process or in a child process.

What 2.4 needs from a server, as read from its ``file_download.py``/``utils/_http.py``:

* ``HEAD {endpoint}/{repo_id}/resolve/{quote(revision, safe="")}/{quote(path)}`` with
  ``Accept-Encoding: identity``; same-origin redirects are followed (relative 307s too),
  a redirect to another origin stops the HEAD and its headers are used.
* ``X-Repo-Commit`` is required (else ``FileMetadataError``); the ETag is
  ``X-Linked-Etag`` or else ``ETag`` (``W/`` and quotes stripped) and names the cache blob;
  the size is ``X-Linked-Size`` or else ``Content-Length`` of a non-redirect answer;
  the download URL is ``Location`` (the CDN). ``X-Xet-*`` headers would switch it to Xet.
* The GET to the CDN carries no Authorization (dropped for a foreign origin). Resumes send
  ``Range: bytes=N-``; a 200 answer makes it restart from zero.
* Errors: ``X-Error-Code`` RepoNotFound / GatedRepo / RevisionNotFound / EntryNotFound
  map to the matching exceptions; a 404 EntryNotFound should carry ``X-Repo-Commit``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

__all__ = ["hf_env", "patched_hf_endpoint"]


class _HasEndpoint(Protocol):
    @property
    def endpoint(self) -> str: ...


def hf_env(sim: _HasEndpoint) -> dict[str, str]:
    """Environment for a *new* process whose ``huggingface_hub`` must talk to ``sim``.

    ``HF_ENDPOINT`` is read once, when ``huggingface_hub.constants`` is imported (the
    URL template and the trusted Hub origins derive from it), so ``monkeypatch.setenv``
    in a running interpreter changes nothing. In-process, pass ``endpoint=sim.endpoint``
    to ``hf_hub_download``/``snapshot_download``/``HfApi``, or use
    :func:`patched_hf_endpoint`. Implicit tokens are disabled so a developer's stored
    token is never sent; Xet, telemetry and progress bars are off.
    """
    return {
        "HF_ENDPOINT": sim.endpoint,
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }


@contextmanager
def patched_hf_endpoint(endpoint: str) -> Iterator[None]:
    """Make an already-imported ``huggingface_hub`` use ``endpoint`` by default.

    Patches ``constants.ENDPOINT`` (read by ``HfApi``) and
    ``constants.HUGGINGFACE_CO_URL_TEMPLATE`` (read by ``hf_hub_url``); patching only
    ENDPOINT would leave resolve URLs on huggingface.co.
    """
    from huggingface_hub import constants

    saved = constants.ENDPOINT, constants.HUGGINGFACE_CO_URL_TEMPLATE
    constants.ENDPOINT = endpoint.rstrip("/")
    constants.HUGGINGFACE_CO_URL_TEMPLATE = (
        constants.ENDPOINT + "/{repo_id}/resolve/{revision}/{filename}"
    )
    try:
        yield
    finally:
        constants.ENDPOINT, constants.HUGGINGFACE_CO_URL_TEMPLATE = saved
