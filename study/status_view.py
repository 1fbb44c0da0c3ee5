"""What `xstudy status` shows: the tables of a study's status, once or refreshed in place (`--watch`).

The content is `study.status.gather`'s, which `--json` prints as it is.
"""

from __future__ import annotations

import json
import time
from typing import Any

from study.status import STATES, gather


def status_command(path: str, as_json: bool, watch: bool = False, interval: float = 2.0,
                   updates: int | None = None, console=None) -> int:
    """Print the status of the study at `path`: rich tables, or the same content as JSON. Returns the exit code.

    With `watch`, the tables are redrawn in place every `interval` seconds (rich's Live) until the study is
    no longer running, or Ctrl-C; `updates` bounds the redraws (for tests).
    """
    from rich.console import Console

    try:
        status = gather(path)
    except FileNotFoundError as exc:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]no status[/]: {exc}", highlight=False)
        return 2
    if as_json:
        print(json.dumps(status, indent=2, default=str))
        return 0
    console = console or Console(soft_wrap=True)
    if not watch:
        for renderable in render(status):
            console.print(renderable)
        return 0
    from rich.console import Group
    from rich.live import Live

    done = 0
    try:
        with Live(Group(*render(status)), console=console, refresh_per_second=4, transient=False) as live:
            while status["running"] and (updates is None or done < updates):
                time.sleep(interval)
                try:
                    status = gather(path)
                except FileNotFoundError:
                    continue  # moved or being replaced: keep the last picture
                live.update(Group(*render(status)))
                done += 1
    except KeyboardInterrupt:
        console.print("stopped watching; the study goes on")
    return 0


def render(status: dict[str, Any]) -> list[Any]:
    """The rich tables and lines that `status_command` prints."""
    from rich.table import Table

    out: list[Any] = []
    time = status["time"]
    elapsed = time["elapsed_seconds"]
    out.append(
        f"[bold]study {status['study']}[/] at {status['path']}: "
        f"{'[yellow]in progress[/]' if status['running'] else '[green]done[/]'}; snapshot {status['snapshot_at']}"
    )
    out.append(f"benchmark {status.get('benchmark') or 'none'}; {status.get('overall_score', '')}")
    out.append(
        f"started {time['started_at'] or '-'}, last report {time['last_report_at'] or '-'}, "
        f"elapsed {_duration(elapsed)}, trial time {_duration(time['trial_seconds'])} (summed over trials)"
    )

    by_state = Table(title="trials by state and size")
    by_state.add_column("size")
    for state in STATES:
        by_state.add_column(state, justify="right")
    by_state.add_column("planned", justify="right")
    by_state.add_column("trial time", justify="right")
    planned = status["planned_trials"] or {}
    for size, counts in status["trials_by_size"].items():
        by_state.add_row(size, *(str(counts[s]) for s in STATES), str(planned.get("by_size", {}).get(size, "-")),
                         _duration(time["trial_seconds_by_size"].get(size)))
    by_state.add_row("[bold]all[/]", *(str(status["trials_by_state"][s]) for s in STATES),
                     str(planned.get("total", "-")), _duration(time["trial_seconds"]))
    out.append(by_state)

    milestones = Table(title="milestones done (trials with results there / trials that can reach it)")
    milestones.add_column("size")
    milestones.add_column("milestones")
    for size, done in status["milestones_done"].items():
        milestones.add_row(size, "   ".join(f"{m}: {v['done']}/{v['planned'] if v['planned'] is not None else '-'}"
                                           for m, v in done.items()))
    out.append(milestones)
    if status.get("live"):
        out.append(live_table(status))
    if status.get("eta"):
        out.append(eta_line(status["eta"]))

    best = Table(title="best so far per size (chosen on English dev, ASHA's signal)")
    for column in ("size", "trial", "intermediate task", "steps", "seed", "English dev", "zero-shot", "hyperparameters"):
        best.add_column(column, overflow="fold")
    for size, row in status["best_so_far"].items():
        best.add_row(size, row["trial_id"], row["intermediate_task"], str(row["intermediate_steps"]), str(row["seed"]),
                     f"{row['dev']:.2f}", "-" if row["zero_shot"] is None else f"{row['zero_shot']:.2f}",
                     _short_config(row["hyperparameters"]))
    out.append(best)
    if status.get("retries"):
        out.append("retries after a crash (from the last checkpoint): "
                   + ", ".join(f"{trial} x{n}" for trial, n in sorted(status["retries"].items())))
    return out


def _short_config(config: str) -> str:
    """Sorted JSON as `key=value, ...`, which wraps better in a narrow terminal."""
    try:
        parsed = json.loads(config)
    except (TypeError, ValueError):
        return str(config)
    if not isinstance(parsed, dict):
        return str(config)
    return ", ".join(f"{k}={v}" for k, v in parsed.items())


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def live_table(status: dict[str, Any]):
    """One line per running trial: where it is now, from its progress file (study.progress)."""
    from rich.table import Table

    table = Table(title="running trials, now")
    for column in ("trial", "size", "intermediate task", "seed", "to milestone", "phase", "step", "examples/s",
                   "milestone in"):
        table.add_column(column, overflow="fold")
    trials = {t["trial_id"]: t for t in status["trials"]}
    for trial_id, record in sorted(status["live"].items()):
        trial = trials.get(trial_id, {})
        table.add_row(trial_id, str(trial.get("model") or "-"), str(trial.get("intermediate_task") or "-"),
                      str(trial.get("seed") if trial.get("seed") is not None else "-"),
                      str(record.get("milestone") if record.get("milestone") is not None else "-"),
                      phase_text(record), step_text(record), rate_text(record.get("examples_per_s")),
                      eta_text(record.get("eta_milestone_s"), record.get("eta_partial")))
    return table


def phase_text(record: dict[str, Any]) -> str:
    """`fine-tune xnli`, `evaluation panx/de`, `intermediate`; `reported` between two milestones."""
    phase = record.get("phase")
    if phase is None:
        return "reported, going on" if record.get("state") == "reported" else "starting"
    what = "/".join(str(x) for x in (record.get("task"), record.get("language")) if x)
    return f"{phase} {what}".strip()


def step_text(record: dict[str, Any]) -> str:
    if record.get("step") is None or record.get("total") is None:
        return "-"
    return f"{record['step']:,}/{record['total']:,}"


def rate_text(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def eta_text(seconds: float | None, partial: bool | None = False) -> str:
    if seconds is None:
        return "-"
    return f"{_duration(seconds)}{' + evaluation' if partial else ''}"


def eta_line(estimate: dict[str, Any]) -> str:
    """The study's estimated time to finish, and what it rests on."""
    missing = estimate.get("sizes_without_rate") or []
    text = (f"estimated time to finish: {_duration(estimate['wall_seconds'])} at {estimate['trials_at_once']} "
            f"trial(s) at once ({estimate['basis']})")
    if missing:
        text += f"; not counted yet (no finished milestone to measure): {', '.join(missing)}"
    return text
