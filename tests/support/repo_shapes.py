"""Three repo shapes for discovery tests: BERT-like, Llama-like, GPT-2-like.

- BERT: the real all-MiniLM-L6-v2 fixture (``vocab.txt``, ``tokenizer.json``, configs)
  plus fake weights;
- Llama: ``tokenizer.json`` (a tiny byte-level BPE built here with ``tokenizers``),
  ``tokenizer.model`` (the real botchan SentencePiece fixture), ``chat_template.jinja``,
  ``generation_config.json``, and weights, an ``onnx/`` export and a README that the
  preset must leave alone;
- GPT-2: ``vocab.json`` + ``merges.txt`` only (a tiny byte-level BPE trained here), the
  slow/fast GPT-2 tokenizer's classic pair.

Weights are a few KB of fake bytes marked LFS: a test asserts no request ever asks for
them. Built in the test run (``tokenizers`` trains a BPE on a fixed corpus in well under
a second), so nothing without a licence note is shipped.
"""

from __future__ import annotations

import json
import tempfile
from functools import cache
from pathlib import Path

from tokenizer_acquisition.testing import HubSimulator

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MINILM = FIXTURES / "sentence-transformers" / "all-MiniLM-L6-v2"
BOTCHAN = FIXTURES / "sentencepiece" / "botchan-unigram-1000" / "tokenizer.model"

BERT_REPO = "sentence-transformers/all-MiniLM-L6-v2"
LLAMA_REPO = "tiny-org/tiny-llama"
GPT2_REPO = "tiny-org/tiny-gpt2"

WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model-00001-of-00002.safetensors",
           "model.safetensors.index.json", "onnx/model.onnx")
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}"
    "{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")
CORPUS = [
    "Hello world, this is a tiny tokenizer for tests.",
    "The quick brown fox jumps over the lazy dog.",
    "Tokenizers split text into pieces; servers need every file of them.",
    "Discovery lists the repo once and picks the tokenizer files.",
] * 20


def fake_weights(seed: int) -> bytes:
    return bytes((seed * 31 + i * 7) % 251 for i in range(4096))


@cache
def _byte_level_bpe() -> tuple[bytes, bytes, bytes]:
    """(tokenizer.json, vocab.json, merges.txt) of a tiny byte-level BPE."""
    from tokenizers import ByteLevelBPETokenizer

    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(CORPUS, vocab_size=300, min_frequency=2,
                                  special_tokens=["<|endoftext|>"], show_progress=False)
    with tempfile.TemporaryDirectory() as out:
        tokenizer.save_model(out)
        vocab = (Path(out) / "vocab.json").read_bytes()
        merges = (Path(out) / "merges.txt").read_bytes()
    return tokenizer.to_str().encode(), vocab, merges


def bert_files() -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in sorted(MINILM.iterdir()) if p.is_file()}
    files["model.safetensors"] = fake_weights(1)
    files["README.md"] = b"# all-MiniLM-L6-v2\n"
    return files


def llama_files() -> dict[str, bytes]:
    tokenizer_json, _, _ = _byte_level_bpe()
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|endoftext|>",
              "eos_token": "<|endoftext|>", "model_max_length": 2048}
    files = {
        "tokenizer.json": tokenizer_json,
        "tokenizer.model": BOTCHAN.read_bytes(),
        "tokenizer_config.json": json.dumps(config).encode(),
        "special_tokens_map.json": json.dumps({"eos_token": "<|endoftext|>"}).encode(),
        "chat_template.jinja": CHAT_TEMPLATE.encode(),
        "config.json": json.dumps({"model_type": "llama", "vocab_size": 300}).encode(),
        "generation_config.json": json.dumps({"eos_token_id": 0}).encode(),
        "README.md": b"# tiny llama\n",
        "onnx/tokenizer.json": tokenizer_json,
    }
    for seed, name in enumerate(WEIGHTS, start=2):
        files[name] = fake_weights(seed)
    return files


def gpt2_files() -> dict[str, bytes]:
    _, vocab, merges = _byte_level_bpe()
    config = {"tokenizer_class": "GPT2Tokenizer", "bos_token": "<|endoftext|>",
              "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
              "model_max_length": 1024}
    return {
        "vocab.json": vocab,
        "merges.txt": merges,
        "tokenizer_config.json": json.dumps(config).encode(),
        "config.json": json.dumps({"model_type": "gpt2", "vocab_size": 300}).encode(),
        "model.safetensors": fake_weights(9),
        "flax_model.msgpack": fake_weights(10),
    }


#: What the preset must select for each shape (and nothing else).
EXPECTED = {
    BERT_REPO: {"config.json", "special_tokens_map.json", "tokenizer.json",
                "tokenizer_config.json", "vocab.txt"},
    LLAMA_REPO: {"tokenizer.json", "tokenizer.model", "tokenizer_config.json",
                 "special_tokens_map.json", "chat_template.jinja", "config.json",
                 "generation_config.json"},
    GPT2_REPO: {"vocab.json", "merges.txt", "tokenizer_config.json", "config.json"},
}


def add_shapes(sim: HubSimulator) -> dict[str, str]:
    """Publish the three repos on a ``HubSimulator``; their commits by repo."""
    weights = [*WEIGHTS, "flax_model.msgpack", "tokenizer.json"]
    return {
        BERT_REPO: sim.add_repo(BERT_REPO, bert_files(), lfs=weights),
        LLAMA_REPO: sim.add_repo(LLAMA_REPO, llama_files(), lfs=weights),
        GPT2_REPO: sim.add_repo(GPT2_REPO, gpt2_files(), lfs=weights),
    }
