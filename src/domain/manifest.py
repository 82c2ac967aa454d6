"""The cache's record of where each file came from, as plain data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ManifestEntry:
    """One published file. ``source`` is a URL without credentials, or a description."""

    size: int
    sha256: str | None = None
    etag: str | None = None
    commit: str | None = None
    revision: str | None = None
    repo: str | None = None
    source: str | None = None
    fetched_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ManifestEntry:
        size = data.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError("manifest entry without a valid size")
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


Manifest = Mapping[str, ManifestEntry]
