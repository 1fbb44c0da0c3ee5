"""The command line as a user runs it: validate, run, an interruption, resume, export."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from study.cli import app
from helpers import small_spec

ROOT = Path(__file__).resolve().parents[2]
XSTUDY = [sys.executable, "-m", "study.cli"]
STEPS = [0, 10, 20, 30, 40, 50, 60, 70, 80]


def test_validate_prints_a_summary():
    result = CliRunner().invoke(app, ["validate", str(ROOT / "search_spaces" / "smoke.yaml")])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "tiny" in result.output and "builtin_nli" in result.output


def test_validate_lists_every_error_with_its_field(tmp_path):
    spec = yaml.safe_load((ROOT / "search_spaces" / "smoke.yaml").read_text())
    spec["models"][1]["steps"] = [400, 150]
    spec["models"][0]["batchsize"] = 3
    spec["target_tasks"].append("xnli_typo")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert "models[1].steps: step milestones must be strictly increasing" in out
    assert "models[0].batchsize: unknown key" in out
    assert "target_tasks[3]: unknown task 'xnli_typo'" in out


def test_resume_of_a_folder_without_a_study(tmp_path):
    result = CliRunner().invoke(app, ["resume", str(tmp_path)])
    assert result.exit_code == 2
    assert "no study here" in " ".join(result.output.split())


def _trial_reports(study: Path) -> dict[str, list[int]]:
    reports = {}
    for f in study.glob("*/result.json"):
        reports[f.parent.name] = [json.loads(line)["intermediate_steps"] for line in f.read_text().splitlines() if line]
    return reports


@pytest.mark.slow
def test_interrupted_run_then_resume_completes_without_rerunning(tmp_path):
    spec = small_spec(str(tmp_path), name="resumable", search={"max_concurrent_trials": 1},
                      models=[{"name": "tiny", "source": {"builtin": "tiny", "mlm_steps": 60}, "batch_size": 16,
                               "max_length": 48, "steps": STEPS}])
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec.model_dump(mode="json")))
    study = tmp_path / "resumable"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([*XSTUDY, "run", str(spec_file), "--num-cpus", "2"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and len(list((study / "rows").rglob("*.parquet"))) < 2:
            time.sleep(0.5)
        assert len(list((study / "rows").rglob("*.parquet"))) >= 2, "the study never wrote a milestone"
        proc.send_signal(signal.SIGTERM)  # what a cluster scheduler sends
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = _trial_reports(study)
    assert sum(len(v) for v in before.values()) < len(STEPS), "the interruption came too late to test anything"

    done = subprocess.run([*XSTUDY, "resume", str(study), "--num-cpus", "2"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    after = _trial_reports(study)
    milestones = sorted(m for ms in after.values() for m in ms)
    assert milestones == STEPS, f"every milestone exactly once across the resume: {after}"
    df = pd.read_parquet(study / "results.parquet")
    assert sorted(df.intermediate_steps.unique()) == STEPS
    assert df.groupby(["trial_id", "intermediate_steps", "target_task", "split", "language", "metric"]).size().max() == 1


def test_data_inspect_counts_splits_as_json():
    result = CliRunner().invoke(app, ["data", "inspect", "builtin_pos", "--languages", "en,xb", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["task"] == "builtin_pos"
    assert data["splits"]["en"]["train"] > 0 and set(data["splits"]["xb"]) == {"test"}


def test_run_refuses_bad_data_before_any_compute(tmp_path):
    (tmp_path / "data" / "xquad").mkdir(parents=True)  # the dataset's folder is there, its files are not
    spec = small_spec(str(tmp_path), name="baddata", intermediate_tasks=["none"],
                      target_tasks=[{"task": "xquad", "languages": ["de"]}])
    data = spec.model_dump(mode="json")
    data["study"]["data_dir"] = str(tmp_path / "data")
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["run", str(spec_file)])
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert "problem" in out and "xquad" in out
    assert not (tmp_path / "baddata").exists(), "nothing was started or written"
