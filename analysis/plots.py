"""Figures drawn from the tables that `analysis.aggregate` and `analysis.pareto` compute; no analysis here.

Figures are built as `matplotlib.figure.Figure` on an Agg canvas rather than through pyplot, so drawing
needs no display, holds no global figure state, and works the same in tests, scripts and notebooks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.pareto import ALL_SIZES

COST_LABELS = {
    "intermediate_flops": "intermediate-training FLOPs (6 x params x tokens)",
    "intermediate_tokens": "intermediate-training tokens (non-padding)",
    "intermediate_examples": "intermediate-training examples",
    "intermediate_steps": "intermediate-training steps (optimizer steps)",
    "intermediate_seconds": "intermediate-training wall time (s)",
}
SCORE_LABEL = "zero-shot score (mean over tasks, 0-100)"
# Beyond this many decades (a factor of 100) between the smallest and largest positive cost, a linear axis
# squeezes the cheap milestones against zero.
LOG_SPAN_DECADES = 2.0


def plot_pareto(
    overall: pd.DataFrame,
    front: pd.DataFrame,
    out_path_png: Path,
    cost: str = "intermediate_flops",
    title: str | None = None,
    score: str = "score",
    ylabel: str = SCORE_LABEL,
) -> list[Path]:
    """Draw score against cost, every point and each front, and write it as PNG and SVG.

    Args:
        overall: the points, e.g. `analysis.aggregate.overall_scores`; needs `model`, `cost` and `score`
            (and uses `model_params`, when present, to order sizes from small to large).
        front: `analysis.pareto.frontier_table(overall, cost, ...)`; each value of its `front` column is
            drawn as one step line.
        out_path_png: where the PNG goes; the SVG goes next to it with the suffix ".svg". Parent folders
            are created.
        cost, score: the columns on the x and y axes.
        title: the figure's title; by default it names the axes.
        ylabel: the y-axis label.

    Returns:
        [png_path, svg_path].

    See `draw_pareto` for what is drawn and how a zero cost is shown on a log axis.
    """
    out_png = Path(out_path_png)
    out_svg = out_png.with_suffix(".svg")
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(7.0, 4.5), layout="constrained")  # inches
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    draw_pareto(ax, overall, front, cost=cost, score=score, ylabel=ylabel)
    ax.set_title(title if title is not None else f"Zero-shot score against {_cost_label(cost)}")
    fig.savefig(out_png, dpi=150)
    fig.savefig(out_svg)
    return [out_png, out_svg]


def draw_pareto(
    ax: Axes,
    overall: pd.DataFrame,
    front: pd.DataFrame,
    cost: str = "intermediate_flops",
    score: str = "score",
    ylabel: str = SCORE_LABEL,
) -> Axes:
    """Draw onto `ax`: one scatter series per model size, one step line per front; returns `ax`.

    Colours: one per model size, in order of `model_params` (or name), shared by that size's points and
    front; a front across sizes (`front == ALL_SIZES`) is drawn in black, dashed. The step line is drawn
    "post": the score reached at a front point holds, at any greater cost, until the next front point.

    x scale: log when the positive costs span more than `LOG_SPAN_DECADES` decades. A log axis cannot show
    the step-0 baseline's zero cost, so the axis is then symlog: linear between 0 and the largest power of
    ten not above the smallest positive cost, logarithmic beyond. The baseline therefore sits at the left
    edge, at its true value 0, and every other point keeps its place on the log scale.
    """
    order = ["model_params", "model"] if "model_params" in overall.columns else ["model"]
    sizes = overall.drop_duplicates("model").sort_values(order, kind="mergesort")["model"].tolist()
    palette = [f"C{i % 10}" for i in range(len(sizes))]
    colours = dict(zip(sizes, palette, strict=True))

    for model in sizes:
        points = overall[overall["model"] == model]
        ax.scatter(points[cost], points[score], s=18, alpha=0.6, color=colours[model], label=_size_label(points))
    labels = front["front"].drop_duplicates().tolist() if "front" in front.columns else []
    # Fronts in the legend follow the sizes' order; a front of anything else comes after them.
    labels.sort(key=lambda label: sizes.index(label) if label in sizes else len(sizes))
    for label in labels:
        line = front[front["front"] == label].sort_values(cost, kind="mergesort")
        across_sizes = label == ALL_SIZES
        ax.step(
            line[cost],
            line[score],
            where="post",
            color="black" if across_sizes else colours.get(label, "black"),
            linestyle="--" if across_sizes else "-",
            linewidth=1.5,
            label="front across sizes" if across_sizes else f"{label} front",
        )

    positive = overall.loc[overall[cost] > 0, cost].to_numpy(dtype=float)
    if positive.size and np.log10(positive.max() / positive.min()) > LOG_SPAN_DECADES:
        ax.set_xscale("symlog", linthresh=10.0 ** np.floor(np.log10(positive.min())), linscale=0.5)
    ax.set_xlabel(_cost_label(cost))
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # an empty table draws empty axes, without a legend warning
        ax.legend(fontsize="small")
    return ax


def _cost_label(cost: str) -> str:
    return COST_LABELS.get(cost, cost)


def _size_label(points: pd.DataFrame) -> str:
    model = str(points["model"].iloc[0])
    if "model_params" not in points.columns:
        return model
    params = float(points["model_params"].iloc[0])
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if params >= scale:
            return f"{model} ({params / scale:.3g}{unit} params)"
    return f"{model} ({params:.0f} params)"
