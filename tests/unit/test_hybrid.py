"""HybridAcquisition: ordered fallback; first success wins; every failure is kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.fakes import RecordingObserver, ScriptedAcquisition
from tokenizer_acquisition import (
    AllStrategiesFailed,
    HybridAcquisition,
    NetworkError,
    TokenizerDownloadInfo,
    TokenizerNotFound,
    VocabMismatch,
)

INFO = TokenizerDownloadInfo("org/name", "name", ("tokenizer.json",))


async def test_falls_back_to_the_next_strategy_on_failure(tmp_path: Path) -> None:
    """The original design's hybrid test: cache misses, network succeeds."""
    cache = ScriptedAcquisition("cache-only")
    network = ScriptedAcquisition("network", directory=tmp_path, uses_network=True)
    hybrid = HybridAcquisition([cache, network])
    path = await hybrid.acquire_tokenizer(INFO)
    assert path == tmp_path / "tokenizer.json"
    assert len(cache.calls) == 1 and len(network.calls) == 1
    result = await hybrid.acquire(INFO)
    assert result.strategy == "network"
    assert [a.strategy for a in result.attempts] == ["cache-only"]
    assert isinstance(result.attempts[0].error, TokenizerNotFound)


async def test_first_success_wins_and_later_strategies_are_not_called(tmp_path: Path) -> None:
    """Once a strategy succeeds, the rest are never tried."""
    first = ScriptedAcquisition("cache-only", directory=tmp_path)
    second = ScriptedAcquisition("network", directory=tmp_path)
    await HybridAcquisition([first, second]).acquire(INFO)
    assert second.calls == []


async def test_unavailable_strategies_are_skipped_with_their_reason() -> None:
    """An unavailable strategy is not called; the failure says why it was skipped."""
    cache = ScriptedAcquisition("cache-only")
    network = ScriptedAcquisition("network", available=False, reason="offline mode is on")
    with pytest.raises(AllStrategiesFailed) as err:
        await HybridAcquisition([cache, network]).acquire(INFO)
    assert network.calls == []
    attempts = err.value.attempts
    assert [a.strategy for a in attempts] == ["cache-only", "network"]
    assert isinstance(attempts[0].error, TokenizerNotFound)
    assert attempts[1].skipped == "offline mode is on"


async def test_all_failures_keep_each_typed_error() -> None:
    """The chained AllStrategiesFailed carries every strategy's own error object."""
    net_error = NetworkError("boom", url="http://127.0.0.1/x", status=500)
    with pytest.raises(NetworkError) as err:
        await HybridAcquisition([ScriptedAcquisition("cache-only"),
                                 ScriptedAcquisition("network", error=net_error)]).acquire(INFO)
    cause = err.value.__cause__
    assert isinstance(cause, AllStrategiesFailed)
    assert cause.attempts[1].error is net_error
    assert "check connectivity and the endpoint setting" in err.value.suggestions


async def test_vocab_mismatch_stops_the_fallback(tmp_path: Path) -> None:
    """The wrong tokenizer is a configuration mistake, not a reason to fetch elsewhere."""
    wrong = ScriptedAcquisition("cache-only", error=VocabMismatch(10, 11, "tokenizer.json"))
    network = ScriptedAcquisition("network", directory=tmp_path)
    with pytest.raises(VocabMismatch):
        await HybridAcquisition([wrong, network]).acquire(INFO)
    assert network.calls == []


async def test_each_attempt_is_reported_to_the_observer(tmp_path: Path) -> None:
    """Observers get strategy, cache key and outcome for every attempt."""
    observer = RecordingObserver()
    hybrid = HybridAcquisition([ScriptedAcquisition("off", available=False),
                                ScriptedAcquisition("cache-only"),
                                ScriptedAcquisition("network", directory=tmp_path)],
                               observer=observer)
    await hybrid.acquire(INFO)
    assert [(e.strategy, e.outcome) for e in observer.events] == [
        ("off", "skipped"), ("cache-only", "failed"), ("network", "downloaded")]
    assert all(e.cache_key == "name" for e in observer.events)


def test_introspection_lists_available_strategies_and_requirements() -> None:
    """available_strategies, is_available and requirements answer without I/O."""
    hybrid = HybridAcquisition([ScriptedAcquisition("cache-only"),
                                ScriptedAcquisition("network", available=False)])
    assert hybrid.available_strategies() == ["cache-only"]
    assert hybrid.is_available()
    assert hybrid.requirements() == ["cache-only requirement", "network requirement"]
    assert hybrid.name == "hybrid" and "cache-only -> network" in hybrid.description


async def test_aclose_closes_every_strategy() -> None:
    """Closing the hybrid releases every strategy's resources."""
    parts = [ScriptedAcquisition("a"), ScriptedAcquisition("b")]
    await HybridAcquisition(parts).aclose()
    assert [p.closed for p in parts] == [1, 1]


async def test_the_decisive_typed_error_is_raised_as_itself() -> None:
    """Cache parts only missed: the network's own error, chained from every attempt."""
    from tokenizer_acquisition import RevisionNotFound

    wrong = RevisionNotFound("revision 'v9' not found", url="http://127.0.0.1/x", status=404)
    hybrid = HybridAcquisition([
        ScriptedAcquisition("cache-only"), ScriptedAcquisition("hf-cache"),
        ScriptedAcquisition("network", error=wrong, uses_network=True)])
    with pytest.raises(RevisionNotFound) as err:
        await hybrid.acquire(INFO)
    cause = err.value.__cause__
    assert isinstance(cause, AllStrategiesFailed)
    assert [a.strategy for a in cause.attempts] == ["cache-only", "hf-cache", "network"]
    assert err.value.suggestions == wrong.suggestions
    assert not any("enable downloads" in s for s in cause.suggestions)


async def test_two_real_failures_stay_all_strategies_failed() -> None:
    """Two parts failing for reasons other than a miss: no single error decides."""
    net_error = NetworkError("boom", url="http://127.0.0.1/x", status=500)
    other = NetworkError("bang", url="http://127.0.0.1/y", status=502)
    with pytest.raises(AllStrategiesFailed) as err:
        await HybridAcquisition([ScriptedAcquisition("local-dir", error=other),
                                 ScriptedAcquisition("network", error=net_error)]).acquire(INFO)
    assert [a.error for a in err.value.attempts] == [other, net_error]


async def test_only_misses_keep_the_download_advice_when_the_network_was_not_tried() -> None:
    """All parts missed (network skipped): AllStrategiesFailed still says to enable it."""
    with pytest.raises(AllStrategiesFailed) as err:
        await HybridAcquisition([
            ScriptedAcquisition("cache-only"),
            ScriptedAcquisition("network", available=False, reason="offline",
                                uses_network=True)]).acquire(INFO)
    assert any("enable downloads" in s for s in err.value.suggestions)
