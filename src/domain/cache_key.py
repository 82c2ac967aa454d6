"""The cache key a request gets when the caller names none (``tokacq fetch``, lock files).

The rule, one path segment that never collides with the cache's bookkeeping::

    org/name            at main        ->  org--name
    org/name            at v1.0        ->  org--name--v1.0
    name                at refs/pr/1   ->  name--refs_pr_1

``/`` in the repo becomes ``--`` (repos cannot contain ``--``, so distinct repos at main
keep distinct keys); every character other than ASCII letters, digits, ``.``, ``_`` and
``-`` becomes ``_``; a key that would not start with a letter or digit is prefixed with
``repo-``; a key longer than 128 characters is cut to 111 and ends with ``-`` and 16 hex
digits of the sha256 of repo and revision, so it stays unique.
"""

from __future__ import annotations

import hashlib
import re

MAX_KEY = 128
_UNSAFE = re.compile(r"[^A-Za-z0-9._\-]")


def default_cache_key(repo: str, revision: str = "main") -> str:
    """The documented key for ``repo`` at ``revision`` (see the module docstring)."""
    key = repo.replace("/", "--")
    if revision != "main":
        key = f"{key}--{revision}"
    key = _UNSAFE.sub("_", key)
    if not key[:1].isascii() or not key[:1].isalnum():
        key = f"repo-{key}"
    if len(key) > MAX_KEY:
        digest = hashlib.sha256(f"{repo}\0{revision}".encode()).hexdigest()[:16]
        key = f"{key[:MAX_KEY - 17]}-{digest}"
    return key
