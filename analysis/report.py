"""The interactive report's figures: plotly figures of the tables that `analysis/` computes, for one offline
HTML page.

Like `analysis.plots`, this only draws: every number comes from the tables passed in, and what each
figure shows (panels, columns, titles, labels, log axes) is described once in `analysis.figures`, which both
draw. The page
(`analysis.report_page`) embeds plotly.js itself (no CDN, no network), so it opens anywhere, including on a
cluster's login node.

Interaction, the same in every figure:
- hover a point: its trial(s), seeds and configuration;
- click a model size in a legend: that size alone (legend `itemclick="toggleothers"`, with every trace of a
  size in one legend group); click it again to bring every size back; double-click hides or shows one.
"""

from __future__ import annotations

import html
import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis import figures
from analysis.aggregate import MILESTONE
from analysis.figures import COST_LABELS, ONE_SEED, SIGNAL_LABEL, STEPS_LABEL
from analysis.pareto import ALL_SIZES, FLOPS_AXIS, OVERALL, STEPS_AXIS

# plotly's default qualitative colours, one per model size (in order from small to large).
PALETTE = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880")
FRONT_ACROSS_COLOUR = "#222222"
PANEL_HEIGHT = 430  # pixels per row of panels
LEGEND = {"itemclick": "toggleothers", "itemdoubleclick": "toggle", "groupclick": "togglegroup"}


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
    """One objective (`analysis.figures.pareto`): each size's points and front on steps (left), the front
    across sizes on FLOPs (right).

    `points`: the objective's points (`analysis.aggregate.seed_means`); `fronts`: its rows of
    `analysis.pareto.study_fronts`. On a log FLOPs axis, zero cost cannot be drawn, so each size's
    step-0 baseline appears there as a dotted horizontal line at its score; the steps axis stays linear.
    `bands`: the objective's fitted score curves with their 95% bands (`band_traces`).
    """
    spec = figures.pareto(points, fronts, objective, bands)
    steps_panel, flops_panel = spec.panels
    colours = _colours(spec.sizes)
    fig = make_subplots(1, 2, subplot_titles=tuple(p.title for p in spec.panels), shared_yaxes=True,
                        horizontal_spacing=0.06)
    log_flops = flops_panel.log_x
    positive = points.loc[points[FLOPS_AXIS] > 0, FLOPS_AXIS].to_numpy(dtype=float) if log_flops else None

    for model in spec.sizes:
        mine = points[points["model"] == model]
        text = _point_text(mine)
        common = {"legendgroup": model, "marker": {"color": colours[model], "size": 8, "opacity": 0.75},
                  "hovertemplate": "%{text}<extra></extra>"}
        fig.add_trace(go.Scatter(x=mine[STEPS_AXIS], y=mine[spec.y], text=text, mode="markers", name=model,
                                 showlegend=True, **common), row=1, col=1)
        drawn = mine[mine[FLOPS_AXIS] > 0] if log_flops else mine
        fig.add_trace(go.Scatter(x=drawn[FLOPS_AXIS], y=drawn[spec.y], text=_point_text(drawn), mode="markers",
                                 name=model, showlegend=False, **common), row=1, col=2)
        if log_flops:
            for _, row in mine[mine[FLOPS_AXIS] <= 0].iterrows():
                fig.add_trace(go.Scatter(
                    x=[positive.min() / 3, positive.max() * 3], y=[row[spec.y]] * 2, mode="lines",
                    line={"color": colours[model], "dash": "dot", "width": 1}, legendgroup=model, showlegend=False,
                    name=f"{model} baseline", text=[_point_text(row.to_frame().T)[0]] * 2,
                    hovertemplate="%{text}<br>(0 FLOPs: drawn as a line on the log axis)<extra></extra>",
                ), row=1, col=2)
        front = steps_panel.fronts[steps_panel.fronts["front"] == model].sort_values(STEPS_AXIS)
        if not front.empty:
            fig.add_trace(go.Scatter(x=front[STEPS_AXIS], y=front[spec.y], mode="lines+markers", line_shape="hv",
                                     line={"color": colours[model], "width": 2}, legendgroup=model,
                                     marker={"symbol": "circle-open", "size": 12, "color": colours[model]},
                                     showlegend=False, name=f"{model} front", hoverinfo="skip"), row=1, col=1)
    band_traces(fig, steps_panel.bands, STEPS_AXIS, colours, 1, 1)
    band_traces(fig, flops_panel.bands, FLOPS_AXIS, colours, 1, 2, log_x=log_flops)
    if bands is not None and not bands.empty:
        fig.update_yaxes(range=_padded_range(points[spec.y]))  # wide bands must not squeeze the points
    across = flops_panel.fronts[flops_panel.fronts["front"] == ALL_SIZES].sort_values(FLOPS_AXIS)
    if log_flops:
        across = across[across[FLOPS_AXIS] > 0]
    if not across.empty:
        fig.add_trace(go.Scatter(x=across[FLOPS_AXIS], y=across[spec.y], mode="lines+markers", line_shape="hv",
                                 line={"color": FRONT_ACROSS_COLOUR, "dash": "dash", "width": 2},
                                 marker={"symbol": "circle-open", "size": 12, "color": FRONT_ACROSS_COLOUR},
                                 name="front across sizes", legendgroup=ALL_SIZES, showlegend=True,
                                 text=_point_text(across),
                                 hovertemplate="front: %{text}<extra></extra>"), row=1, col=2)
    fig.update_xaxes(title_text=steps_panel.x_label, row=1, col=1)
    fig.update_xaxes(title_text=flops_panel.x_label, type="log" if log_flops else "linear", row=1, col=2)
    fig.update_yaxes(title_text=spec.y_label, row=1, col=1)
    return _layout(fig, spec.interactive_title, rows=1)


