"""`xstudy export`: the report folder's table, fronts, gains, per-language views and report, from rows
written by real trials, and from a study that is still writing them."""

from __future__ import annotations

import io
import threading

import pandas as pd
import pytest
from typer.testing import CliRunner

from analysis.tables import analyse
from study import export as exporter
from study import results, storage
from study.cli import app
from study.trial import Trial
from helpers import small_spec
from written_study import milestone_rows, trial_id, write_study

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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
    return spec.uri


@pytest.fixture(scope="module")
def exported(study):
    result = CliRunner().invoke(app, ["export", study])
    assert result.exit_code == 0, result.output
    return f"{study}/report", result.output


def test_export_writes_the_results_table(study, exported):
    report, _ = exported
    table = pd.read_parquet(f"{report}/results.parquet")
    assert list(table.columns) == list(results.COLUMNS)
    pd.testing.assert_frame_equal(table, results.collect(study))
    csv = pd.read_csv(f"{report}/results.csv")
    assert len(csv) == len(table)
    assert set(table.intermediate_steps) == {0, 10, 20}


def test_export_writes_every_figure_as_png_and_svg(exported):
    report, output = exported
    tasks = ["builtin_pos", "builtin_tatoeba", "builtin_xnli"]
    names = ["pareto", *(f"pareto_{t}" for t in tasks), "gains", "language_gains", "language_gains_family",
             "language_gains_script", "dev_vs_zero_shot"]
    for name in names:
        png = open(f"{report}/{name}.png", "rb").read()
        assert png[:8] == PNG_MAGIC and len(png) > 10_000, name  # bytes: a drawn figure, not an empty canvas
        assert open(f"{report}/{name}.svg").read().lstrip().startswith("<?xml"), name
        assert f"{name}.png" in output.replace("\n", "")  # the console may fold a long path
    # one size: nothing to compare sizes with
    assert pd.read_csv(f"{report}/size_comparison.csv").empty
    assert "size_comparison.png" not in output


def test_gains_and_signal_tables(exported):
    report, _ = exported
    gains = pd.read_csv(f"{report}/gains.csv")
    assert set(gains.target_task) == {"overall", "builtin_pos", "builtin_tatoeba", "builtin_xnli"}
    trained = gains[gains.intermediate_steps > 0]
    assert set(trained.intermediate_steps) == {10, 20} and (trained.n_seeds == 1).all()
    # One seed: no interval. The CSV leaves the bounds empty; the report marks the points "1 seed".
    assert trained.ci_low.isna().all() and trained.ci_high.isna().all()
    assert "no interval: 1 seed" in open(f"{report}/report.html", encoding="utf-8").read()
    per_language = pd.read_csv(f"{report}/language_gains.csv")
    assert {"language", "family", "script", "gain", "ci_low", "ci_high"} <= set(per_language.columns)
    assert set(per_language.family) <= {"generated", "Indo-European"}  # the demo languages and English
    correlation = pd.read_csv(f"{report}/rank_correlation.csv")
    assert correlation.model.tolist()[0] == "tiny" and correlation.n.iloc[0] == 3  # 3 (trial, milestone) points


def test_the_report_is_one_offline_page(exported):
    report, _ = exported
    page = open(f"{report}/report.html", encoding="utf-8").read()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script src" not in page.replace("'", '"') and "cdn.plot.ly/plotly" not in page
    assert page.count("Plotly.newPlot(") == 4 + 1 + 3 + 1  # fronts per objective, gains, heatmaps, signal
    assert "No step count has results from two sizes yet" in page


def test_export_reads_one_snapshot_while_trials_write(tmp_path, monkeypatch):
    """Milestone files land while the export runs; every table must still come from one and the same set."""
    uri = str(tmp_path / "live")
    late = {(m, "nli", s, steps) for m in ("small", "large") for s in (1, 2) for steps in (100, 1000)}
    write_study(uri, skip=late)
    monkeypatch.setattr(exporter, "draw", lambda tables, folder: {})  # figures are tested above; tables here
    collect = results.collect
    landed = threading.Event()

    def collect_then_write(study_uri):
        snapshot = collect(study_uri)
        if not landed.is_set():  # trials finish their milestones right after the export's read
            for model, task, seed, steps in sorted(late):
                results.write_milestone(uri, trial_id(model, task, seed), steps, milestone_rows(model, task, seed, steps))
            landed.set()
        return snapshot

    monkeypatch.setattr(exporter.results, "collect", collect_then_write)
    written = exporter.export(uri)
    assert landed.is_set()
    exported = pd.read_parquet(written["results table"])
    assert len(exported) < len(collect(uri))  # the files that landed later are not in this export
    tables = analyse(exported, properties=exporter.language_properties())
    for kind, frame in (("pareto front", tables.fronts), ("gains", tables.gains),
                        ("size comparison", tables.size_comparison), ("language gains", tables.language_gains),
                        ("rank correlation", tables.rank_correlation)):
        assert storage.read_text(written[kind]) == frame.to_csv(index=False), kind


