"""Kept as one module: it is the one matplotlib renderer of six figures, each a `plot_*` (the file) and a
`draw_*` (one panel, which tests and notebooks call on their own axes), and they share its helpers
(`draw_bands`, `_panels`, `_save`, `_steps_axis`); a split would only move those helpers away from them.

Static figures (PNG and SVG) drawn from the tables that `analysis/` computes (fronts, gains, size comparison,
per-language gains, dev against zero-shot); no analysis here. What each figure shows (panels, columns, titles,
labels, log axes) is described once in `analysis.figures`, which the interactive report draws too; this
module draws those descriptions with matplotlib.

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

from analysis import figures
from analysis.aggregate import MILESTONE
from analysis.figures import (
    DIFFERENCE_LABEL,
    GAIN_LABEL,
    ONE_SEED,
    SCORE_LABEL,
    SIGNAL_LABEL,
    STEPS_LABEL,
    ZERO_SHOT_LABEL,
    cost_label,
    size_order,
    spans_decades,
)
from analysis.pareto import ALL_SIZES, OVERALL


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
    ax.set_title(title if title is not None else f"Zero-shot score against {cost_label(cost)}")
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
    "post": the score reached at a front point holds, at any greater cost, until the next front point;
    open circles mark the front's points.

    x scale: log when the positive costs span more than `LOG_SPAN_DECADES` decades. A log axis cannot show
    the step-0 baseline's zero cost, so the axis is then symlog: linear between 0 and the largest power of
    ten not above the smallest positive cost, logarithmic beyond. The baseline therefore sits at the left
    edge, at its true value 0, and every other point keeps its place on the log scale.
    """
    sizes = size_order(overall)
    colours = size_colours(sizes)

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
            # Open circles mark the front's points, so a front of one point (a baseline nothing beats) shows.
            marker="o",
            markersize=9,
            markerfacecolor="none",
            label="front across sizes" if across_sizes else f"{label} front",
        )

    if spans_decades(overall[cost]):
        smallest = overall.loc[overall[cost] > 0, cost].to_numpy(dtype=float).min()
        ax.set_xscale("symlog", linthresh=10.0 ** np.floor(np.log10(smallest)), linscale=0.5)
    ax.set_xlabel(cost_label(cost))
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # an empty table draws empty axes, without a legend warning
        ax.legend(fontsize="small")
    return ax


def _size_label(points: pd.DataFrame) -> str:
    model = str(points["model"].iloc[0])
    if "model_params" not in points.columns:
        return model
    params = float(points["model_params"].iloc[0])
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if params >= scale:
            return f"{model} ({params / scale:.3g}{unit} params)"
    return f"{model} ({params:.0f} params)"


def size_colours(sizes: list[str]) -> dict[str, str]:
    """One matplotlib cycle colour per size, in the given order (the same colours in every figure)."""
    return {size: f"C{i % 10}" for i, size in enumerate(sizes)}


PANEL_WIDTH, PANEL_HEIGHT = 5.0, 4.0  # inches per panel
DPI = 150  # PNG resolution, dots per inch


def draw_bands(ax: Axes, bands: pd.DataFrame | None, x: str, colours: dict[str, str]) -> None:
    """Fitted curves (`analysis.curves.bands`) through the points: the mean curve as a thin line, solid over
    the measured milestones and dotted past the last one (an extrapolation), and its 95% band shaded."""
    if bands is None or bands.empty:
        return
    # The axes keep the points' range: a band that is wide (one seed, few milestones) runs off the panel
    # instead of squeezing the measured points into a line.
    ylim = ax.get_ylim()
    for (model, _task), line in bands.groupby(["model", "intermediate_task"], sort=True):
        line = line.sort_values(x)
        if ax.get_xscale() != "linear":
            line = line[line[x] > 0]
        colour = colours.get(model, "grey")
        measured, beyond = line[~line["extrapolated"]], line[line["extrapolated"]]
        ax.plot(measured[x], measured["mean"], color=colour, linewidth=0.9, alpha=0.8)
        ax.plot(beyond[x], beyond["mean"], color=colour, linewidth=0.9, alpha=0.8, linestyle=":")
        finite = line[np.isfinite(line["low"]) & np.isfinite(line["high"])]
        if not finite.empty:
            ax.fill_between(finite[x], finite["low"], finite["high"], color=colour, alpha=0.12, linewidth=0)
    ax.set_ylim(ylim)


