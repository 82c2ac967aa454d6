"""Vocabulary sizes are counted from file bytes, without the tokenizer libraries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokenizer_acquisition import IntegrityError
from tokenizer_acquisition.domain.vocab import (
    count_sentencepiece,
    count_tokenizer_json,
    count_vocab,
    count_vocab_txt,
)


def test_minilm_tokenizer_json_counts_30522(minilm_dir: Path) -> None:
    """The real all-MiniLM-L6-v2 tokenizer.json has 30522 entries."""
    assert count_tokenizer_json((minilm_dir / "tokenizer.json").read_bytes()) == 30522


def test_count_matches_the_tokenizers_library(minilm_dir: Path) -> None:
    """Our count equals what `tokenizers` reports with added tokens."""
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    data = (minilm_dir / "tokenizer.json").read_bytes()
    assert count_tokenizer_json(data) == tok.get_vocab_size(with_added_tokens=True)


def test_botchan_sentencepiece_model_counts_1000(botchan_dir: Path) -> None:
    """The real botchan unigram model has 1000 pieces."""
    assert count_sentencepiece((botchan_dir / "tokenizer.model").read_bytes()) == 1000


def test_vocab_txt_counts_lines(minilm_dir: Path) -> None:
    """vocab.txt has one token per line."""
    assert count_vocab_txt((minilm_dir / "vocab.txt").read_bytes()) == 30522


def test_added_tokens_with_new_ids_are_counted() -> None:
    """Added tokens count only when their id is not already in the model's vocab."""
    doc = {"model": {"vocab": {"a": 0, "b": 1}},
           "added_tokens": [{"id": 1, "content": "b"}, {"id": 2, "content": "<new>"}]}
    assert count_tokenizer_json(json.dumps(doc).encode()) == 3


def test_unigram_list_vocab_is_counted() -> None:
    """Unigram models store the vocab as a list of [piece, score]."""
    doc = {"model": {"type": "Unigram", "vocab": [["a", 0.0], ["b", -1.0]]}, "added_tokens": []}
    assert count_tokenizer_json(json.dumps(doc).encode()) == 2


@pytest.mark.parametrize(("name", "data"), [
    ("tokenizer.json", b"{not json"),
    ("tokenizer.json", b'{"model": {}}'),
    ("tokenizer.model", b"\xff\xff\xff"),
    ("tokenizer.model", b""),
    ("vocab.txt", b"\xff\xfe"),
    ("merges.txt", b"a b"),
])
def test_unparseable_files_raise_integrity_error(name: str, data: bytes) -> None:
    """Garbage is an IntegrityError naming the file, never a crash."""
    with pytest.raises(IntegrityError) as err:
        count_vocab(name, data)
    assert err.value.file == name


#: Characters str.splitlines() breaks on, but tokenizers and transformers keep in a token.
_NOT_LINE_BREAKS = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def _odd_vocab() -> bytes:
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    tokens += [f"t{i}{ch}x" for i, ch in enumerate(_NOT_LINE_BREAKS)]
    return ("\n".join(tokens) + "\n").encode("utf-8")


def test_vocab_txt_splits_on_newline_only() -> None:
    """A 12-token vocab with \\x0c \\x1c \\x85 \\u2028 inside tokens counts 12, not 20."""
    assert count_vocab_txt(_odd_vocab()) == 12
    assert count_vocab_txt(b"a\r\nb\r\nc") == 3  # CRLF, and a last line without newline
    assert count_vocab_txt(b"") == 0


def test_vocab_txt_count_matches_the_tokenizers_library(tmp_path: Path) -> None:
    """The real `tokenizers` WordPiece reads the same file as the same number of tokens."""
    WordPiece = pytest.importorskip("tokenizers.models").WordPiece

    path = tmp_path / "vocab.txt"
    path.write_bytes(_odd_vocab())
    assert len(WordPiece.read_file(str(path))) == count_vocab_txt(path.read_bytes()) == 12
