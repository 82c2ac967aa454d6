"""Checking ``expected_vocab`` on every acquisition without re-parsing unchanged files."""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable

from .cache_policy import FileFacts
from .errors import VocabMismatch
from .request import TokenizerDownloadInfo
from .vocab import count_vocab


class VocabChecker:
    """Counts a primary file's vocabulary, remembering counts by (path, size, mtime).

    Parsing a large ``tokenizer.json`` costs milliseconds to a tenth of a second: a cache hit
    should not pay it, and a service's event loop should not stall on it, so the first
    count of a file runs in a worker thread and later checks are a dictionary lookup.
    """

    def __init__(self, capacity: int = 64) -> None:
        self._counts: OrderedDict[tuple[str, int, int], int] = OrderedDict()
        self._capacity = capacity
        self._guard = threading.Lock()

    async def check(
        self,
        info: TokenizerDownloadInfo,
        facts: FileFacts,
        read: Callable[[], bytes],
    ) -> None:
        """Raise ``VocabMismatch`` (or ``IntegrityError`` for garbage) unless the size fits."""
        if info.expected_vocab is None:
            return
        name = info.primary
        key = (str(facts.path), facts.size, facts.mtime_ns)
        with self._guard:
            actual = self._counts.get(key)
        if actual is None:
            actual = await asyncio.to_thread(lambda: count_vocab(name, read()))
            with self._guard:
                self._counts[key] = actual
                if len(self._counts) > self._capacity:
                    self._counts.popitem(last=False)
        if actual != info.expected_vocab:
            raise VocabMismatch(expected=info.expected_vocab, actual=actual, file=name)
