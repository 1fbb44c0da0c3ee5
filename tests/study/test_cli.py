"""The command line as a user runs it: validate, data inspect, refusals before any compute.

An interrupted `xstudy run` (SIGTERM, its exit code) and `xstudy resume` are tested on S3 storage
(test_s3_storage.py), and a SIGKILLed driver's resume on local storage (test_recovery.py)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from study.cli import app
from helpers import small_spec

ROOT = Path(__file__).resolve().parents[2]


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


def test_a_long_path_in_a_message_is_printed_whole_at_any_console_width(tmp_path, monkeypatch):
    """Output that is not a terminal is 80 columns wide (or COLUMNS, which pytest-xdist sets): a path in an
    error stays on one line, so it can be copied and matched."""
    deep = tmp_path / ("a-folder-with-a-long-name-" * 4) / "spec.yaml"
    deep.parent.mkdir()
    deep.write_text("name: [unclosed\n")
    for columns in ("40", "80"):
        monkeypatch.setenv("COLUMNS", columns)
        result = CliRunner().invoke(app, ["validate", str(deep)])
        assert result.exit_code == 2
        assert str(deep) in result.output, result.output


def test_resume_of_a_folder_without_a_study(tmp_path):
    result = CliRunner().invoke(app, ["resume", str(tmp_path)])
    assert result.exit_code == 2
    assert "no study here" in " ".join(result.output.split())


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
