"""`analysis.figures`: one description per figure, which the static and the interactive renderer both draw."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure as MplFigure

from analysis import figures, plots, report
from analysis.figures import (
    GAIN_LABEL,
    OBJECTIVE,
    STEPS_LABEL,
    objective_label,
    objectives,
    spans_decades,
)
from analysis.pareto import FLOPS_AXIS, STEPS_AXIS
from analysis.tables import analyse


def test_objectives_put_the_overall_score_first():
    frame = pd.DataFrame({OBJECTIVE: ["xquad", "overall", "panx", "xquad"]})
    assert objectives(frame) == ["overall", "panx", "xquad"]
    assert objectives(frame.iloc[:0]) == [] and objectives(pd.DataFrame({"other": [1]})) == []
    assert objectives(pd.DataFrame({"o": ["b", "a"]}), "o") == ["a", "b"]


def test_a_log_axis_beyond_two_decades():
    assert not spans_decades(pd.Series([0, 10, 100]))  # zero does not count
    assert spans_decades(pd.Series([0, 10, 10_000]))
    assert not spans_decades(pd.Series([0.0, np.nan]))


def test_the_pareto_description(small_study):
    tables = analyse(small_study)
    points = tables.points[tables.points[OBJECTIVE] == "overall"]
    spec = figures.pareto(points, tables.fronts[tables.fronts[OBJECTIVE] == "overall"], "overall")
    assert [p.x for p in spec.panels] == [STEPS_AXIS, FLOPS_AXIS]
    assert [p.log_x for p in spec.panels] == [False, True]  # FLOPs from 270M x 100 steps to 3.5B x 1000
    assert set(spec.panels[0].fronts.cost_axis) == {STEPS_AXIS} and set(spec.panels[1].fronts.cost_axis) == {FLOPS_AXIS}
    assert spec.sizes == ["small", "large"] and spec.y_label == objective_label("overall")
    # Both renderers draw it: the same titles in the static and the interactive figure.
    interactive = report.pareto_figure(points, tables.fronts[tables.fronts[OBJECTIVE] == "overall"])
    assert [a.text for a in interactive.layout.annotations] == [p.title for p in spec.panels]
    assert interactive.layout.title.text == spec.title
    assert interactive.layout.xaxis2.type == "log" and interactive.layout.xaxis.type in (None, "linear")


def test_the_gains_description_and_both_renderers(small_study, tmp_path):
    tables = analyse(small_study)
    spec = figures.gains(tables.gains, OBJECTIVE)
    assert [p.key for p in spec.panels] == ["overall", "xnli", "xquad"]
    assert all((p.rows.intermediate_steps > 0).all() for p in spec.panels)  # the trained rows only
    assert spec.y_label == GAIN_LABEL and spec.interactive_y_label == "gain (points)"
    assert spec.extra["tasks"] == ["mnli"] and spec.interval == ("ci_low", "ci_high")
    interactive = report.gains_figure(tables.gains, OBJECTIVE)
    assert interactive.layout.title.text == spec.interactive_title
    assert [a.text for a in interactive.layout.annotations if a.text in spec.panels[0].title] == ["overall"]
    # The static panel draws the same rows.
    ax = plots.draw_gains(MplFigure().add_subplot(), spec.panels[0].rows, spec.sizes)
    assert ax.containers[0].lines[0].get_ydata().tolist() == spec.panels[0].rows.query("model == 'small'").gain.tolist()


def test_the_size_comparison_description(small_study):
    tables = analyse(small_study)
    spec = figures.size_comparison(tables.size_comparison, OBJECTIVE)
    assert [p.key for p in spec.panels] == ["overall", "xnli", "xquad"]
    assert [tuple(pair) for pair in spec.extra["pairs"]] == [("small", "large")]
    empty = figures.size_comparison(tables.size_comparison.iloc[:0], OBJECTIVE)
    assert [p.key for p in empty.panels] == ["overall"] and empty.extra["pairs"] == []


def test_the_language_description(small_study):
    tables = analyse(small_study)
    spec = figures.language_gains(tables.language_views["language"], "language")
    assert [p.key for p in spec.panels] == ["small", "large"]
    assert spec.panels[0].rows.index.tolist() == ["de", "en"] and spec.panels[0].x_label == STEPS_LABEL
    assert spec.extra["limit"] == np.abs(tables.language_views["language"].gain).max()
    interactive = report.language_heatmap_figure(tables.language_views["language"])
    np.testing.assert_array_equal(interactive.data[0].z, spec.panels[0].rows.to_numpy(dtype=float))


def test_the_signal_description_titles_each_size_with_its_rank_correlation(small_study):
    tables = analyse(small_study)
    spec = figures.dev_vs_zero_shot(tables.dev_vs_zero_shot, tables.rank_correlation)
    assert [p.title for p in spec.panels] == [f"{m}: Spearman rho = 1.00 (n = 9)" for m in ("small", "large")]
    assert [p.interactive_title for p in spec.panels] == [p.title for p in spec.panels]
    assert spec.extra["steps"] == [0, 100, 1000]
    # Without a finite rho the interactive title says why; the static one keeps the number.
    nan = tables.rank_correlation.assign(rho=np.nan)
    spec = figures.dev_vs_zero_shot(tables.dev_vs_zero_shot, nan)
    assert spec.panels[0].title.startswith("small: Spearman rho = ") and spec.panels[0].title.endswith("(n = 9)")
    assert spec.panels[0].interactive_title == "small: too few points for a rank correlation"
