import math

import pandas as pd
import pytest

from analysis.transfer import dev_vs_zero_shot, rank_correlation, spearman


def test_spearman_of_known_rankings():
    # ranks 1 2 3 4 against 1 2 4 3: sum of squared rank differences 2, rho = 1 - 6 * 2 / (4 * 15) = 0.8
    rho, p = spearman([1, 2, 3, 4], [10, 20, 40, 30])
    assert rho == pytest.approx(0.8)
    assert 0 < p < 1
    assert spearman([1, 2, 3], [3, 2, 1])[0] == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [5, 9, 100])[0] == pytest.approx(1.0)  # ranks only: the scale does not matter
    assert all(math.isnan(v) for v in spearman([1, 2], [1, 2]))  # too few points
    assert all(math.isnan(v) for v in spearman([1, 1, 1], [1, 2, 3]))  # no ranking on one side


def test_rank_correlation_per_size_and_per_milestone():
    points = pd.DataFrame(
        {
            "model": ["big"] * 4 + ["tiny"] * 6,
            "model_params": [10] * 4 + [1] * 6,
            "intermediate_steps": [0, 0, 100, 100, 0, 0, 0, 100, 100, 100],
            "dev": [1, 2, 3, 4, 1, 2, 3, 1, 2, 3],
            "zero_shot": [10, 20, 40, 30, 3, 2, 1, 1, 2, 3],
        }
    )
    table = rank_correlation(points)
    assert table["model"].tolist() == ["tiny"] * 3 + ["big"] * 3  # small to large
    tiny = table[table.model == "tiny"]
    assert tiny["n"].tolist() == [6, 3, 3]
    assert pd.isna(tiny["intermediate_steps"].iloc[0])  # the first row of a size is over all its milestones
    assert tiny["intermediate_steps"].iloc[1:].tolist() == [0, 100]
    # the signal ranks the trials backwards at step 0 and right at 100 steps; pooled, the two cancel out
    assert tiny["rho"].tolist() == pytest.approx([0.0, -1.0, 1.0])
    big = table[table.model == "big"]
    assert big["rho"].iloc[0] == pytest.approx(0.8)
    assert big["rho"].iloc[1:].isna().all()  # two points per milestone: no value


def test_dev_is_the_chance_normalised_signal_asha_ranks(make_results, make_scores):
    from analysis.aggregate import asha_signal

    rows = make_scores({"xnli": {"en": 80.0}, "udpos": {"en": 60.0}}, split="dev")
    rows = [{**r, "chance": {"xnli": 40.0, "udpos": 0.0}[r["target_task"]]} for r in rows]
    rows += make_scores({"xnli": {"de": 70.0}, "udpos": {"de": 50.0}})
    points = dev_vs_zero_shot(make_results(rows))
    # xnli: 100 x (80 - 40) / 60 = 66.7; udpos: 60 -> 63.3, not the raw mean 70
    assert points["dev"].iloc[0] == pytest.approx((100 * 40 / 60 + 60) / 2)
    assert points["dev"].iloc[0] == pytest.approx(asha_signal([80.0, 60.0], [40.0, 0.0]))


def test_dev_vs_zero_shot_leaves_english_out_of_the_zero_shot_score(small_study):
    points = dev_vs_zero_shot(small_study)
    assert len(points) == 2 * 3 * 3
    level = 50.0 + 10.0 + 3.0 + 2  # large, 1000 steps, seed 2
    row = points.set_index(["model", "intermediate_steps", "seed"]).loc[("large", 1000, 2)]
    assert row["dev"] == pytest.approx(level + 17.5)  # English dev: xnli level + 20, xquad level + 15
    assert row["zero_shot"] == pytest.approx(level - 2.5)  # de only: xnli level, xquad level - 5
    assert rank_correlation(points).query("intermediate_steps.isna()")["rho"].tolist() == pytest.approx([1.0, 1.0])
