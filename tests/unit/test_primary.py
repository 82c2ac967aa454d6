"""The primary file rule is the same for every strategy."""

from __future__ import annotations

import pytest

from tokenizer_acquisition.domain.primary import primary_file


@pytest.mark.parametrize(("files", "expected"), [
    (("tokenizer_config.json", "vocab.txt", "tokenizer.json"), "tokenizer.json"),
    (("vocab.txt", "tokenizer.model"), "tokenizer.model"),
    (("special_tokens_map.json", "vocab.txt"), "vocab.txt"),
    (("config.json", "merges.txt"), "config.json"),
    (("sub/tokenizer.json", "tokenizer.model"), "sub/tokenizer.json"),
])
def test_primary_file_prefers_json_then_model_then_vocab_then_first(
        files: tuple[str, ...], expected: str) -> None:
    """tokenizer.json, then tokenizer.model, then vocab.txt, else the first file."""
    assert primary_file(files) == expected


def test_a_request_knows_its_primary_file() -> None:
    """TokenizerDownloadInfo.primary applies the rule once, when the request is built."""
    from tokenizer_acquisition import TokenizerDownloadInfo

    info = TokenizerDownloadInfo("org/name", "key", ("vocab.txt", "tokenizer.model"))
    assert info.primary == "tokenizer.model"
    assert info == TokenizerDownloadInfo("org/name", "key", ("vocab.txt", "tokenizer.model"))