def test_export_of_a_partial_study_says_so(tmp_path, monkeypatch):
    uri = str(tmp_path / "partial")
    # Only the baselines and one seed of the small size's intermediate trial have finished.
    skip = {(m, "nli", s, steps) for m in ("small", "large") for s in (0, 1, 2) for steps in (100, 1000)}
    write_study(uri, skip=skip - {("small", "nli", 0, 100)})
    monkeypatch.setattr(exporter, "draw", lambda tables, folder: {})
    written = exporter.export(uri)
    gains = pd.read_csv(io.StringIO(storage.read_text(written["gains"])))
    trained = gains[gains.intermediate_steps > 0]
    assert trained[["model", "intermediate_steps"]].drop_duplicates().values.tolist() == [["small", 100]]
    assert trained.gain.tolist() == pytest.approx([2.0] * 3)  # overall, panx, xnli: the small size gains 2
    page = storage.read_text(written["report"])
    assert "in progress: this is a partial snapshot" in page
    assert "No step count has results from two sizes yet" in page


def test_export_of_a_study_with_no_results_yet(tmp_path):
    storage.write_text_atomic(str(tmp_path / "empty" / "spec.json"), "{}")
    written = exporter.export(str(tmp_path / "empty"))
    assert {"results table", "pareto front", "report"} <= set(written)
    assert "Not enough finished results yet" in storage.read_text(written["report"])


def test_export_of_a_folder_without_a_study(tmp_path):
    result = CliRunner().invoke(app, ["export", str(tmp_path)])
    assert result.exit_code == 2 and "no study here" in " ".join(result.output.split())


def test_export_says_each_stage_as_it_is_done(tmp_path, monkeypatch):
    """What the command's progress bar advances on: every stage, in order, each once its files are written."""
    uri = write_study(str(tmp_path / "syn"))
    monkeypatch.setattr(exporter, "draw", lambda tables, folder: {})
    written_at: list[tuple[str, bool]] = []
    exporter.export(uri, on_stage=lambda stage: written_at.append(
        (stage, storage.exists(storage.join(uri, "report", "report.html")))))
    assert [s for s, _ in written_at] == list(exporter.STAGES)
    assert [done for _, done in written_at] == [False, False, False, True], "the report is the last stage"


def test_export_writes_curves_with_the_holdout_check_and_a_recommendation(tmp_path, monkeypatch):
    """The synthetic study's gains are 0, 2, 3 (small) and 0, 1, 1 (large) at 0, 100, 1000 steps. Held back,
    the 1000-step milestone is predicted by the line through the first two: 20 (small) and 10 (large)."""
    uri = write_study(str(tmp_path / "syn"))
    monkeypatch.setattr(exporter, "draw", lambda tables, folder: {})
    written = exporter.export(uri)
    table = pd.read_csv(io.StringIO(storage.read_text(written["curves"])))
    assert {"family", "residual_rms", "n_milestones", "n_seeds", "holdout_error", "plateau", "reason"} <= set(table.columns)
    gains = table[(table.quantity == "gain") & (table.target_task == "overall")].set_index("model")
    assert set(gains["family"]) == {"log-linear"} and (gains["n_milestones"] == 3).all() and (gains["n_seeds"] == 3).all()
    assert gains.loc["small", "holdout_error"] == pytest.approx(17.0)
    assert gains.loc["large", "holdout_error"] == pytest.approx(9.0)
    assert gains["reason"].str.contains("too few for a saturating fit").all()
    rec = pd.read_csv(io.StringIO(storage.read_text(written["recommendation"])))
    assert rec["model"].tolist() == ["small", "large"]
    assert rec["intermediate_task"].tolist() == ["nli", "nli"]
    assert rec["steps"].tolist() == [1000, 100]  # the best measured milestone; the large size gains no more after 100
    page = storage.read_text(written["report"])
    assert page.index("Recommendation: which intermediate task") < page.index("Pareto fronts")
    assert "small, nli fit" in page and "large, nli band" in page  # fitted curves and bands in the plotly figures
