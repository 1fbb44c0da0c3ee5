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
    # One intra-op thread in this process: the test models are tiny (threads cost more than they save) and
    # this process often runs beside a Ray trial or a subprocess study on the same 2 cores. Ray's workers
    # take the trial's own CPU count (study.trial).
    import torch

    torch.set_num_threads(1)


def shared_dir() -> Path:
    return Path(os.environ.get("XSTUDY_SHARED_DIR", ROOT.parent / "shared"))


@pytest.fixture
def shared_data() -> Path:
    data = shared_dir() / "data"
    if not data.is_dir():
        pytest.skip(f"the shared data folder {data} is absent (set XSTUDY_SHARED_DIR)")
    return data


@pytest.fixture(scope="module")
def local_ray():
    """The local Ray (2 CPUs, with the dashboard, as `launch.run` starts it for Train-run sizes) that the
    in-process studies of a test session share: started by the first module that needs it, again only if a
    test shut it down, and stopped when the session ends (never with `ray stop`).

    Sharing it is safe because a study's trials get the driver's settings from the study itself
    (study.environment), not from the environment Ray was started with.
    """
    import ray

    from study import launch

    if not ray.is_initialized():
        launch.init_ray(None, num_cpus=2, dashboard=True)
    yield


@pytest.fixture(scope="session", autouse=True)
def _stop_local_ray():
    yield
    import sys

    if "ray" in sys.modules:
        import ray

        if ray.is_initialized():
            ray.shutdown()