def plot_fronts(
    points: pd.DataFrame, fronts: pd.DataFrame, out_path_png: Path, objective: str = OVERALL, title: str | None = None,
    bands: pd.DataFrame | None = None,
) -> list[Path]:
    """Two panels for one objective: each size's front on steps, and the front across sizes on FLOPs.

    `points` are the objective's points (e.g. `analysis.aggregate.seed_means`), `fronts` the rows of
    `analysis.pareto.study_fronts` for that objective (its `cost_axis` says which panel a front belongs to).
    `bands`: the objective's fitted score curves (`analysis.curves.bands`), drawn through the points with
    their 95% bands (`draw_bands`). Writes PNG and SVG; returns [png, svg].
    """
    spec = figures.pareto(points, fronts, objective, bands)
    fig = Figure(figsize=(2 * PANEL_WIDTH, PANEL_HEIGHT + 0.4), layout="constrained")
    FigureCanvasAgg(fig)
    colours = size_colours(spec.sizes)
    for ax, panel in zip(fig.subplots(1, 2), spec.panels, strict=True):
        draw_pareto(ax, panel.rows, panel.fronts, cost=panel.x, ylabel=spec.y_label)
        draw_bands(ax, panel.bands, panel.x, colours)
        ax.set_title(panel.title, fontsize="medium")
    fig.suptitle(title if title is not None else spec.title)
    return _save(fig, out_path_png)


def draw_gains(ax: Axes, gains: pd.DataFrame, sizes: list[str] | None = None, bands: pd.DataFrame | None = None) -> Axes:
    """Gain against steps with its interval: one line per (size, intermediate task), one colour per size.

    `gains`: rows of `analysis.gains.gains_over_baseline` for one objective. The step-0 rows (gain 0 by
    construction) are the dashed line at 0. Markers tell the intermediate tasks apart. A point without an
    interval (one seed) has no bar and is labelled "1 seed". `bands`: fitted gain curves with their 95% bands
    (`analysis.curves.bands`, one objective), drawn through the points.
    """
    sizes = sizes or size_order(gains)
    colours = size_colours(sizes)
    trained = gains[gains[MILESTONE] > 0].dropna(subset=["gain"])
    tasks = sorted(trained["intermediate_task"].unique())
    markers = dict(zip(tasks, "osD^vP*Xh<>", strict=False))
    for model in sizes:
        for task in tasks:
            line = trained[(trained["model"] == model) & (trained["intermediate_task"] == task)].sort_values(MILESTONE)
            if line.empty:
                continue
            yerr = np.vstack([line["gain"] - line["ci_low"], line["ci_high"] - line["gain"]])
            ax.errorbar(
                line[MILESTONE], line["gain"], yerr=yerr, color=colours[model], marker=markers.get(task, "o"),
                markersize=5, capsize=3, linewidth=1.2, label=f"{model}, {task}",
            )
            _label_without_interval(ax, line[MILESTONE], line["gain"], line["n_seeds"], colours[model])
    ax.axhline(0.0, color="grey", linestyle="--", linewidth=1, label="baseline (step 0)")
    _steps_axis(ax, trained[MILESTONE])
    if bands is not None and not bands.empty:
        draw_bands(ax, bands[bands["model"].isin(sizes) & bands["intermediate_task"].isin(tasks)], MILESTONE, colours)
    ax.set_ylabel(GAIN_LABEL)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="x-small")
    return ax


def plot_gains(gains: pd.DataFrame, out_path_png: Path, objective: str = "objective",
               bands: pd.DataFrame | None = None) -> list[Path]:
    """One `draw_gains` panel per objective (the overall score first), with the fitted gain curves of
    `bands` (`analysis.curves.bands`, column `target_task` naming the objective) when given; writes PNG and SVG."""
    spec = figures.gains(gains, objective, bands)
    fig, axes = _panels(len(spec.panels))
    for ax, panel in zip(axes, spec.panels, strict=True):
        draw_gains(ax, panel.rows, spec.sizes, bands=panel.bands)
        ax.set_title(panel.title, fontsize="medium")
    fig.suptitle(spec.title)
    return _save(fig, out_path_png)


