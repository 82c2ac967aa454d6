"""Render the figures a reliability run recorded as the Markdown table of docs/RELIABILITY.md.

    TOKACQ_RELIABILITY_RESULTS=/tmp/rel.json pytest tests/reliability
    TOKACQ_RELIABILITY_RESULTS=/tmp/rel.json pytest -m soak tests/reliability
    python tests/reliability/report.py /tmp/rel.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def render(document: dict[str, object]) -> str:
    scenarios = document.get("scenarios", {})
    assert isinstance(scenarios, dict)
    lines = [f"Recorded {document.get('updated', '?')}.", "",
             "| Scenario | Runs | Passed | Bytes lost | Reproduce |",
             "|---|---:|---:|---:|---|"]
    for name in sorted(scenarios, key=lambda n: scenarios[n]["command"]):
        f = scenarios[name]
        lines.append(f"| {name} | {f['runs']} | {f['passed']} | {f['bytes_lost']} "
                     f"| `{f['command']}` |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    print(render(json.loads(Path(argv[1]).read_text())), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
