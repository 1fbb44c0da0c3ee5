"""Kept as one module: the page and its figures share the layout, colour and hover-text helpers that give every
figure the same interaction.

The interactive report: plotly figures of the tables that `analysis/` computes, in one offline HTML page.

Like `analysis.plots`, this only draws: every number comes from the tables passed in. The page embeds
plotly.js itself (no CDN, no network), so it opens anywhere, including on a cluster's login node.

Interaction, the same in every figure:
- hover a point: its trial(s), seeds and configuration;
- click a model size in a legend: that size alone (legend `itemclick="toggleothers"`, with every trace of a
  size in one legend group); click it again to bring every size back; double-click hides or shows one.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from analysis.aggregate import MILESTONE
from analysis.pareto import ALL_SIZES, FLOPS_AXIS, OVERALL, STEPS_AXIS
from analysis.plots import (
    COST_LABELS,
    DIFFERENCE_LABEL,
    GAIN_LABEL,
    LOG_SPAN_DECADES,
    ONE_SEED,
    SIGNAL_LABEL,
    objective_label,
    size_order,
)

# plotly's default qualitative colours, one per model size (in order from small to large).
PALETTE = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880")
FRONT_ACROSS_COLOUR = "#222222"
PANEL_HEIGHT = 430  # pixels per row of panels
LEGEND = {"itemclick": "toggleothers", "itemdoubleclick": "toggle", "groupclick": "togglegroup"}
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
USAGE = (
    "Hover a point for its trials and configuration. Click a model size in a legend to show that size "
    "alone; click it again to show every size."
)


@dataclass
class Section:
    """One part of the page: a heading, a short text, then figures and tables (as HTML), in order."""

    title: str
    text: str = ""
    items: list[str] = field(default_factory=list)


def figure_html(fig: go.Figure, div_id: str) -> str:
    """A figure's div and its `Plotly.newPlot` call, without plotly.js (the page carries it once)."""
    height = fig.layout.height or PANEL_HEIGHT
    return pio.to_html(
        fig, full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG,
        default_width="100%", default_height=f"{height}px",
    )


def table_html(table: pd.DataFrame, caption: str = "", collapsed: bool = False, digits: int = 2) -> str:
    """A table as escaped HTML; floats to `digits` decimals; optionally folded under its caption."""
    body = table.to_html(
        index=False, border=0, classes="data", na_rep="", escape=True,
        float_format=lambda v: f"{v:.{digits}f}" if abs(v) < 1e6 or v == 0 else f"{v:.3g}",
    )
    if collapsed:
        return f"<details><summary>{html.escape(caption)} ({len(table)} rows)</summary>{body}</details>"
    return (f"<p class='caption'>{html.escape(caption)}</p>" if caption else "") + body


def render_page(title: str, summary: str, sections: list[Section]) -> str:
    """The whole page: plotly.js inline in the head, then the summary and each section."""
    from plotly.offline import get_plotlyjs

    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style>",
        f"<script type='text/javascript'>{get_plotlyjs()}</script>",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        summary,
        f"<p class='usage'>{html.escape(USAGE)}</p>",
        "<nav><ul>" + "".join(f"<li><a href='#s{i}'>{html.escape(s.title)}</a></li>" for i, s in enumerate(sections)) + "</ul></nav>",
    ]
    for i, section in enumerate(sections):
        parts.append(f"<section id='s{i}'><h2>{html.escape(section.title)}</h2>")
        if section.text:
            parts.append(f"<p>{html.escape(section.text)}</p>")
        parts.extend(section.items)
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


