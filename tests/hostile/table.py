"""Print the README's "Bad input" table from what the hostile cases actually said.

    python -m tests.hostile.table > /tmp/table.md

Each row is one case: what it feeds dsir, and the error line (exit status 2) or the warning
(exit status 0) it ended in, with the case's temporary folder shown as ``DIR``. A case that
does not end in its documented behaviour is reported and the command exits 1.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.hostile.cases import _HOLDERS, CASES
from tests.hostile.harness import Refused, check_outcome, run_case


def main() -> int:
    rows, failed = [], 0
    group = None
    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            ran = run_case(case, folder)
            try:
                check_outcome(case, ran, folder)
            except AssertionError as exc:
                failed += 1
                print(f"FAILED {case.name}: {str(exc).splitlines()[0]}", file=sys.stderr)
                continue
            finally:
                while _HOLDERS:
                    _HOLDERS.pop().kill()
            if isinstance(case.expect, Refused):
                said = ran.error_line
            elif ran.warnings:
                said = "exit 0; " + " / ".join(f"dsir: WARNING: {w}" for w in ran.warnings)
            else:
                said = "exit 0, selected as usual"
            said = said.replace(str(folder), "DIR").replace("|", "\\|")
            if len(said) > 260:
                said = said[:257] + "..."
        if case.group != group:
            group = case.group
            rows.append(f"| **{group}** | |")
        rows.append(f"| `{case.name.split('/', 1)[1]}` | `{said}` |")
    print("| Case | What dsir does (from a real run) |")
    print("|---|---|")
    print("\n".join(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
