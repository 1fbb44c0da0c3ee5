"""One description of each figure of the report, which both renderers draw: `analysis.plots` (matplotlib:
the PNG and SVG files) and `analysis.report` (plotly: the interactive page).

A description (`Figure`) holds what a figure shows: its panels (each with its rows, its x column and
label, its title, whether its x axis is logarithmic, its fitted bands), the y column and label, the interval
columns, the model sizes in colour order and the title. How a renderer draws it (colours, marker glyphs,
sizes in inches or pixels, hover text, legends) stays in the renderer. Where the two renderers show the
same thing with different text, the description holds both (`html_title`, `html_y_label`, a panel's
`html_title`): the interactive figures carry the long axis label in the title, where a panel has room for it.

Not described here, and why:
- the held-back-milestone check (`analysis.plots.plot_holdout`) is drawn only as a static figure;
- the interactive Pareto figure keeps its steps panel linear: a plotly log axis cannot show the step-0
  points (matplotlib draws a symlog axis there instead), so its renderer reads `log_x` of the FLOPs panel
  only, and draws each size's step-0 baseline there as a line;
- the interactive figures share one x-axis type across their panels (`Figure.log_x`, over every panel's
  rows), where the static figure decides per panel (`Panel.log_x`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.aggregate import MILESTONE
from analysis.pareto import FLOPS_AXIS, OBJECTIVE, OVERALL, STEPS_AXIS

COST_LABELS = {
    "intermediate_flops": "intermediate-training FLOPs (matmuls: 6 x non-embedding params x tokens + attention)",
    "intermediate_tokens": "intermediate-training tokens (non-padding)",
    "intermediate_examples": "intermediate-training examples",
    "intermediate_steps": "intermediate-training steps (optimizer steps)",
    "intermediate_seconds": "intermediate-training wall time (s)",
}
SCORE_LABEL = "zero-shot score (mean over tasks, 0-100)"
# ASHA's signal, as `analysis.aggregate.dev_signal` computes it.
SIGNAL_LABEL = "ASHA's signal: English dev, chance-normalised (0 chance, 100 perfect), mean over tasks"
ZERO_SHOT_LABEL = "zero-shot score without English (0-100)"
GAIN_LABEL = "gain over step 0 (points, 95% paired t interval over seeds)"
DIFFERENCE_LABEL = "larger size's gain - smaller's (points, 95% Welch interval)"
STEPS_LABEL = "intermediate-training steps"  # the heatmaps' category axis
ONE_SEED = "1 seed"  # the label of a point that has no interval
# Beyond this many decades (a factor of 100) between the smallest and largest positive cost, a linear axis
# squeezes the cheap milestones against zero.
LOG_SPAN_DECADES = 2.0


@dataclass(frozen=True)
class Panel:
    """One panel: its rows, drawn as `x` against the figure's `y`."""

    key: str  # what the panel is of: an objective, a model size, a cost axis
    title: str
    rows: pd.DataFrame
    x: str = MILESTONE
    x_label: str = COST_LABELS[MILESTONE]
    log_x: bool = False  # the positive x values span more than LOG_SPAN_DECADES decades
    bands: pd.DataFrame | None = None  # fitted curves with their 95% bands (`analysis.curves.bands`)
    fronts: pd.DataFrame | None = None  # Pareto fronts drawn over the rows (`analysis.pareto.study_fronts`)
    html_title: str | None = None  # the interactive panel's title, where it differs

    @property
    def interactive_title(self) -> str:
        return self.title if self.html_title is None else self.html_title


@dataclass(frozen=True)
class Figure:
    """What one figure shows; both renderers draw it."""

    title: str
    y: str
    y_label: str
    panels: list[Panel]
    sizes: list[str]  # model sizes, small to large: the colour order
    interval: tuple[str, str] | None = None  # columns of the 95% interval's bounds
    log_x: bool = False  # over every panel's rows: the interactive figure's one x-axis type
    html_title: str | None = None
    html_y_label: str | None = None
    extra: dict = field(default_factory=dict)  # figure-specific values both renderers read (named per figure)

    @property
    def interactive_title(self) -> str:
        return self.title if self.html_title is None else self.html_title

    @property
    def interactive_y_label(self) -> str:
        return self.y_label if self.html_y_label is None else self.html_y_label