# ----------------------------------------------------------------------------------------------- figures
def band_traces(fig: go.Figure, bands: pd.DataFrame | None, x: str, colours: dict[str, str], row: int, col: int,
                log_x: bool = False) -> None:
    """Fitted curves (`analysis.curves.bands`) with their 95% band: a shaded band, and the mean curve
    dotted (hover says where it is an extrapolation past the last measured milestone)."""
    if bands is None or bands.empty:
        return
    for (model, task), line in bands.groupby(["model", "intermediate_task"], sort=True):
        line = line.sort_values(x)
        if log_x:
            line = line[line[x] > 0]
        colour = colours.get(model, "grey")
        finite = line[np.isfinite(line["low"].astype(float)) & np.isfinite(line["high"].astype(float))]
        if not finite.empty:
            fig.add_trace(go.Scatter(x=finite[x], y=finite["high"], mode="lines", line={"width": 0}, hoverinfo="skip",
                                     legendgroup=model, showlegend=False, name=f"{model}, {task} band"), row=row, col=col)
            fig.add_trace(go.Scatter(x=finite[x], y=finite["low"], mode="lines", line={"width": 0}, fill="tonexty",
                                     fillcolor=_transparent(colour), hoverinfo="skip", legendgroup=model,
                                     showlegend=False, name=f"{model}, {task} band"), row=row, col=col)
        text = [f"<b>{model}</b>, {task}: fitted ({family}) {m:.2f} [{lo:.2f}, {hi:.2f}] at {s:,.0f} steps"
                f"{' (extrapolated)' if e else ''}"
                for family, m, lo, hi, s, e in zip(line["family"], line["mean"], line["low"], line["high"],
                                                   line["intermediate_steps"], line["extrapolated"], strict=True)]
        fig.add_trace(go.Scatter(x=line[x], y=line["mean"], mode="lines", text=text, hovertemplate="%{text}<extra></extra>",
                                 line={"color": colour, "width": 1, "dash": "dot"}, legendgroup=model, showlegend=False,
                                 name=f"{model}, {task} fit"), row=row, col=col)


def _padded_range(values: pd.Series, pad: float = 0.15) -> list[float] | None:
    """[low, high] of the finite values, widened by `pad` of their span (at least 1 point); None if none."""
    finite = pd.to_numeric(values, errors="coerce").dropna()
    if finite.empty:
        return None
    low, high = float(finite.min()), float(finite.max())
    margin = max(pad * (high - low), 1.0)
    return [low - margin, high + margin]


def _transparent(colour: str, alpha: float = 0.15) -> str:
    from matplotlib.colors import to_rgb

    r, g, b = (int(255 * v) for v in to_rgb(colour))
    return f"rgba({r},{g},{b},{alpha})"


