"""`analysis.tables.analyse`: every table of the report from one results table, with no study I/O."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import aggregate, pareto
from analysis.curves import BAND_COLUMNS
from analysis.languages import UNKNOWN, language_table
from analysis.tables import GROUPINGS, Tables, analyse


@pytest.fixture
def tables(small_study) -> Tables:
    return analyse(small_study)


def test_every_table_covers_the_overall_score_and_each_target_task(tables):
    objectives = {"overall", "xnli", "xquad"}
    assert set(tables.points.target_task) == objectives
    assert set(tables.fronts.target_task) == objectives
    assert set(tables.gains.target_task) == objectives
    assert set(tables.size_comparison.target_task) == objectives
    assert set(tables.language_views) == {"language", *GROUPINGS}
    assert set(tables.rank_correlation.model) == {"small", "large"}
    assert tables.recommendation["model"].tolist() == ["small", "large"]


def test_the_front_table_holds_every_front(small_study, tables):
    """Moved from the export's tests: the fronts are the frontier of the seed means, per size on steps and
    across sizes on FLOPs, and the baseline (cost 0) is on every one of them."""
    front = tables.fronts
    assert set(front.cost_axis) == {pareto.STEPS_AXIS, pareto.FLOPS_AXIS}
    points = aggregate.seed_means(aggregate.overall_scores(small_study).assign(target_task="overall"))
    expected = pareto.frontier_table(points, cost=pareto.STEPS_AXIS, by="model")
    overall_steps = front[(front.target_task == "overall") & (front.cost_axis == pareto.STEPS_AXIS)]
    assert overall_steps.trial_ids.tolist() == expected.trial_ids.tolist()
    for _, one in front.groupby(["target_task", "cost_axis"]):
        assert 0 in one.intermediate_steps.tolist()


def test_gains_over_the_baseline(tables):
    small = tables.gains[(tables.gains.model == "small") & (tables.gains.target_task == "overall")]
    assert small.set_index("intermediate_steps")["gain"].to_dict() == pytest.approx({0: 0.0, 100: 2.0, 1000: 3.0})
    assert (small[small.intermediate_steps > 0].n_seeds == 3).all()


def test_languages_get_their_properties_and_unlisted_ones_are_unknown(small_study):
    tables = analyse(small_study)
    assert set(tables.language_gains.family) == {"Indo-European"} and set(tables.language_gains.script) == {"Latin"}
    # A property table without German: its rows keep their gains, grouped as unknown.
    properties = language_table()
    properties = properties[properties.language != "de"]
    tables = analyse(small_study, properties=properties)
    german = tables.language_gains[tables.language_gains.language == "de"]
    assert not german.empty and set(german.family) == {UNKNOWN} and set(german.script) == {UNKNOWN}
    assert UNKNOWN in set(tables.language_views["family"]["family"])


def test_bands_of_the_fitted_curves(tables, small_study):
    score = tables.bands("score")
    assert list(score.columns) == BAND_COLUMNS and not score.empty
    assert set(score.quantity) == {"score"} and set(tables.bands("gain").quantity) == {"gain"}
    without = Tables(**{**tables.__dict__, "curves": None})
    assert without.bands("score").empty and list(without.bands("score").columns) == BAND_COLUMNS


def test_analyse_is_a_pure_function_of_its_arguments(small_study):
    before = small_study.copy()
    first, second = analyse(small_study), analyse(small_study)
    pd.testing.assert_frame_equal(small_study, before)  # the input is not changed
    for name in ("points", "fronts", "gains", "size_comparison", "language_gains", "dev_vs_zero_shot"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))
