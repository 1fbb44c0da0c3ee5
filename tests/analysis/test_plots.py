import xml.etree.ElementTree as ET

import pandas as pd
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from analysis.aggregate import overall_scores
from analysis.pareto import frontier_table
from analysis.plots import SCORE_LABEL, draw_pareto, plot_pareto

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_plot_pareto_writes_a_png_and_an_svg(small_study, tmp_path):
    overall = overall_scores(small_study)
    front = frontier_table(overall, "intermediate_flops")
    paths = plot_pareto(overall, front, tmp_path / "figures" / "pareto.png", title="pareto")
    assert paths == [tmp_path / "figures" / "pareto.png", tmp_path / "figures" / "pareto.svg"]
    png, svg = paths
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert png.stat().st_size > 10_000  # bytes: a drawn 7 x 4.5 inch figure at 150 dpi, not an empty canvas
    assert ET.parse(svg).getroot().tag.endswith("svg")
    assert svg.stat().st_size > 10_000


def test_one_scatter_and_one_front_per_model_size(small_study):
    overall = overall_scores(small_study)
    front = frontier_table(overall, "intermediate_flops")
    ax = draw_pareto(Figure().add_subplot(), overall, front, cost="intermediate_flops")

    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [c.get_label() for c in scatters] == ["small (270M params)", "large (3.5B params)"]  # small to large
    assert [len(c.get_offsets()) for c in scatters] == [9, 9]  # 3 seeds x 3 milestones each
    assert [line.get_label() for line in ax.lines] == ["small front", "large front"]
    colour = {c.get_label().split()[0]: tuple(c.get_facecolor()[0][:3]) for c in scatters}
    for line in ax.lines:
        assert to_rgb(line.get_color()) == colour[line.get_label().split()[0]]  # a front shares its size's colour
    assert ax.get_xlabel().startswith("intermediate-training FLOPs")
    assert ax.get_ylabel() == SCORE_LABEL
    # FLOPs span more than 2 decades; the symlog axis keeps the baselines' zero cost visible.
    assert ax.get_xscale() == "symlog"
    assert min(min(c.get_offsets()[:, 0]) for c in scatters) == 0.0


def test_a_front_across_sizes_and_a_narrow_cost_range(small_study):
    overall = overall_scores(small_study)
    overall = overall[overall["intermediate_steps"] > 0]  # 100 to 1000 steps: one decade of tokens
    front = frontier_table(overall, "intermediate_tokens", by=None)
    ax = draw_pareto(Figure().add_subplot(), overall, front, cost="intermediate_tokens")
    assert [line.get_label() for line in ax.lines] == ["front across sizes"]
    assert ax.lines[0].get_linestyle() == "--"
    assert ax.get_xscale() == "linear"
    assert ax.get_xlabel().startswith("intermediate-training tokens")


def test_an_empty_front_draws_points_only(small_study, tmp_path):
    overall = overall_scores(small_study)
    empty_front = frontier_table(overall.iloc[:0], "intermediate_flops")
    ax = draw_pareto(Figure().add_subplot(), overall, empty_front)
    assert len(ax.lines) == 0
    assert all(path.exists() for path in plot_pareto(overall, pd.DataFrame(), tmp_path / "p.png"))


# ------------------------------------------------------------------ the report's other static figures
import numpy as np  # noqa: E402

from analysis.aggregate import language_scores, seed_means, task_scores  # noqa: E402
from analysis.figures import heatmap_matrix  # noqa: E402
from analysis.gains import gains_over_baseline, size_comparison  # noqa: E402
from analysis.languages import language_gain_table  # noqa: E402
from analysis.pareto import FLOPS_AXIS, STEPS_AXIS, study_fronts  # noqa: E402
from analysis.plots import (  # noqa: E402
    draw_dev_vs_zero_shot,
    draw_gains,
    draw_language_heatmap,
    draw_size_comparison,
    plot_dev_vs_zero_shot,
    plot_fronts,
    plot_gains,
    plot_language_gains,
    plot_size_comparison,
)
from analysis.transfer import dev_vs_zero_shot, rank_correlation  # noqa: E402


def _valid(paths):
    png, svg = paths
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 10_000  # bytes: a drawn figure
    assert ET.parse(svg).getroot().tag.endswith("svg")
    return True


def _overall_points(study):
    return seed_means(overall_scores(study).assign(target_task="overall"))