def draw_size_comparison(ax: Axes, comparison: pd.DataFrame) -> Axes:
    """Difference of gains (larger - smaller size) against steps, with its interval, per (pair, task).

    `comparison`: rows of `analysis.gains.size_comparison` for one objective. Above the 0 line the gain grows
    with size; filled markers are differences outside the noise, hollow ones are within it.
    """
    if comparison.empty:
        ax.text(0.5, 0.5, "no step count shared by two sizes", ha="center", va="center", transform=ax.transAxes)
        return ax
    pairs = comparison[["smaller", "larger"]].drop_duplicates().itertuples(index=False)
    tasks = sorted(comparison["intermediate_task"].unique())
    markers = dict(zip(tasks, "osD^vP*Xh<>", strict=False))
    for i, (smaller, larger) in enumerate(pairs):
        for task in tasks:
            line = comparison[
                (comparison["smaller"] == smaller) & (comparison["larger"] == larger) & (comparison["intermediate_task"] == task)
            ].sort_values(MILESTONE)
            if line.empty:
                continue
            yerr = np.vstack([line["difference"] - line["ci_low"], line["ci_high"] - line["difference"]])
            colour = f"C{i % 10}"
            ax.errorbar(line[MILESTONE], line["difference"], yerr=yerr, color=colour, linewidth=1.2, capsize=3,
                        marker="none", label=f"{larger} - {smaller}, {task}")
            seeds = np.minimum(line["n_seeds_smaller"], line["n_seeds_larger"])
            _label_without_interval(ax, line[MILESTONE], line["difference"], seeds, colour)
            real = line["verdict"].isin(["grows", "shrinks"])
            ax.scatter(line.loc[real, MILESTONE], line.loc[real, "difference"], color=colour, marker=markers[task], zorder=3)
            ax.scatter(line.loc[~real, MILESTONE], line.loc[~real, "difference"], facecolors="white", edgecolors=colour,
                       marker=markers[task], zorder=3)
    ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
    _steps_axis(ax, comparison[MILESTONE])
    ax.set_ylabel(DIFFERENCE_LABEL)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="x-small")
    return ax


def plot_size_comparison(comparison: pd.DataFrame, out_path_png: Path, objective: str = "objective") -> list[Path]:
    """One `draw_size_comparison` panel per objective; writes PNG and SVG."""
    spec = figures.size_comparison(comparison, objective)
    fig, axes = _panels(len(spec.panels))
    for ax, panel in zip(axes, spec.panels, strict=True):
        draw_size_comparison(ax, panel.rows)
        ax.set_title(panel.title, fontsize="medium")
    fig.suptitle(spec.title)
    return _save(fig, out_path_png)


def draw_language_heatmap(ax: Axes, matrix: pd.DataFrame, limit: float, annotate: bool = True):
    """Draw a `heatmap_matrix` (rows: languages or groups; columns: steps) on a diverging scale.

    Colours run from blue (a loss) through white (0) to red (a gain), symmetric in +-`limit` points, so
    every panel of a figure shares one scale. Returns the image, for a colour bar.
    """
    image = ax.imshow(matrix.to_numpy(dtype=float), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(matrix.shape[1]), [str(c) for c in matrix.columns])
    ax.set_yticks(range(matrix.shape[0]), [str(r) for r in matrix.index], fontsize="small")
    ax.set_xlabel(STEPS_LABEL)
    if annotate and matrix.size <= 400:  # cells; beyond that the numbers no longer fit
        for (i, j), value in np.ndenumerate(matrix.to_numpy(dtype=float)):
            if not np.isnan(value):
                # Dark cells (beyond 60% of the scale) get white text, so the number stays readable.
                colour = "white" if abs(value) > 0.6 * limit else "black"
                ax.text(j, i, f"{value:+.1f}", ha="center", va="center", fontsize="x-small", color=colour)
    return image


def plot_language_gains(table: pd.DataFrame, out_path_png: Path, by: str = "language") -> list[Path]:
    """One heatmap per size (small to large) of `language_gain_table(..., by=by)`; writes PNG and SVG."""
    spec = figures.language_gains(table, by)
    height = max(PANEL_HEIGHT, 0.25 * max(1, spec.extra["n_rows"]) + 1.5)  # inches: about a quarter inch per row
    fig = Figure(figsize=(PANEL_WIDTH * max(1, len(spec.panels)), height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, max(1, len(spec.panels))))
    image = None
    for ax, panel in zip(axes, spec.panels, strict=False):
        image = draw_language_heatmap(ax, panel.rows, spec.extra["limit"])
        ax.set_title(panel.title, fontsize="medium")
        ax.set_ylabel(spec.y_label)
    if image is not None:
        fig.colorbar(image, ax=list(axes), label=spec.extra["colour_label"], shrink=0.8)
    fig.suptitle(spec.title)
    return _save(fig, out_path_png)