# ------------------------------------------------------------------------------------------ shared rules
def objectives(frame: pd.DataFrame, column: str = OBJECTIVE) -> list[str]:
    """The values of `column`: the overall score first, then the target tasks in name order."""
    if column not in frame.columns or frame.empty:
        return []
    names = sorted(frame[column].astype(str).unique())
    return ([OVERALL] if OVERALL in names else []) + [n for n in names if n != OVERALL]


def size_order(frame: pd.DataFrame, column: str = "model") -> list[str]:
    """Model sizes from small to large: by `model_params` when the frame has it, else by name."""
    if frame.empty or column not in frame.columns:
        return []
    order = ["model_params", column] if "model_params" in frame.columns else [column]
    return frame.drop_duplicates(column).sort_values(order, kind="mergesort")[column].astype(str).tolist()


def objective_label(objective: str) -> str:
    """The y-axis label of a score: the overall score, or one target task's score."""
    if objective == OVERALL:
        return SCORE_LABEL
    return f"zero-shot {objective} (mean over languages, 0-100)"


def cost_label(cost: str) -> str:
    return COST_LABELS.get(cost, cost)


def spans_decades(values: pd.Series) -> bool:
    """Whether the positive values span more than `LOG_SPAN_DECADES` decades: such an axis is logarithmic."""
    positive = values[values > 0].to_numpy(dtype=float)
    return bool(positive.size) and bool(np.log10(positive.max() / positive.min()) > LOG_SPAN_DECADES)


def symmetric_limit(values: pd.Series) -> float:
    """The largest finite |value| (at least 1e-9), or 1 without one: a diverging colour scale's +- limit."""
    finite = values.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(max(np.abs(finite).max(), 1e-9)) if finite.size else 1.0


def heatmap_matrix(table: pd.DataFrame, model: str, by: str) -> pd.DataFrame:
    """The rows of `analysis.languages.language_gain_table` for one size, as a `by` x steps matrix."""
    rows = table[table["model"] == model]
    return rows.pivot(index=by, columns=MILESTONE, values="gain").sort_index(axis=0).sort_index(axis=1)


def _steps(frame: pd.DataFrame) -> pd.Series:
    return frame[MILESTONE] if MILESTONE in frame.columns else pd.Series(dtype=float)


def _part(frame: pd.DataFrame, column: str, value: str) -> pd.DataFrame:
    return frame[frame[column] == value] if column in frame.columns else frame


def _with_bands(bands: pd.DataFrame | None, objective: str) -> pd.DataFrame | None:
    return bands[bands[OBJECTIVE] == objective] if bands is not None and not bands.empty else None


# ------------------------------------------------------------------------------------------- the figures
def pareto(points: pd.DataFrame, fronts: pd.DataFrame, objective: str = OVERALL,
           bands: pd.DataFrame | None = None) -> Figure:
    """One objective's points and fronts against cost: each size's front on steps, the front across sizes
    on FLOPs. `points`: the objective's seed means; `fronts`: its rows of `analysis.pareto.study_fronts`
    (`cost_axis` says which panel a front is drawn in); `bands`: its fitted score curves."""
    axis = fronts["cost_axis"] if "cost_axis" in fronts.columns else pd.Series("", index=fronts.index)
    panels = [
        Panel(cost, title, points, x=cost, x_label=cost_label(cost),
              log_x=spans_decades(points[cost]) if cost in points.columns else False, bands=bands,
              fronts=fronts[axis == cost])
        for cost, title in ((STEPS_AXIS, "each size's front, on steps"), (FLOPS_AXIS, "one front across sizes, on FLOPs"))
    ]
    return Figure(f"{objective}: zero-shot score against intermediate-training cost", "score",
                  objective_label(objective), panels, size_order(points))


