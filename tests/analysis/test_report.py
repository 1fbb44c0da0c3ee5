"""The interactive figures: what a reader can hover and click (the page itself: test_report_page)."""

from analysis.aggregate import language_scores, overall_scores, seed_means, task_scores
from analysis.gains import gains_over_baseline, size_comparison
from analysis.languages import language_gain_table
from analysis.pareto import ALL_SIZES, study_fronts
from analysis.report import (
    LEGEND,
    dev_vs_zero_shot_figure,
    gains_figure,
    language_heatmap_figure,
    pareto_figure,
    size_comparison_figure,
)
from analysis.transfer import dev_vs_zero_shot, rank_correlation


def _points(study):
    return seed_means(overall_scores(study).assign(target_task="overall"))


def test_pareto_figure_groups_every_trace_of_a_size_and_hovers_the_configuration(small_study):
    points = _points(small_study)
    fig = pareto_figure(points, study_fronts(points, objective="target_task"))
    groups = [trace.legendgroup for trace in fig.data]
    assert set(groups) == {"small", "large", ALL_SIZES}
    # one legend entry per size (and one for the front across sizes): a click on it isolates the size
    assert [t.name for t in fig.data if t.showlegend] == ["small", "large", "front across sizes"]
    assert fig.layout.legend.itemclick == LEGEND["itemclick"] == "toggleothers"
    assert fig.layout.legend.groupclick == "togglegroup"
    hover = fig.data[0].text[0]
    assert "lr = 1e-05" in hover and "seeds 0,1,2" in hover and "small" in hover



def test_pareto_figure_draws_zero_cost_as_a_line_on_a_log_axis(small_study):
    points = _points(small_study)  # FLOPs from 270M params x 100 steps to 3.5B x 1000: over 2 decades
    fig = pareto_figure(points, study_fronts(points, objective="target_task"))
    assert fig.layout.xaxis2.type == "log"
    baselines = [t for t in fig.data if t.name.endswith("baseline")]
    assert len(baselines) == 2 and all(t.mode == "lines" and t.y[0] == t.y[1] for t in baselines)
    assert all(min(t.x) > 0 for t in fig.data if t.xaxis == "x2")
    one_size = points[points.model == "large"]  # one decade: a linear axis, the baseline drawn at 0
    fig = pareto_figure(one_size, study_fronts(one_size, objective="target_task"))
    assert fig.layout.xaxis2.type == "linear"
    assert not [t for t in fig.data if t.name.endswith("baseline")]
    assert min(min(t.x) for t in fig.data if t.xaxis == "x2") == 0.0


def test_gains_and_size_comparison_figures_carry_their_intervals(small_study):
    overall = overall_scores(small_study).assign(target_task="overall")
    gains = gains_over_baseline(task_scores(small_study))
    fig = gains_figure(gains, objective="target_task")
    first = fig.data[0]
    assert (first.legendgroup, first.name) == ("small", "small, mnli")
    assert list(first.x) == [100, 1000] and list(first.y) == [2.0, 3.0]
    assert list(first.error_y.array) == [0.0, 0.0]
    assert sum(t.showlegend for t in fig.data) == 2  # one legend entry per line, shown in the first panel
    comparison = size_comparison(overall)
    fig = size_comparison_figure(comparison, objective="target_task")
    assert fig.data[0].legendgroup == "large vs small"
    assert "within noise" in fig.data[0].text[0] or "grows" in fig.data[0].text[0] or "shrinks" in fig.data[0].text[0]


def test_heatmap_and_scatter_figures(small_study):
    table = language_gain_table(gains_over_baseline(language_scores(small_study)))
    fig = language_heatmap_figure(table)
    assert [t.type for t in fig.data] == ["heatmap", "heatmap"]
    assert fig.data[0].zmid == 0.0 and fig.data[0].zmin == -fig.data[0].zmax
    assert list(fig.data[0].y) == ["de", "en"] and list(fig.data[0].x) == ["100", "1000"]
    points = dev_vs_zero_shot(small_study)
    fig = dev_vs_zero_shot_figure(points, rank_correlation(points))
    assert "Spearman rho = 1.00 (n = 9)" in fig.layout.annotations[0].text
    assert {t.legendgroup for t in fig.data} == {"small", "large"}
    assert "config" not in fig.data[0].text[0] and "lr = 1e-05" in fig.data[0].text[0]
