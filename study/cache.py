"""The machine-wide cache: tokenized data and built-in models, keyed by content fingerprints."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


# Set to 1 where trials must find everything `xstudy prepare` makes (built-in models, hub models, tokenized
# data) already in the cache: a miss is then an error naming the missing item instead of a download or a
# tokenization inside the trial.
REQUIRE_PREPARED_ENV = "XSTUDY_REQUIRE_PREPARED"


class NotPrepared(RuntimeError):
    """Something a trial needs is not in the cache and XSTUDY_REQUIRE_PREPARED forbids making it there."""


def require_prepared() -> bool:
    return os.environ.get(REQUIRE_PREPARED_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def cache_root() -> Path:
    root = os.environ.get("XSTUDY_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "xstudy")
    return Path(root)


def fingerprint(*parts: Any) -> str:
    """A stable hex digest of JSON-serialisable parts (never Python's salted hash())."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:24]