def pareto_figure(points: pd.DataFrame, fronts: pd.DataFrame, objective: str = OVERALL,
                  bands: pd.DataFrame | None = None) -> go.Figure:
    """One objective: each size's points and front on steps (left), the front across sizes on FLOPs (right).

    `points`: the objective's points (`analysis.aggregate.seed_means`); `fronts`: its rows of
    `analysis.pareto.study_fronts`. On a log FLOPs axis, zero cost cannot be drawn, so each size's
    step-0 baseline appears there as a dotted horizontal line at its score. `bands`: the objective's fitted
    score curves with their 95% bands (`band_traces`).
    """
    sizes = size_order(points)
    colours = _colours(sizes)
    fig = make_subplots(1, 2, subplot_titles=("each size's front, on steps", "one front across sizes, on FLOPs"),
                        shared_yaxes=True, horizontal_spacing=0.06)
    flops = points[FLOPS_AXIS].to_numpy(dtype=float) if FLOPS_AXIS in points else np.array([])
    positive = flops[flops > 0]
    log_flops = bool(positive.size) and np.log10(positive.max() / positive.min()) > LOG_SPAN_DECADES
    axis = fronts["cost_axis"] if "cost_axis" in fronts.columns else pd.Series("", index=fronts.index)

    for model in sizes:
        mine = points[points["model"] == model]
        text = _point_text(mine)
        common = {"legendgroup": model, "marker": {"color": colours[model], "size": 8, "opacity": 0.75},
                  "hovertemplate": "%{text}<extra></extra>"}
        fig.add_trace(go.Scatter(x=mine[STEPS_AXIS], y=mine["score"], text=text, mode="markers", name=model,
                                 showlegend=True, **common), row=1, col=1)
        drawn = mine[mine[FLOPS_AXIS] > 0] if log_flops else mine
        fig.add_trace(go.Scatter(x=drawn[FLOPS_AXIS], y=drawn["score"], text=_point_text(drawn), mode="markers",
                                 name=model, showlegend=False, **common), row=1, col=2)
        if log_flops:
            for _, row in mine[mine[FLOPS_AXIS] <= 0].iterrows():
                fig.add_trace(go.Scatter(
                    x=[positive.min() / 3, positive.max() * 3], y=[row["score"]] * 2, mode="lines",
                    line={"color": colours[model], "dash": "dot", "width": 1}, legendgroup=model, showlegend=False,
                    name=f"{model} baseline", text=[_point_text(row.to_frame().T)[0]] * 2,
                    hovertemplate="%{text}<br>(0 FLOPs: drawn as a line on the log axis)<extra></extra>",
                ), row=1, col=2)
        front = fronts[(axis == STEPS_AXIS) & (fronts["front"] == model)].sort_values(STEPS_AXIS)
        if not front.empty:
            fig.add_trace(go.Scatter(x=front[STEPS_AXIS], y=front["score"], mode="lines+markers", line_shape="hv",
                                     line={"color": colours[model], "width": 2}, legendgroup=model,
                                     marker={"symbol": "circle-open", "size": 12, "color": colours[model]},
                                     showlegend=False, name=f"{model} front", hoverinfo="skip"), row=1, col=1)
    band_traces(fig, bands, STEPS_AXIS, colours, 1, 1)
    band_traces(fig, bands, FLOPS_AXIS, colours, 1, 2, log_x=log_flops)
    if bands is not None and not bands.empty:
        fig.update_yaxes(range=_padded_range(points["score"]))  # wide bands must not squeeze the points
    across = fronts[(axis == FLOPS_AXIS) & (fronts["front"] == ALL_SIZES)].sort_values(FLOPS_AXIS)
    if log_flops:
        across = across[across[FLOPS_AXIS] > 0]
    if not across.empty:
        fig.add_trace(go.Scatter(x=across[FLOPS_AXIS], y=across["score"], mode="lines+markers", line_shape="hv",
                                 line={"color": FRONT_ACROSS_COLOUR, "dash": "dash", "width": 2},
                                 marker={"symbol": "circle-open", "size": 12, "color": FRONT_ACROSS_COLOUR},
                                 name="front across sizes", legendgroup=ALL_SIZES, showlegend=True,
                                 text=_point_text(across),
                                 hovertemplate="front: %{text}<extra></extra>"), row=1, col=2)
    fig.update_xaxes(title_text=COST_LABELS[STEPS_AXIS], row=1, col=1)
    fig.update_xaxes(title_text=COST_LABELS[FLOPS_AXIS], type="log" if log_flops else "linear", row=1, col=2)
    fig.update_yaxes(title_text=objective_label(objective), row=1, col=1)
    return _layout(fig, f"{objective}: zero-shot score against intermediate-training cost", rows=1)


def gains_figure(gains: pd.DataFrame, objective: str = "objective", bands: pd.DataFrame | None = None) -> go.Figure:
    """Gain over the baseline against steps with 95% intervals: one panel per objective, one line per
    (size, intermediate task), grouped by size in the legend; with `bands` (`analysis.curves.bands` of the
    gain, `target_task` naming the objective) the fitted curves and their 95% bands run through the points."""
    objectives = _objectives(gains, objective)
    sizes = size_order(gains)
    colours = _colours(sizes)
    rows, cols = _grid(len(objectives))
    fig = make_subplots(rows, cols, subplot_titles=objectives or [""], vertical_spacing=0.12)
    trained = gains[gains[MILESTONE] > 0].dropna(subset=["gain"])
    tasks = sorted(trained["intermediate_task"].unique())
    symbols = dict(zip(tasks, ("circle", "square", "diamond", "triangle-up", "triangle-down", "cross", "x", "star"), strict=False))
    for k, name in enumerate(objectives):
        row, col = divmod(k, cols)
        part = trained[trained[objective] == name]
        for model in sizes:
            for task in tasks:
                line = part[(part["model"] == model) & (part["intermediate_task"] == task)].sort_values(MILESTONE)
                if line.empty:
                    continue
                text = [
                    f"<b>{model}</b>, {task}, {int(r[MILESTONE])} steps<br>gain {r['gain']:+.2f} "
                    f"{_interval_text(r['ci_low'], r['ci_high'], int(r['n_seeds']))}<br>"
                    f"score {r['score']:.2f}, baseline {r['baseline']:.2f}"
                    for _, r in line.iterrows()
                ]
                fig.add_trace(go.Scatter(
                    x=line[MILESTONE], y=line["gain"], text=text, hovertemplate="%{text}<extra></extra>",
                    error_y={"type": "data", "symmetric": False, "array": line["ci_high"] - line["gain"],
                             "arrayminus": line["gain"] - line["ci_low"]},
                    texttemplate=[ONE_SEED if n < 2 else "" for n in line["n_seeds"]], textposition="top right",
                    mode="lines+markers+text", marker={"symbol": symbols.get(task, "circle"), "size": 8, "color": colours[model]},
                    line={"color": colours[model]}, name=f"{model}, {task}", legendgroup=model,
                    legendgrouptitle_text=model, showlegend=k == 0,
                ), row=row + 1, col=col + 1)
        if bands is not None and not bands.empty:
            band_traces(fig, bands[bands["target_task"] == name], MILESTONE, colours, row + 1, col + 1,
                        log_x=_steps_axis_type(trained[MILESTONE]) == "log")
            shown = pd.concat([part["gain"], part["ci_low"], part["ci_high"], pd.Series([0.0])])
            fig.update_yaxes(range=_padded_range(shown), row=row + 1, col=col + 1)
        fig.add_hline(y=0.0, line={"color": "grey", "dash": "dash", "width": 1}, row=row + 1, col=col + 1)
    fig.update_xaxes(title_text=COST_LABELS[MILESTONE], type=_steps_axis_type(trained[MILESTONE]))
    fig.update_yaxes(title_text="gain (points)")
    return _layout(fig, f"Gain over the no-intermediate baseline: {GAIN_LABEL}", rows=rows)