def gains_figure(gains: pd.DataFrame, objective: str = "objective", bands: pd.DataFrame | None = None) -> go.Figure:
    """Gain over the baseline against steps with 95% intervals (`analysis.figures.gains`): one panel per
    objective, one line per (size, intermediate task), grouped by size in the legend; with `bands`
    (`analysis.curves.bands` of the gain, `target_task` naming the objective) the fitted curves and their
    95% bands run through the points."""
    spec = figures.gains(gains, objective, bands)
    colours = _colours(spec.sizes)
    rows, cols = _grid(len(spec.panels))
    fig = make_subplots(rows, cols, subplot_titles=[p.title for p in spec.panels] or [""], vertical_spacing=0.12)
    tasks = spec.extra["tasks"]
    low, high = spec.interval
    symbols = dict(zip(tasks, ("circle", "square", "diamond", "triangle-up", "triangle-down", "cross", "x", "star"), strict=False))
    for k, panel in enumerate(spec.panels):
        row, col = divmod(k, cols)
        part = panel.rows
        for model in spec.sizes:
            for task in tasks:
                line = part[(part["model"] == model) & (part["intermediate_task"] == task)].sort_values(MILESTONE)
                if line.empty:
                    continue
                text = [
                    f"<b>{model}</b>, {task}, {int(r[MILESTONE])} steps<br>gain {r['gain']:+.2f} "
                    f"{_interval_text(r[low], r[high], int(r['n_seeds']))}<br>"
                    f"score {r['score']:.2f}, baseline {r['baseline']:.2f}"
                    for _, r in line.iterrows()
                ]
                fig.add_trace(go.Scatter(
                    x=line[panel.x], y=line[spec.y], text=text, hovertemplate="%{text}<extra></extra>",
                    error_y={"type": "data", "symmetric": False, "array": line[high] - line[spec.y],
                             "arrayminus": line[spec.y] - line[low]},
                    texttemplate=[ONE_SEED if n < 2 else "" for n in line["n_seeds"]], textposition="top right",
                    mode="lines+markers+text", marker={"symbol": symbols.get(task, "circle"), "size": 8, "color": colours[model]},
                    line={"color": colours[model]}, name=f"{model}, {task}", legendgroup=model,
                    legendgrouptitle_text=model, showlegend=k == 0,
                ), row=row + 1, col=col + 1)
        if panel.bands is not None:
            band_traces(fig, panel.bands, panel.x, colours, row + 1, col + 1, log_x=spec.log_x)
            shown = pd.concat([part[spec.y], part[low], part[high], pd.Series([0.0])])
            fig.update_yaxes(range=_padded_range(shown), row=row + 1, col=col + 1)
        fig.add_hline(y=0.0, line={"color": "grey", "dash": "dash", "width": 1}, row=row + 1, col=col + 1)
    fig.update_xaxes(title_text=COST_LABELS[MILESTONE], type=_axis_type(spec.log_x))
    fig.update_yaxes(title_text=spec.interactive_y_label)
    return _layout(fig, spec.interactive_title, rows=rows)


