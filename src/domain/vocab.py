"""Vocabulary size of a tokenizer file, read from its bytes with the standard library only."""

from __future__ import annotations

import json
from collections.abc import Callable

from .errors import IntegrityError


def count_tokenizer_json(data: bytes, file: str = "tokenizer.json") -> int:
    """Entries of ``model.vocab`` plus added tokens with new ids (what ``tokenizers`` reports)."""
    try:
        doc = json.loads(data)
        vocab = doc["model"]["vocab"]
        added = doc.get("added_tokens") or []
        if isinstance(vocab, dict):
            ids = set(vocab.values())
        elif isinstance(vocab, list):
            ids = set(range(len(vocab)))
        else:
            raise TypeError("model.vocab is neither an object nor a list")
        extra = {t["id"] for t in added if t["id"] not in ids}
        return len(vocab) + len(extra)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IntegrityError(file, expected="a tokenizers JSON document",
                             actual=f"unparseable ({exc.__class__.__name__})",
                             check="format") from None


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def count_sentencepiece(data: bytes, file: str = "tokenizer.model") -> int:
    """Pieces in a SentencePiece ``ModelProto`` (field 1, repeated), walked as raw protobuf."""
    pieces = pos = 0
    try:
        while pos < len(data):
            key, pos = _varint(data, pos)
            field, wire = key >> 3, key & 7
            if field == 0:
                raise ValueError("field number 0")
            if wire == 0:
                _, pos = _varint(data, pos)
            elif wire == 1:
                pos += 8
            elif wire == 2:
                length, pos = _varint(data, pos)
                pos += length
                if field == 1:
                    pieces += 1
            elif wire == 5:
                pos += 4
            else:
                raise ValueError(f"wire type {wire}")
            if pos > len(data):
                raise ValueError("field runs past the end")
    except ValueError as exc:
        raise IntegrityError(file, expected="a SentencePiece model",
                             actual=f"unparseable ({exc})", check="format") from None
    if pieces == 0:
        raise IntegrityError(file, expected="a SentencePiece model", actual="no pieces",
                             check="format")
    return pieces


def count_vocab_txt(data: bytes, file: str = "vocab.txt") -> int:
    """One token per line, lines ending in ``\n`` (or ``\r\n``), as ``tokenizers`` reads it.

    ``tokenizers``' ``WordPiece::read_file`` takes ``BufRead::lines()``: it splits on ``\n``
    only and drops a ``\r`` before it; a last line without ``\n`` still counts.
    ``str.splitlines()`` would also split on ``\x0b \x0c \x1c-\x1e \x85 \u2028 \u2029``,
    which real vocabularies hold inside tokens.
    """
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise IntegrityError(file, expected="UTF-8 text", actual="undecodable bytes",
                             check="format") from None
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


_COUNTERS: dict[str, Callable[[bytes, str], int]] = {
    "tokenizer.json": count_tokenizer_json,
    "tokenizer.model": count_sentencepiece,
    "vocab.txt": count_vocab_txt,
}


def vocab_counter(file: str) -> Callable[[bytes, str], int] | None:
    """The counter for a file's base name, or None when its format has no known vocabulary."""
    return _COUNTERS.get(file.rsplit("/", 1)[-1])


def count_vocab(file: str, data: bytes) -> int:
    counter = vocab_counter(file)
    if counter is None:
        raise IntegrityError(file, expected="tokenizer.json, tokenizer.model or vocab.txt",
                             actual=file, check="vocabulary format")
    return counter(data, file)