def test_plot_fronts_has_a_steps_panel_and_a_flops_panel(small_study, tmp_path):
    points = _overall_points(small_study)
    fronts = study_fronts(points, objective="target_task")
    paths = plot_fronts(points, fronts, tmp_path / "pareto.png")
    assert _valid(paths)
    left, right = Figure(), Figure()
    ax_steps = draw_pareto(left.add_subplot(), points, fronts[fronts.cost_axis == STEPS_AXIS], cost=STEPS_AXIS)
    ax_flops = draw_pareto(right.add_subplot(), points, fronts[fronts.cost_axis == FLOPS_AXIS], cost=FLOPS_AXIS)
    assert [line.get_label() for line in ax_steps.lines] == ["small front", "large front"]
    assert [line.get_label() for line in ax_flops.lines] == ["front across sizes"]
    # seed means: 2 sizes x 3 milestones, one point each
    assert [len(c.get_offsets()) for c in ax_steps.collections if isinstance(c, PathCollection)] == [3, 3]


def test_gains_are_drawn_with_their_intervals(small_study, tmp_path):
    gains = gains_over_baseline(task_scores(small_study))
    ax = draw_gains(Figure().add_subplot(), gains[gains.target_task == "xnli"])
    labels = [c.get_label() for c in ax.containers]
    assert labels == ["small, mnli", "large, mnli"]
    # every seed gains the same here, so each interval has zero height around the gain (2 then 3 points)
    assert ax.containers[0].lines[0].get_ydata().tolist() == [2.0, 3.0]
    assert _valid(plot_gains(gains, tmp_path / "gains.png", objective="target_task"))


def test_size_comparison_is_drawn_around_zero(small_study, tmp_path):
    comparison = size_comparison(task_scores(small_study))
    ax = draw_size_comparison(Figure().add_subplot(), comparison[comparison.target_task == "xnli"])
    assert [c.get_label() for c in ax.containers] == ["large - small, mnli"]
    assert ax.containers[0].lines[0].get_ydata().tolist() == [0.0, 0.0]  # both sizes gain 2, then 3
    assert _valid(plot_size_comparison(comparison, tmp_path / "size.png", objective="target_task"))
    empty = draw_size_comparison(Figure().add_subplot(), comparison.iloc[:0])
    assert "no step count" in empty.texts[0].get_text()


def test_language_heatmap_cells_are_the_table(small_study, tmp_path):
    table = language_gain_table(gains_over_baseline(language_scores(small_study)))
    matrix = heatmap_matrix(table, "small", "language")
    assert matrix.index.tolist() == ["de", "en"] and matrix.columns.tolist() == [100, 1000]
    assert matrix.to_numpy().tolist() == [[2.0, 3.0], [2.0, 3.0]]
    image = draw_language_heatmap(Figure().add_subplot(), matrix, limit=3.0)
    np.testing.assert_array_equal(image.get_array(), matrix.to_numpy())
    assert image.get_clim() == (-3.0, 3.0)
    assert _valid(plot_language_gains(table, tmp_path / "languages.png"))
    by_family = language_gain_table(gains_over_baseline(language_scores(small_study)), by="family")
    assert _valid(plot_language_gains(by_family, tmp_path / "families.png", by="family"))


def test_dev_vs_zero_shot_one_colour_per_step_count(small_study, tmp_path):
    points = dev_vs_zero_shot(small_study)
    ax = draw_dev_vs_zero_shot(Figure().add_subplot(), points[points.model == "small"], [0, 100, 1000])
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [c.get_label() for c in scatters] == ["0 steps", "100 steps", "1000 steps"]
    assert len({tuple(c.get_facecolor()[0]) for c in scatters}) == 3
    assert _valid(plot_dev_vs_zero_shot(points, rank_correlation(points), tmp_path / "dev.png"))


def test_holdout_plot_is_written_from_the_curves_table(tmp_path):
    import numpy as np
    import pandas as pd

    from analysis import curves, plots

    steps = (0, 100, 200, 400, 800)
    rows = [{"model": m, "intermediate_task": "nli", "target_task": "overall", "seed": seed, "intermediate_steps": s,
             "model_params": p, "score": 50 + seed + g * (1 - (1 + s / 100) ** -1.0), "gain": g * (1 - (1 + s / 100) ** -1.0),
             "intermediate_flops": 1e9 * s, "gpu_hours": np.nan}
            for m, p, g in (("a", 1, 4.0), ("b", 2, 6.0)) for seed in (0, 1) for s in steps]
    table = curves.fit_curves(pd.DataFrame(rows)).table
    summary = curves.holdout_summary(table)
    assert summary["curves"] == 2 and summary["median_abs_error"] < 0.1  # noise-free: the refit predicts it
    png, svg = plots.plot_holdout(table, tmp_path / "holdout.png")
    assert png.read_bytes().startswith(b"\x89PNG") and svg.exists()