def _interval_text(low: float, high: float, n_seeds: int) -> str:
    """The hover text of an interval: its bounds, or why there is none."""
    if n_seeds < 2 or not (np.isfinite(low) and np.isfinite(high)):
        return f"(no interval: {ONE_SEED})" if n_seeds == 1 else f"(no interval: {n_seeds} seeds)"
    return f"[{low:+.2f}, {high:+.2f}] over {n_seeds} seeds"


def size_comparison_figure(comparison: pd.DataFrame, objective: str = "objective") -> go.Figure:
    """Difference of gains (larger - smaller size) against steps with 95% intervals, per objective."""
    objectives = _objectives(comparison, objective) or [OVERALL]
    rows, cols = _grid(len(objectives))
    fig = make_subplots(rows, cols, subplot_titles=objectives, vertical_spacing=0.12)
    pairs = list(comparison[["smaller", "larger"]].drop_duplicates().itertuples(index=False)) if not comparison.empty else []
    for k, name in enumerate(objectives):
        row, col = divmod(k, cols)
        part = comparison[comparison[objective] == name] if objective in comparison else comparison
        for i, (smaller, larger) in enumerate(pairs):
            group = f"{larger} vs {smaller}"
            for task in sorted(part["intermediate_task"].unique()):
                line = part[(part["smaller"] == smaller) & (part["larger"] == larger)
                            & (part["intermediate_task"] == task)].sort_values(MILESTONE)
                if line.empty:
                    continue
                text = [
                    f"<b>{larger} - {smaller}</b>, {task}, {int(r[MILESTONE])} steps<br>"
                    f"difference {r['difference']:+.2f} "
                    f"{_interval_text(r['ci_low'], r['ci_high'], min(int(r['n_seeds_smaller']), int(r['n_seeds_larger'])))}"
                    f": {r['verdict']}<br>"
                    f"gain {r['gain_smaller']:+.2f} ({int(r['n_seeds_smaller'])} seeds) -> "
                    f"{r['gain_larger']:+.2f} ({int(r['n_seeds_larger'])} seeds)"
                    for _, r in line.iterrows()
                ]
                filled = line["verdict"].isin(["grows", "shrinks"])
                fewest = np.minimum(line["n_seeds_smaller"], line["n_seeds_larger"])
                fig.add_trace(go.Scatter(
                    x=line[MILESTONE], y=line["difference"], text=text, hovertemplate="%{text}<extra></extra>",
                    error_y={"type": "data", "symmetric": False, "array": line["ci_high"] - line["difference"],
                             "arrayminus": line["difference"] - line["ci_low"]},
                    texttemplate=[ONE_SEED if n < 2 else "" for n in fewest], textposition="top right",
                    mode="lines+markers+text", name=f"{group}, {task}", legendgroup=group, legendgrouptitle_text=group,
                    showlegend=k == 0, line={"color": PALETTE[i % len(PALETTE)]},
                    marker={"size": 9, "color": [PALETTE[i % len(PALETTE)] if f else "white" for f in filled],
                            "line": {"color": PALETTE[i % len(PALETTE)], "width": 2}},
                ), row=row + 1, col=col + 1)
        fig.add_hline(y=0.0, line={"color": "grey", "dash": "dash", "width": 1}, row=row + 1, col=col + 1)
    fig.update_xaxes(title_text=COST_LABELS[MILESTONE],
                     type=_steps_axis_type(comparison[MILESTONE] if MILESTONE in comparison else pd.Series(dtype=float)))
    fig.update_yaxes(title_text="difference (points)")
    return _layout(fig, f"Does the gain grow with model size? {DIFFERENCE_LABEL}; filled: outside the noise", rows=rows)