def _interval_text(low: float, high: float, n_seeds: int) -> str:
    """The hover text of an interval: its bounds, or why there is none."""
    if n_seeds < 2 or not (np.isfinite(low) and np.isfinite(high)):
        return f"(no interval: {ONE_SEED})" if n_seeds == 1 else f"(no interval: {n_seeds} seeds)"
    return f"[{low:+.2f}, {high:+.2f}] over {n_seeds} seeds"


def size_comparison_figure(comparison: pd.DataFrame, objective: str = "objective") -> go.Figure:
    """Difference of gains (larger - smaller size) against steps with 95% intervals, per objective
    (`analysis.figures.size_comparison`)."""
    spec = figures.size_comparison(comparison, objective)
    rows, cols = _grid(len(spec.panels))
    fig = make_subplots(rows, cols, subplot_titles=[p.title for p in spec.panels], vertical_spacing=0.12)
    low, high = spec.interval
    for k, panel in enumerate(spec.panels):
        row, col = divmod(k, cols)
        part = panel.rows
        for i, (smaller, larger) in enumerate(spec.extra["pairs"]):
            group = f"{larger} vs {smaller}"
            for task in sorted(part["intermediate_task"].unique()):
                line = part[(part["smaller"] == smaller) & (part["larger"] == larger)
                            & (part["intermediate_task"] == task)].sort_values(MILESTONE)
                if line.empty:
                    continue
                text = [
                    f"<b>{larger} - {smaller}</b>, {task}, {int(r[MILESTONE])} steps<br>"
                    f"difference {r['difference']:+.2f} "
                    f"{_interval_text(r[low], r[high], min(int(r['n_seeds_smaller']), int(r['n_seeds_larger'])))}"
                    f": {r['verdict']}<br>"
                    f"gain {r['gain_smaller']:+.2f} ({int(r['n_seeds_smaller'])} seeds) -> "
                    f"{r['gain_larger']:+.2f} ({int(r['n_seeds_larger'])} seeds)"
                    for _, r in line.iterrows()
                ]
                filled = line["verdict"].isin(["grows", "shrinks"])
                fewest = np.minimum(line["n_seeds_smaller"], line["n_seeds_larger"])
                fig.add_trace(go.Scatter(
                    x=line[panel.x], y=line[spec.y], text=text, hovertemplate="%{text}<extra></extra>",
                    error_y={"type": "data", "symmetric": False, "array": line[high] - line[spec.y],
                             "arrayminus": line[spec.y] - line[low]},
                    texttemplate=[ONE_SEED if n < 2 else "" for n in fewest], textposition="top right",
                    mode="lines+markers+text", name=f"{group}, {task}", legendgroup=group, legendgrouptitle_text=group,
                    showlegend=k == 0, line={"color": PALETTE[i % len(PALETTE)]},
                    marker={"size": 9, "color": [PALETTE[i % len(PALETTE)] if f else "white" for f in filled],
                            "line": {"color": PALETTE[i % len(PALETTE)], "width": 2}},
                ), row=row + 1, col=col + 1)
        fig.add_hline(y=0.0, line={"color": "grey", "dash": "dash", "width": 1}, row=row + 1, col=col + 1)
    fig.update_xaxes(title_text=COST_LABELS[MILESTONE], type=_axis_type(spec.log_x))
    fig.update_yaxes(title_text=spec.interactive_y_label)
    return _layout(fig, spec.interactive_title, rows=rows)


