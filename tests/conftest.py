"""Shared test settings: offline, one cache for the whole session, small built-in settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

os.environ["TOKENIZERS_PARALLELISM"] = "false"
# Tiny models and tokenized data are cached across tests (and across runs on one machine).
os.environ.setdefault("XSTUDY_CACHE_DIR", str(ROOT / ".cache" / "test"))
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def pytest_configure(config: pytest.Config) -> None:
    """Offline, unless the run selects the online tests (`pytest -m online`): those follow the environment.
    Set here, before any test module imports huggingface_hub, which reads the variables once."""
    marks = config.getoption("markexpr") or ""
    if "online" not in marks or "not online" in marks:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["HF_DATASETS_OFFLINE"] = "1"


def shared_dir() -> Path:
    return Path(os.environ.get("XSTUDY_SHARED_DIR", ROOT.parent / "shared"))


@pytest.fixture
def shared_data() -> Path:
    data = shared_dir() / "data"
    if not data.is_dir():
        pytest.skip(f"the shared data folder {data} is absent (set XSTUDY_SHARED_DIR)")
    return data