def language_heatmap_figure(table: pd.DataFrame, by: str = "language") -> go.Figure:
    """One heatmap per size of `analysis.languages.language_gain_table(..., by=by)`, on one colour scale."""
    sizes = size_order(table)
    fig = make_subplots(1, max(1, len(sizes)), subplot_titles=sizes or [""], horizontal_spacing=0.08)
    values = table["gain"].to_numpy(dtype=float) if "gain" in table else np.array([])
    finite = values[np.isfinite(values)]
    limit = float(max(np.abs(finite).max(), 1e-9)) if finite.size else 1.0
    for k, model in enumerate(sizes):
        rows = table[table["model"] == model]
        matrix = rows.pivot(index=by, columns=MILESTONE, values="gain").sort_index(axis=0).sort_index(axis=1)
        labels = rows.set_index([by, MILESTONE])["languages"]
        text = [[f"{labels.get((r, c), '')}" for c in matrix.columns] for r in matrix.index]
        fig.add_trace(go.Heatmap(
            z=matrix.to_numpy(dtype=float), x=[str(c) for c in matrix.columns], y=[str(r) for r in matrix.index],
            text=text, zmin=-limit, zmax=limit, zmid=0.0, colorscale="RdBu", reversescale=True, showscale=k == 0,
            colorbar={"title": {"text": "gain (points)"}}, name=model,
            hovertemplate=f"<b>{model}</b><br>{by} %{{y}}, %{{x}} steps<br>gain %{{z:+.2f}}<br>languages: %{{text}}<extra></extra>",
        ), row=1, col=k + 1)
    fig.update_xaxes(title_text="intermediate-training steps", type="category")
    fig.update_yaxes(autorange="reversed")  # first row on top, as in the table and the static figure
    n_rows = table[by].nunique() if by in table.columns else 1
    fig.update_layout(height=max(PANEL_HEIGHT, 22 * n_rows + 160))
    return _layout(fig, f"Zero-shot gain per {by} (mean over intermediate and target tasks)", rows=None)


def dev_vs_zero_shot_figure(points: pd.DataFrame, correlations: pd.DataFrame) -> go.Figure:
    """English dev against zero-shot, one panel per size, coloured by step count; rho in each title."""
    sizes = size_order(points)
    overall = correlations[correlations[MILESTONE].isna()].set_index("model") if not correlations.empty else pd.DataFrame()
    titles = []
    for model in sizes:
        if model in overall.index and np.isfinite(overall.loc[model, "rho"]):
            titles.append(f"{model}: Spearman rho = {overall.loc[model, 'rho']:.2f} (n = {int(overall.loc[model, 'n'])})")
        else:
            titles.append(f"{model}: too few points for a rank correlation")
    fig = make_subplots(1, max(1, len(sizes)), subplot_titles=titles or [""], horizontal_spacing=0.06)
    steps = sorted(int(s) for s in points[MILESTONE].unique()) if not points.empty else []
    shades = _viridis_hex(len(steps))
    for k, model in enumerate(sizes):
        mine = points[points["model"] == model]
        for j, value in enumerate(steps):
            at = mine[mine[MILESTONE] == value]
            if at.empty:
                continue
            text = [
                f"<b>{r['model']}</b>, {r['intermediate_task']}, {value} steps, seed {r['seed']}<br>"
                f"trial {r['trial_id']}<br>signal {r['dev']:.2f}, zero-shot {r['zero_shot']:.2f}<br>"
                f"{_config_lines(r.get('config', ''))}"
                for _, r in at.iterrows()
            ]
            fig.add_trace(go.Scatter(
                x=at["dev"], y=at["zero_shot"], mode="markers", text=text, hovertemplate="%{text}<extra></extra>",
                marker={"color": shades[j], "size": 9, "line": {"color": _colours(sizes)[model], "width": 1.5}},
                name=f"{model}, {value} steps", legendgroup=model, legendgrouptitle_text=model,
            ), row=1, col=k + 1)
    fig.update_xaxes(title_text=SIGNAL_LABEL)
    fig.update_yaxes(title_text="zero-shot score without English (0-100)", col=1)
    return _layout(fig, "Does English dev predict zero-shot transfer?", rows=1)


