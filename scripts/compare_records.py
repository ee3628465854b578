"""Are two results files the same measurement? Every record of ``OLD`` must equal one of
``NEW`` and the other way round, after both are read through ``Results.read`` (which maps
the field names of older schema versions onto the current ones). Timings, versions and
other run facts outside the records are not compared.

    python scripts/compare_records.py semclip-demo-before/results.json semclip-demo/results.json

Prints the counts and the first differences; exits 1 when the records differ. Used to show
that a refactor left every number as it was (issue 27).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from semclip.errors import SemclipError
from semclip.results import Results


def record_keys(path: Path) -> Counter:
    """Each record as one canonical JSON line (fields sorted), counted."""
    results = Results.read(path)
    return Counter(json.dumps(r.model_dump(mode="json"), sort_keys=True) for r in results.records)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: python scripts/compare_records.py OLD.json NEW.json", file=sys.stderr)
        return 2
    try:
        old, new = (record_keys(Path(p)) for p in argv)
    except SemclipError as exc:  # a missing or unreadable file: one line, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    only_old, only_new = old - new, new - old
    print(f"{sum(old.values())} records in {argv[0]}, {sum(new.values())} in {argv[1]}; "
          f"{sum(only_old.values())} only in the first, {sum(only_new.values())} only in the second")
    for label, rows in (("only in the first", only_old), ("only in the second", only_new)):
        for row in list(rows)[:5]:
            print(f"  {label}: {row}")
    return 0 if not only_old and not only_new else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
