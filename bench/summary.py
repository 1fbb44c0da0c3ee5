"""What every benchmark does with its figures: print them as JSON, and write them to `--json OUT` if given."""

from __future__ import annotations

import json
from typing import Any


def emit(summary: dict[str, Any], out: str | None) -> int:
    """Print the summary and write it to `out` (when set); the script's exit status."""
    print(json.dumps(summary, indent=2))
    if out:
        with open(out, "w") as f:
            json.dump(summary, f, indent=2)
    return 0
