"""Keeps the most varied of a folder of recorded histories for the replay corpus.

    python tests/histories/keep.py FOLDER PREFIX N

FOLDER holds ``<run id>.jsonl`` files that the engine recorded
(``SAGABOARD_RECORD_HISTORIES``: ``bench/chaos.py --record-histories FOLDER``,
or ``make run`` with the variable set for demo traffic). Of those, N are kept
here as ``PREFIX-<i>.jsonl.gz``: first one of each way a run ended and each kind
of happening it met, then the longest.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def features(path: Path) -> tuple[set[str], int]:
    lines = path.read_text().splitlines()
    decisions = [json.loads(line) for line in lines[1:] if line.strip()]
    found = {d["happening"]["type"] for d in decisions}
    if decisions:
        found.add("ended " + decisions[-1]["after"]["status"])
    return found, len(decisions)


def main(folder: str, prefix: str, count: str) -> None:
    paths = sorted(Path(folder).glob("*.jsonl"))
    scored = {path: features(path) for path in paths}
    chosen: list[Path] = []
    seen: set[str] = set()
    for path, (found, _) in sorted(scored.items(), key=lambda kv: -len(kv[1][0])):
        if len(chosen) < int(count) and found - seen:
            chosen.append(path)
            seen |= found
    for path, _ in sorted(scored.items(), key=lambda kv: -kv[1][1]):
        if len(chosen) >= int(count):
            break
        if path not in chosen:
            chosen.append(path)
    for i, path in enumerate(chosen):
        target = HERE / f"{prefix}-{i}.jsonl.gz"
        target.write_bytes(gzip.compress(path.read_bytes(), mtime=0))
    print(f"kept {len(chosen)} of {len(paths)}, meeting: {', '.join(sorted(seen))}")


if __name__ == "__main__":
    main(*sys.argv[1:])