# ------------------------------------------------------------------------------------------------ helpers
def _layout(fig: go.Figure, title: str, rows: int | None) -> go.Figure:
    fig.update_layout(
        title={"text": title, "font": {"size": 15}}, legend=LEGEND, template="plotly_white",
        margin={"l": 60, "r": 20, "t": 80, "b": 50}, hoverlabel={"align": "left"},
    )
    if rows is not None:
        fig.update_layout(height=PANEL_HEIGHT * rows)
    return fig


def _steps_axis_type(steps: pd.Series) -> str:
    """"log" when the positive step counts span more than `LOG_SPAN_DECADES` decades, as in the PNGs."""
    positive = steps[steps > 0].to_numpy(dtype=float)
    return "log" if positive.size and np.log10(positive.max() / positive.min()) > LOG_SPAN_DECADES else "linear"


def _colours(sizes: list[str]) -> dict[str, str]:
    return {size: PALETTE[i % len(PALETTE)] for i, size in enumerate(sizes)}


def _objectives(frame: pd.DataFrame, column: str) -> list[str]:
    if column not in frame.columns or frame.empty:
        return []
    names = sorted(frame[column].astype(str).unique())
    return ([OVERALL] if OVERALL in names else []) + [n for n in names if n != OVERALL]


def _grid(n: int) -> tuple[int, int]:
    cols = max(1, min(n, 2))
    return max(1, int(np.ceil(n / cols))), cols


def _config_lines(config: str) -> str:
    """A configuration's JSON as one `key = value` line each, for a hover box."""
    try:
        parsed = json.loads(config)
    except (TypeError, ValueError):
        return html.escape(str(config))
    if not isinstance(parsed, dict):
        return html.escape(str(config))
    flat = {**parsed.pop("point", {}), **parsed} if isinstance(parsed.get("point"), dict) else parsed
    return "<br>".join(f"{html.escape(str(k))} = {html.escape(str(v))}" for k, v in sorted(flat.items()))


def _point_text(points: pd.DataFrame) -> list[str]:
    """Hover text of seed-averaged points: what was trained, how long, which trials, which configuration."""
    out = []
    for _, r in points.iterrows():
        spread = f" +- {r['score_sd']:.2f} (sd over seeds)" if pd.notna(r.get("score_sd")) else ""
        out.append(
            f"<b>{r['model']}</b>, {r['intermediate_task']}, {int(r[MILESTONE])} steps<br>"
            f"score {r['score']:.2f}{spread}<br>"
            f"FLOPs {float(r.get(FLOPS_AXIS, float('nan'))):.3g}<br>"
            f"seeds {r.get('seeds', '')}; trials {r.get('trial_ids', r.get('trial_id', ''))}<br>"
            f"{_config_lines(r.get('hyperparameters', r.get('config', '')))}"
        )
    return out


def _viridis_hex(n: int) -> list[str]:
    from plotly.colors import sample_colorscale

    return sample_colorscale("Viridis", list(np.linspace(0.0, 0.9, max(n, 1))))[:n]


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem auto; max-width: 1300px;
       color: #222; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
section { margin-bottom: 2.5rem; }
table.data { border-collapse: collapse; font-size: .8rem; margin: .5rem 0 1rem; }
table.data th, table.data td { padding: .15rem .5rem; border-bottom: 1px solid #eee; text-align: right; }
table.data th { background: #f6f6f6; }
p.usage { background: #f3f6ff; padding: .4rem .7rem; border-radius: 4px; font-size: .9rem; }
p.caption { font-weight: 600; margin-bottom: 0; }
nav ul { columns: 2; font-size: .9rem; }
.summary td { padding: .1rem .8rem .1rem 0; }
details summary { cursor: pointer; font-weight: 600; margin: .3rem 0; }
"""