def gains(table: pd.DataFrame, objective: str = OBJECTIVE, bands: pd.DataFrame | None = None) -> Figure:
    """Gain over the step-0 baseline against steps with its interval, one panel per objective (the values
    of column `objective`). A panel's rows are the trained ones (steps > 0) that have a gain; `bands`: fitted
    gain curves, column `target_task` naming the objective."""
    trained = table[table[MILESTONE] > 0].dropna(subset=["gain"])
    panels = []
    for name in objectives(table, objective):
        part = trained[trained[objective] == name]
        panels.append(Panel(name, name, part, log_x=spans_decades(part[MILESTONE]), bands=_with_bands(bands, name)))
    return Figure("Gain over the no-intermediate baseline", "gain", GAIN_LABEL, panels, size_order(table),
                  interval=("ci_low", "ci_high"), log_x=spans_decades(trained[MILESTONE]),
                  html_title=f"Gain over the no-intermediate baseline: {GAIN_LABEL}", html_y_label="gain (points)",
                  extra={"tasks": sorted(trained["intermediate_task"].unique())})


def size_comparison(comparison: pd.DataFrame, objective: str = OBJECTIVE) -> Figure:
    """Difference of gains (larger - smaller size) against steps with its interval, one panel per objective
    (the overall score alone when there is none); filled markers: the interval excludes 0."""
    panels = []
    for name in objectives(comparison, objective) or [OVERALL]:
        part = _part(comparison, objective, name)
        panels.append(Panel(name, name, part, log_x=spans_decades(_steps(part))))
    pairs = list(comparison[["smaller", "larger"]].drop_duplicates().itertuples(index=False)) if not comparison.empty else []
    return Figure("Does the gain grow with model size? (filled: the interval excludes 0)", "difference",
                  DIFFERENCE_LABEL, panels, size_order(comparison), interval=("ci_low", "ci_high"),
                  log_x=spans_decades(_steps(comparison)),
                  html_title=f"Does the gain grow with model size? {DIFFERENCE_LABEL}; filled: outside the noise",
                  html_y_label="difference (points)", extra={"pairs": pairs})


def language_gains(table: pd.DataFrame, by: str = "language") -> Figure:
    """One heatmap per size of `analysis.languages.language_gain_table(..., by=by)`: `by` against steps, on
    one diverging colour scale symmetric in +-`extra["limit"]` points; a panel's rows are its
    `heatmap_matrix`."""
    sizes = size_order(table)
    panels = [Panel(model, model, heatmap_matrix(table, model, by), x_label=STEPS_LABEL) for model in sizes]
    limit = symmetric_limit(table["gain"] if "gain" in table.columns else pd.Series(dtype=float))
    n_rows = table[by].nunique() if by in table.columns else 1
    return Figure(f"Zero-shot gain per {by} (mean over intermediate and target tasks)", "gain", by, panels, sizes,
                  extra={"limit": limit, "by": by, "n_rows": n_rows,
                         "colour_label": "gain over the step-0 baseline (points)", "html_colour_label": "gain (points)"})


def dev_vs_zero_shot(points: pd.DataFrame, correlations: pd.DataFrame) -> Figure:
    """ASHA's signal against the zero-shot score, one panel per size titled with its Spearman rho over all
    milestones, coloured by step count (`extra["steps"]`, the same order in every panel)."""
    sizes = size_order(points)
    overall = correlations[correlations[MILESTONE].isna()].set_index("model") if not correlations.empty else pd.DataFrame()
    panels = []
    for model in sizes:
        title = html_title = model
        if model in overall.index:
            row = overall.loc[model]
            title += f": Spearman rho = {row['rho']:.2f} (n = {int(row['n'])})"
            if np.isfinite(overall.loc[model, "rho"]):  # the column's float, not the row's (object) value
                html_title = title
        if html_title == model:
            html_title = f"{model}: too few points for a rank correlation"
        panels.append(Panel(model, title, points[points["model"] == model], x="dev", x_label=SIGNAL_LABEL,
                            html_title=html_title))
    steps = sorted(int(s) for s in points[MILESTONE].unique()) if MILESTONE in points.columns else []
    return Figure("Does English dev predict zero-shot transfer?", "zero_shot", ZERO_SHOT_LABEL, panels, sizes,
                  extra={"steps": steps})
