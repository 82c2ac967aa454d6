"""Which requested file is "the tokenizer": one rule for every strategy."""

from __future__ import annotations

from collections.abc import Sequence

PRIMARY_PREFERENCE = ("tokenizer.json", "tokenizer.model", "vocab.txt")


def _basename(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def primary_file(files: Sequence[str]) -> str:
    """``tokenizer.json``, then ``tokenizer.model``, then ``vocab.txt``, else the first file.

    Matching is on the base name so ``tokenizer/tokenizer.json`` counts too; among several
    files with the same base name the first requested wins.
    """
    for preferred in PRIMARY_PREFERENCE:
        for name in files:
            if _basename(name) == preferred:
                return name
    return files[0]
