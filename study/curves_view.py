"""`xstudy recommend PATH`: the fitted curves' recommendation per model size, as a table or JSON.

It reads whatever finished milestone files the study has (`study.results.collect`), so it answers while the
study still runs; with fewer milestones the curves are simpler and say so (`analysis.curves`).
"""

from __future__ import annotations

import json
import math

from rich.console import Console
from rich.table import Table

from analysis import curves, recommend
from study import results, storage

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def recommendation(path: str, budget_gpu_hours: float | None = None, within: float = recommend.DEFAULT_WITHIN,
                   target: str = recommend.OVERALL):
    """The recommendation table of the study at `path` (a folder or URI), from its rows so far."""
    from study.export import study_convention

    uri = storage.normalize(path)
    if not storage.exists(storage.join(uri, "spec.json")) and not storage.exists(results.rows_dir(uri)):
        raise FileNotFoundError(f"{path}: no study here (no spec.json and no rows/ written by `xstudy run`)")
    fitted = curves.study_curves(results.collect(uri), study_convention(uri))
    return recommend.recommend(fitted, target=target, within=within, budget_gpu_hours=budget_gpu_hours)


def recommend_command(path: str, budget_gpu_hours: float | None, within: float, target: str, as_json: bool) -> int:
    """Print the recommendation; 0 when printed, 2 when there is no study or the budget is invalid."""
    try:
        table = recommendation(path, budget_gpu_hours, within, target)
    except FileNotFoundError as exc:
        err.print(f"[bold red]cannot recommend[/]: {exc}")
        return 2
    except ValueError as exc:
        err.print(f"[bold red]invalid option[/]: {exc}")
        return 2
    records = [{k: _plain(v) for k, v in row.items()} for row in table.to_dict(orient="records")]
    if as_json:
        print(json.dumps({"budget": recommend.budget_text(within, budget_gpu_hours), "target": target,
                          "recommendations": records}, indent=2))
        return 0
    if not records:
        console.print("No finished results with intermediate training yet: run `xstudy recommend` again later.")
        return 0
    view = Table(title=f"recommendation for {target} ({recommend.budget_text(within, budget_gpu_hours)})")
    for column in ("model", "intermediate task", "steps", "predicted gain [95%]", "predicted score [95%]", "extrapolated"):
        view.add_column(column)
    for r in records:
        view.add_row(str(r["model"]), str(r["intermediate_task"] or "-"), _number(r["steps"], "{:,.0f}"),
                     _with_interval(r["predicted_gain"], r["gain_ci_low"], r["gain_ci_high"], "+"),
                     _with_interval(r["predicted_score"], r["score_ci_low"], r["score_ci_high"], ""),
                     "yes" if r["extrapolated"] else "no")
    console.print(view)
    for r in records:
        console.print(f"[bold]{r['model']}[/]: {r['why']}", highlight=False)
    return 0


def _plain(value):
    """JSON-ready: NaN and missing values as null, numpy scalars as Python numbers."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _number(value, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _with_interval(value, low, high, sign: str) -> str:
    if value is None:
        return "-"
    text = f"{value:{sign}.2f}"
    return text + (f" [{low:{sign}.2f}, {high:{sign}.2f}]" if low is not None and high is not None else " (no interval)")
