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
