"""``tokacq cache prune --older-than AGE --keep-size SIZE``: the values it accepts, and the
typed error (``ConfigurationError``, exit 2) for everything else."""

from __future__ import annotations

import pytest

from tokenizer_acquisition.domain.errors import ConfigurationError
from tokenizer_acquisition.entrypoints.cli_cache import parse_duration, parse_size


@pytest.mark.parametrize(("text", "seconds"), [
    ("45s", 45), ("90m", 5400), ("12h", 43200), ("30d", 30 * 86400), ("2w", 14 * 86400),
    ("1.5h", 5400), ("0s", 0), ("30D", 30 * 86400), (" 7d ", 7 * 86400),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("text", "size"), [
    ("0B", 0), ("512B", 512), ("1kB", 1000), ("10MB", 10 * 1000**2), ("10GB", 10 * 1000**3),
    ("1KiB", 1024), ("500MiB", 500 * 1024**2), ("2GiB", 2 * 1024**3), ("1.5GB", 1_500_000_000),
    ("10gb", 10 * 1000**3), ("1TB", 1000**4),
])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "30", "d", "-1d", "30y", "1e3s", "30 days", "nan d",
                                  "3d4h", "1,5h"])
def test_bad_durations_are_configuration_errors(text: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_duration(text)
    assert caught.value.key == "older_than" and caught.value.suggestions


@pytest.mark.parametrize("text", ["", "10", "GB", "-1GB", "10XB", "10 G", "inf GB", "1e9B"])
def test_bad_sizes_are_configuration_errors(text: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_size(text)
    assert caught.value.key == "keep_size" and caught.value.suggestions