def draw_dev_vs_zero_shot(ax: Axes, points: pd.DataFrame, steps: list[int]) -> Axes:
    """English dev against zero-shot, one colour per step count (the same `steps` order in every panel)."""
    colours = dict(zip(steps, _viridis(len(steps)), strict=True))
    for value in steps:
        at = points[points[MILESTONE] == value]
        if not at.empty:
            ax.scatter(at["dev"], at["zero_shot"], s=22, alpha=0.8, color=colours[value], label=f"{value} steps")
    ax.set_xlabel(SIGNAL_LABEL)
    ax.set_ylabel(ZERO_SHOT_LABEL)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="x-small")
    return ax


def plot_dev_vs_zero_shot(points: pd.DataFrame, correlations: pd.DataFrame, out_path_png: Path) -> list[Path]:
    """One `draw_dev_vs_zero_shot` panel per size, titled with its Spearman rho over all milestones."""
    spec = figures.dev_vs_zero_shot(points, correlations)
    fig, axes = _panels(max(1, len(spec.panels)))
    for ax, panel in zip(axes, spec.panels, strict=False):
        draw_dev_vs_zero_shot(ax, panel.rows, spec.extra["steps"])
        ax.set_title(panel.title, fontsize="medium")
    fig.suptitle(spec.title)
    return _save(fig, out_path_png)


def _panels(n: int) -> tuple[Figure, list[Axes]]:
    columns = min(n, 3)
    rows = int(np.ceil(n / columns))
    fig = Figure(figsize=(PANEL_WIDTH * columns, PANEL_HEIGHT * rows + 0.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _save(fig: Figure, out_path_png: Path) -> list[Path]:
    out_png = Path(out_path_png)
    out_svg = out_png.with_suffix(".svg")
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=DPI)
    # The layout is settled by the first save; solving it again for the SVG would cost as much again.
    fig.set_layout_engine("none")
    fig.savefig(out_svg)
    return [out_png, out_svg]


def _label_without_interval(ax: Axes, x: pd.Series, y: pd.Series, n_seeds: pd.Series, colour: str) -> None:
    """Mark the points that have no interval (fewer than 2 seeds) with `ONE_SEED`, rather than no bar at all."""
    for xi, yi, n in zip(x, y, n_seeds, strict=True):
        if n < 2 and np.isfinite(yi):
            ax.annotate(ONE_SEED, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize="x-small", color=colour)


def _steps_axis(ax: Axes, steps: pd.Series) -> None:
    if spans_decades(steps):
        ax.set_xscale("log")
    ax.set_xlabel(cost_label(MILESTONE))


def _viridis(n: int) -> list[tuple[float, float, float, float]]:
    from matplotlib import colormaps

    return [colormaps["viridis"](x) for x in np.linspace(0.0, 0.9, max(n, 1))][:n]


def plot_holdout(curves_table: pd.DataFrame, out_path_png: Path) -> list[Path]:
    """The held-back-milestone check of `analysis.curves`: for every score curve refitted without its last
    milestone, the prediction there (with its 95% interval, when it has one) against the measured value;
    on the diagonal the prediction is exact. One colour per size, one marker per family of the refit.
    Writes PNG and SVG; returns [png, svg]."""
    from analysis.curves import holdout_summary

    rows = curves_table[(curves_table["quantity"] == "score")
                        & pd.to_numeric(curves_table["holdout_error"], errors="coerce").notna()]
    fig = Figure(figsize=(PANEL_WIDTH + 0.6, PANEL_HEIGHT + 0.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    sizes = size_order(rows)
    colours = size_colours(sizes)
    for model in sizes:
        mine = rows[rows["model"] == model]
        low = (mine["holdout_predicted"] - mine["holdout_ci_low"]).to_numpy(dtype=float)
        high = (mine["holdout_ci_high"] - mine["holdout_predicted"]).to_numpy(dtype=float)
        ax.errorbar(mine["holdout_measured"], mine["holdout_predicted"],
                    yerr=np.vstack([np.nan_to_num(low), np.nan_to_num(high)]), fmt="o", color=colours[model],
                    markersize=5, capsize=3, linewidth=1, alpha=0.8, label=model)
    values = pd.concat([rows["holdout_measured"], rows["holdout_predicted"]]).astype(float)
    if len(values):
        lo, hi = float(values.min()), float(values.max())
        ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--", linewidth=1, label="exact")
    summary = holdout_summary(curves_table)
    ax.set_xlabel("measured score at the last milestone (0-100)")
    ax.set_ylabel("predicted without it (0-100)")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="x-small")
    ax.set_title(f"{summary['curves']} curves: median |error| {summary['median_abs_error']:.2f} points; "
                 f"{summary['within_interval']} of {summary['with_interval']} inside the 95% interval", fontsize="small")
    fig.suptitle("Held-back milestone: each curve refitted without its last milestone")
    return _save(fig, out_path_png)
