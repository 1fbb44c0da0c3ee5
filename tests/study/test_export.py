"""`xstudy export`: the report folder's table, CSV, front and plots, from rows written by real trials."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from analysis import aggregate, pareto
from study import launch, results, storage
from study.cli import app
from study.trial import Trial
from helpers import small_spec


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    spec = small_spec(str(root), name="ex", models=[
        {"name": "tiny", "source": {"builtin": "tiny", "mlm_steps": 60}, "batch_size": 16, "max_length": 48, "steps": [0, 10, 20]},
    ])
    storage.write_text_atomic(f"{root}/ex/spec.json", spec.model_dump_json())
    for i, task in enumerate(["none", "builtin_nli"]):
        config = {"model": "tiny", "intermediate_task": task, "seed": 0, "intermediate_lr": 1e-3, "target_lr": 1e-3}
        Trial(spec, config, f"trial{i}").run(lambda metrics, folder: None)
    return launch.study_uri(spec)


def test_export_writes_the_report(study):
    result = CliRunner().invoke(app, ["export", study])
    assert result.exit_code == 0, result.output
    report = f"{study}/report"
    table = pd.read_parquet(f"{report}/results.parquet")
    assert list(table.columns) == list(results.COLUMNS)
    pd.testing.assert_frame_equal(table, results.collect(study))
    csv = pd.read_csv(f"{report}/results.csv")
    assert len(csv) == len(table)
    assert set(table.intermediate_steps) == {0, 10, 20}
    png = open(f"{report}/pareto.png", "rb").read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert open(f"{report}/pareto.svg").read().lstrip().startswith("<?xml")
    front = pd.read_csv(f"{report}/pareto_front.csv")
    expected = pareto.frontier_table(aggregate.overall_scores(table), cost="intermediate_flops", by="model")
    assert front.trial_id.tolist() == expected.trial_id.tolist()
    # The baseline costs nothing, so it is always on the front.
    assert 0 in front.intermediate_steps.tolist()


def test_export_of_a_folder_without_a_study(tmp_path):
    result = CliRunner().invoke(app, ["export", str(tmp_path)])
    assert result.exit_code == 2 and "no study here" in " ".join(result.output.split())
