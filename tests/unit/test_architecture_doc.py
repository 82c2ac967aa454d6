"""``docs/ARCHITECTURE.md`` stays true: it lists every module of ``src/`` (and no other),
and its "Adding a strategy" example runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ARCHITECTURE.md"


def _section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def test_every_module_is_listed_once_and_every_listed_module_exists() -> None:
    """Where each concept lives: the list and the files under src/ are the same set."""
    listed = re.findall(r"^- `(src/[\w/]+\.py)`:", _section("Where each concept lives"),
                        flags=re.M)
    assert len(listed) == len(set(listed)), "a module is listed twice"
    actual = {p.relative_to(ROOT).as_posix() for p in (ROOT / "src").rglob("*.py")}
    assert set(listed) - actual == set(), "listed, but no such module"
    assert actual - set(listed) == set(), "modules missing from docs/ARCHITECTURE.md"


def test_adding_a_strategy_example_runs() -> None:
    """The example strategy is served through a hybrid and reported among its parts."""
    blocks = re.findall(r"```python\n(.*?)```", _section("Adding a strategy"), flags=re.S)
    assert len(blocks) == 1
    exec(compile(blocks[0], str(DOC), "exec"), {"__name__": "architecture_example"})