def language_heatmap_figure(table: pd.DataFrame, by: str = "language") -> go.Figure:
    """One heatmap per size of `analysis.languages.language_gain_table(..., by=by)`, on one colour scale
    (`analysis.figures.language_gains`)."""
    spec = figures.language_gains(table, by)
    fig = make_subplots(1, max(1, len(spec.panels)), subplot_titles=[p.title for p in spec.panels] or [""],
                        horizontal_spacing=0.08)
    limit = spec.extra["limit"]
    for k, panel in enumerate(spec.panels):
        model, matrix = panel.key, panel.rows
        labels = table[table["model"] == model].set_index([by, MILESTONE])["languages"]
        text = [[f"{labels.get((r, c), '')}" for c in matrix.columns] for r in matrix.index]
        fig.add_trace(go.Heatmap(
            z=matrix.to_numpy(dtype=float), x=[str(c) for c in matrix.columns], y=[str(r) for r in matrix.index],
            text=text, zmin=-limit, zmax=limit, zmid=0.0, colorscale="RdBu", reversescale=True, showscale=k == 0,
            colorbar={"title": {"text": spec.extra["html_colour_label"]}}, name=model,
            hovertemplate=f"<b>{model}</b><br>{by} %{{y}}, %{{x}} steps<br>gain %{{z:+.2f}}<br>languages: %{{text}}<extra></extra>",
        ), row=1, col=k + 1)
    fig.update_xaxes(title_text=STEPS_LABEL, type="category")
    fig.update_yaxes(autorange="reversed")  # first row on top, as in the table and the static figure
    fig.update_layout(height=max(PANEL_HEIGHT, 22 * spec.extra["n_rows"] + 160))
    return _layout(fig, spec.interactive_title, rows=None)


def dev_vs_zero_shot_figure(points: pd.DataFrame, correlations: pd.DataFrame) -> go.Figure:
    """English dev against zero-shot, one panel per size, coloured by step count; rho in each title
    (`analysis.figures.dev_vs_zero_shot`)."""
    spec = figures.dev_vs_zero_shot(points, correlations)
    titles = [p.interactive_title for p in spec.panels]
    fig = make_subplots(1, max(1, len(spec.panels)), subplot_titles=titles or [""], horizontal_spacing=0.06)
    steps = spec.extra["steps"]
    shades = _viridis_hex(len(steps))
    for k, panel in enumerate(spec.panels):
        model, mine = panel.key, panel.rows
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
                x=at[panel.x], y=at[spec.y], mode="markers", text=text, hovertemplate="%{text}<extra></extra>",
                marker={"color": shades[j], "size": 9, "line": {"color": _colours(spec.sizes)[model], "width": 1.5}},
                name=f"{model}, {value} steps", legendgroup=model, legendgrouptitle_text=model,
            ), row=1, col=k + 1)
    fig.update_xaxes(title_text=SIGNAL_LABEL)
    fig.update_yaxes(title_text=spec.y_label, col=1)
    return _layout(fig, spec.interactive_title, rows=1)


# ------------------------------------------------------------------------------------------------ helpers
def _layout(fig: go.Figure, title: str, rows: int | None) -> go.Figure:
    fig.update_layout(
        title={"text": title, "font": {"size": 15}}, legend=LEGEND, template="plotly_white",
        margin={"l": 60, "r": 20, "t": 80, "b": 50}, hoverlabel={"align": "left"},
    )
    if rows is not None:
        fig.update_layout(height=PANEL_HEIGHT * rows)
    return fig


def _axis_type(log: bool) -> str:
    return "log" if log else "linear"


def _colours(sizes: list[str]) -> dict[str, str]:
    return {size: PALETTE[i % len(PALETTE)] for i, size in enumerate(sizes)}


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
