"""The machine-wide cache: tokenized data and built-in models, keyed by content fingerprints."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def cache_root() -> Path:
    root = os.environ.get("XSTUDY_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "xstudy")
    return Path(root)


def fingerprint(*parts: Any) -> str:
    """A stable hex digest of JSON-serialisable parts (never Python's salted hash())."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:24]
