"""`xstudy recommend`: the recommendation per size, as JSON or a table, also from a study still running."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from study.cli import app
from written_study import write_study


def test_recommend_prints_json_per_size(tmp_path):
    uri = write_study(str(tmp_path / "syn"))
    result = CliRunner().invoke(app, ["recommend", uri, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["budget"] == "within 0.5 points of the plateau gain"
    rows = {r["model"]: r for r in out["recommendations"]}
    assert rows["small"]["intermediate_task"] == "nli" and rows["small"]["steps"] == 1000
    assert rows["large"]["steps"] == 100 and rows["large"]["extrapolated"] is False
    assert "best measured milestone" in rows["small"]["why"]


def test_recommend_reads_a_running_study_and_says_what_is_missing(tmp_path):
    # Only the baselines and the small size's first milestone have finished.
    skip = {(m, "nli", s, steps) for m in ("small", "large") for s in (0, 1, 2) for steps in (100, 1000)}
    uri = write_study(str(tmp_path / "running"), skip=skip - {("small", "nli", s, 100) for s in (0, 1, 2)})
    result = CliRunner().invoke(app, ["recommend", uri, "--json", "--budget-gpu-hours", "2"])
    assert result.exit_code == 0, result.output
    rows = {r["model"]: r for r in json.loads(result.output)["recommendations"]}
    assert set(rows) == {"small"}  # the large size has no trained milestone yet
    assert "GPU-hours not measured" in rows["small"]["why"]
    table = CliRunner().invoke(app, ["recommend", uri])
    assert table.exit_code == 0 and "small" in table.output


def test_recommend_refuses_a_folder_without_a_study(tmp_path):
    result = CliRunner().invoke(app, ["recommend", str(tmp_path)])
    assert result.exit_code == 2 and "no study here" in " ".join(result.output.split())
