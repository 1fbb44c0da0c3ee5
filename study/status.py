"""`xstudy status PATH`: a live study's progress, from the files it writes, without Ray running.

What it reads, all under the study folder (a local path or a pyarrow-filesystem URI):
- `spec.json`: the sizes, their milestones and the grid, hence how many trials are planned;
- `experiment_state-*.json`: Ray Tune's snapshot of every trial's state (taken every few seconds);
- `<trial dir>/result.json`: one JSON line per report; the last complete line says how far a trial got and
  its time. A line being written when we read is cut short: it is skipped, never an error;
- `scheduler.json`: the ASHA decisions, which tell a trial stopped early from one that finished;
- `rows/<trial>/<milestone>.parquet`: the milestones whose results are written (each file atomically), and
  the scores from which the best configuration so far is picked;
- `failed/<trial>.json`: trials that a data or tokenization error ended without a retry (errored, with the reason);
- `progress/<trial>.json`: what each running trial is doing now (study.progress), and from the rows and
  these, the estimated time the study still needs (study.eta).

Each file is read once, and each is replaced atomically by its writer, so the picture is a consistent
snapshot of each file; files written between two reads can make a count lag by one report, never corrupt.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow.fs as pafs

from study import eta, progress, results, storage
from study.grid import point_of
from study.outcome import trial_id_of_folder

# A trial's state, in the order the tables show them.
PENDING, RUNNING, FINISHED, STOPPED, ERRORED = "pending", "running", "finished", "stopped", "errored"
STATES = (PENDING, RUNNING, FINISHED, STOPPED, ERRORED)
# Ray Tune's trial statuses, as written in its experiment state, mapped onto ours.
RAY_STATES = {"PENDING": PENDING, "PAUSED": PENDING, "RUNNING": RUNNING, "TERMINATED": FINISHED, "ERROR": ERRORED}
_MILESTONE_FILE = re.compile(r"^(\d+)\.parquet$")


@dataclass
class TrialStatus:
    trial_id: str
    model: str | None = None
    intermediate_task: str | None = None
    seed: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    state: str = PENDING
    milestones_done: list[int] = field(default_factory=list)  # milestones whose rows are written
    milestones_reported: list[int] = field(default_factory=list)  # milestones reported to Ray Tune
    final_milestone: int | None = None  # where the trial ends if nothing stops it
    seconds: float = 0.0  # Ray's time_total_s at the last report: the trial's own running time
    started_at: float | None = None  # Unix seconds
    last_report_at: float | None = None  # Unix seconds
    error: str | None = None


def gather(path: str) -> dict[str, Any]:
    """The status of the study at `path` as a JSON-able dict (what `--json` prints).

    Raises:
        FileNotFoundError: there is no study at `path` (no spec.json, no rows/ and no Ray experiment state).
    """
    uri = storage.normalize(path)
    fs, root = storage.filesystem(uri)
    children = _list(fs, root)
    names = {info.base_name: info for info in children}
    # The newest snapshot is the one whose name (the session's start, "%Y-%m-%d_%H-%M-%S") sorts last, as Ray
    # Tune itself picks it on restore. Not by modification time: a resumed run re-uploads every earlier
    # session's file with each sync to cloud storage, so an old snapshot can carry the newest time.
    states = sorted((i for i in children if i.base_name.startswith("experiment_state-") and i.base_name.endswith(".json")),
                    key=lambda i: i.base_name)
    if "spec.json" not in names and "rows" not in names and not states:
        raise FileNotFoundError(f"{path}: no study here (no spec.json, no rows/, no Ray experiment state)")

    spec = _read_json(fs, f"{root}/spec.json") if "spec.json" in names else None
    spec = spec if isinstance(spec, dict) else {}
    trials: dict[str, TrialStatus] = {}
    experiment_start = None
    if states:
        state = _read_json(fs, states[-1].path)
        if isinstance(state, dict):
            experiment_start = _experiment_start(state)
            for entry in state.get("trial_data", []):
                _merge_experiment_entry(trials, entry)
    for info in children:
        if info.type == pafs.FileType.Directory and info.base_name not in ("rows", "report"):
            _merge_trial_dir(fs, info.path, trials)
    decisions = _read_json(fs, f"{root}/scheduler.json") if "scheduler.json" in names else None
    decisions = decisions if isinstance(decisions, list) else []
    stopped_by_asha = {d.get("trial_id") for d in decisions if isinstance(d, dict) and d.get("decision") == "STOP"}
    for trial_id, milestones in _rows_milestones(fs, f"{root}/rows").items():
        trials.setdefault(trial_id, TrialStatus(trial_id)).milestones_done = milestones

    table = results.collect(uri)
    _fill_from_rows(trials, table)
    from analysis.aggregate import BENCHMARK_NAMES
    from study.spec import convention_of

    convention = convention_of(spec)
    best = _best(table, convention)
    milestones = _milestones(spec)
    records = progress.read_all(uri)
    for trial in trials.values():
        trial.final_milestone = _final_milestone(trial, milestones)
        trial.state = _state(trial, stopped_by_asha)
        if trial.state == PENDING and trial.trial_id in records:
            trial.state = RUNNING  # working, before Ray's next snapshot says so (it is taken every few seconds)
    for trial_id, reason in _failed(fs, f"{root}/failed").items():  # a data error ends a trial without a retry
        trial = trials.setdefault(trial_id, TrialStatus(trial_id))
        trial.state, trial.error = ERRORED, reason

    sizes = _sizes(spec, trials)
    now = dt.datetime.now(dt.UTC)
    last = max((t.last_report_at for t in trials.values() if t.last_report_at), default=None)
    starts = [t.started_at for t in trials.values() if t.started_at]
    start = experiment_start or (min(starts) if starts else None)
    counts = Counter(t.state for t in trials.values())
    planned = _planned(spec)
    live = {tid: record for tid, record in records.items() if tid in trials and trials[tid].state == RUNNING}
    status = {
        "study": spec.get("study", {}).get("name") or storage.parent_and_name(uri)[1],
        "path": uri,
        "snapshot_at": now.isoformat(timespec="seconds"),
        "benchmark": BENCHMARK_NAMES.get(convention.benchmark or "") if spec else None,
        "overall_score": convention.describe(),
        "running": bool(counts[RUNNING] or counts[PENDING] or (planned and len(trials) < planned["total"])),
        "planned_trials": planned,
        "trials_by_state": {s: counts.get(s, 0) for s in STATES},
        "trials_by_size": {
            size: {s: sum(1 for t in trials.values() if t.model == size and t.state == s) for s in STATES}
            for size in sizes
        },
        "milestones_done": _milestones_done(trials, sizes, milestones, planned),
        "best_so_far": {size: best[size] for size in sizes if size in best},
        "time": {
            "started_at": _iso(start),
            "last_report_at": _iso(last),
            "elapsed_seconds": (last - start) if start and last else None,
            "trial_seconds": sum(t.seconds for t in trials.values()),
            "trial_seconds_by_size": {size: sum(t.seconds for t in trials.values() if t.model == size) for size in sizes},
        },
        "trials": [asdict(t) for t in sorted(trials.values(), key=lambda t: t.trial_id)],
        "live": live,  # running trial -> its progress record (phase, step, total, examples/s, ETA)
        "retries": retries(uri),
    }
    status["eta"] = eta.remaining(status, table, live, milestones) if status["running"] else None
    return status


def retries(uri: str) -> dict[str, int]:
    """Trial id -> times it was retried after a crash (`<study>/retries/`, written by the driver)."""
    from study.recovery import retry_counts

    return retry_counts(uri)


# ----------------------------------------------------------------------------------------------- reading
def _list(fs: pafs.FileSystem, root: str) -> list[pafs.FileInfo]:
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        return []
    return fs.get_file_info(pafs.FileSelector(root, recursive=False))


def failed_trials(uri: str) -> dict[str, str]:
    """Trial id -> why a data or tokenization error ended it (Tune counts such a trial as finished)."""
    fs, root = storage.filesystem(uri)
    return _failed(fs, f"{root}/failed")


def _failed(fs: pafs.FileSystem, root: str) -> dict[str, str]:
    """Trial id -> the reason it failed (`<study>/failed/<trial>.json`, written by the trial itself)."""
    out = {}
    for info in _list(fs, root):
        record = _read_json(fs, info.path) if info.base_name.endswith(".json") else None
        if isinstance(record, dict):
            out[info.base_name.removesuffix(".json")] = str(record.get("reason", ""))
    return out


def _read_text(fs: pafs.FileSystem, path: str) -> str | None:
    try:
        with fs.open_input_stream(path) as f:
            return f.read().decode("utf-8", errors="replace")
    except (FileNotFoundError, OSError):
        return None


def _read_json(fs: pafs.FileSystem, path: str) -> Any:
    text = _read_text(fs, path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None  # replaced by a writer that does not rename atomically; the next snapshot will have it


def _flat_config(config: Any) -> dict[str, Any]:
    """A trial config with its grid point flattened in (`study.grid.point_of`); {} for what is not a mapping."""
    return point_of(config) if isinstance(config, dict) else {}


def _apply_config(trial: TrialStatus, config: Any) -> None:
    flat = _flat_config(config)
    if not flat:
        return
    trial.config = config if isinstance(config, dict) else trial.config
    trial.model = trial.model or flat.get("model")
    trial.intermediate_task = trial.intermediate_task or flat.get("intermediate_task")
    if trial.seed is None and flat.get("seed") is not None:
        trial.seed = int(flat["seed"])


def _experiment_start(state: dict[str, Any]) -> float | None:
    start = (state.get("stats") or {}).get("start_time") or (state.get("runner_data") or {}).get("_start_time")
    return float(start) if isinstance(start, (int, float)) and math.isfinite(start) else None


def _merge_experiment_entry(trials: dict[str, TrialStatus], entry: Any) -> None:
    """One trial of Ray's experiment state: [trial JSON, runtime metadata JSON] (each a JSON string)."""
    try:
        data = json.loads(entry[0]) if isinstance(entry[0], str) else entry[0]
        meta = json.loads(entry[1]) if len(entry) > 1 and isinstance(entry[1], str) else (entry[1] if len(entry) > 1 else {})
    except (ValueError, TypeError, IndexError, KeyError):
        return
    if not isinstance(data, dict) or "trial_id" not in data:
        return
    trial = trials.setdefault(str(data["trial_id"]), TrialStatus(str(data["trial_id"])))
    trial.state = RAY_STATES.get(str(data.get("status")), trial.state)
    _apply_config(trial, data.get("config"))
    if isinstance(meta, dict) and isinstance(meta.get("start_time"), (int, float)):
        trial.started_at = float(meta["start_time"])


def _merge_trial_dir(fs: pafs.FileSystem, folder: str, trials: dict[str, TrialStatus]) -> None:
    """A Ray trial folder: its last complete result line, its params, and an error file if it failed."""
    text = _read_text(fs, f"{folder}/result.json")
    reports = []
    for line in (text or "").splitlines():
        try:
            report = json.loads(line)
        except ValueError:
            continue  # the line being written as we read it
        if isinstance(report, dict):
            reports.append(report)
    last = reports[-1] if reports else None
    params = None if last else _read_json(fs, f"{folder}/params.json")
    trial_id = (last or {}).get("trial_id")
    if trial_id is None:
        # A trial that has not reported yet: its folder name carries its id ("<trainable>_<id>_<n>_...").
        trial_id = trial_id_of_folder(folder)
        if trial_id is None:
            return
    trial = trials.setdefault(str(trial_id), TrialStatus(str(trial_id)))
    _apply_config(trial, (last or {}).get("config") or params)
    if last:
        trial.milestones_reported = sorted({int(r["intermediate_steps"]) for r in reports
                                            if isinstance(r.get("intermediate_steps"), (int, float))})
        trial.seconds = float(last.get("time_total_s") or 0.0)
        if isinstance(last.get("timestamp"), (int, float)):
            trial.last_report_at = float(last["timestamp"])
        if last.get("done") and trial.state in (PENDING, RUNNING):
            trial.state = FINISHED
        elif trial.state == PENDING:
            trial.state = RUNNING
    error = _read_text(fs, f"{folder}/error.txt")
    if error:
        trial.error = error.strip().splitlines()[-1][:300] if error.strip() else "error"
        if trial.state not in (RUNNING, FINISHED):  # else Ray retried it (max_failures) and it went on
            trial.state = ERRORED


def _rows_milestones(fs: pafs.FileSystem, rows: str) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for info in _list(fs, rows):
        if info.type != pafs.FileType.Directory:
            continue
        done = sorted(int(m.group(1)) for f in _list(fs, info.path) if (m := _MILESTONE_FILE.match(f.base_name)))
        out[info.base_name] = done
    return out


def _fill_from_rows(trials: dict[str, TrialStatus], table) -> None:
    if table.empty:
        return
    first = table.drop_duplicates("trial_id").set_index("trial_id")
    for trial_id, row in first.iterrows():
        trial = trials.setdefault(str(trial_id), TrialStatus(str(trial_id)))
        trial.model = trial.model or row["model"]
        trial.intermediate_task = trial.intermediate_task or row["intermediate_task"]
        if trial.seed is None:
            trial.seed = int(row["seed"])
        if not trial.config:
            try:
                trial.config = json.loads(row["config"])
            except (TypeError, ValueError):
                pass


# ------------------------------------------------------------------------------------------------ deriving
def _milestones(spec: dict[str, Any]) -> dict[str, list[int]]:
    return {str(m.get("name")): sorted({0, *(int(s) for s in m.get("steps", []))}) for m in spec.get("models", [])}


def _final_milestone(trial: TrialStatus, milestones: dict[str, list[int]]) -> int | None:
    if trial.intermediate_task == "none":
        return 0
    flat = _flat_config(trial.config)
    if flat.get("budget") is not None:
        return int(flat["budget"])
    grid = milestones.get(str(trial.model))
    return max(grid) if grid else None


def _state(trial: TrialStatus, stopped_by_asha: set[str]) -> str:
    if trial.state == ERRORED:
        return ERRORED
    if trial.trial_id in stopped_by_asha and trial.state != RUNNING:
        return STOPPED
    # A milestone is reported only after its rows are written; either record shows the trial got there.
    reached = set(trial.milestones_done) | set(trial.milestones_reported)
    reached_end = trial.final_milestone is not None and trial.final_milestone in reached
    if trial.state == FINISHED and trial.final_milestone is not None and not reached_end:
        return STOPPED  # ended before its last milestone: stopped with its configuration by ASHA
    if trial.state == PENDING and reached:
        return FINISHED if reached_end else RUNNING  # written rows, not yet in Ray's last snapshot
    return trial.state


def _sizes(spec: dict[str, Any], trials: dict[str, TrialStatus]) -> list[str]:
    names = [str(m.get("name")) for m in spec.get("models", [])]
    extra = sorted({t.model for t in trials.values() if t.model and t.model not in names})
    return names + extra


def _planned(spec: dict[str, Any]) -> dict[str, Any] | None:
    """Trials the grid makes (study.grid), from the stored spec's JSON as it is (a study written by an
    earlier version may no longer validate): sizes x intermediate tasks, the `none` baseline always among
    them (x step budgets in independent mode) x seeds x samples x grid-searched values; None without sizes."""
    from study.grid import combinations_of, count_trials, enumerate_points

    if not spec.get("models"):
        return None
    models = [(str(m.get("name")), [s for s in m.get("steps") or [] if isinstance(s, int)]) for m in spec["models"]]
    names = [t if isinstance(t, str) else (t or {}).get("name") for t in spec.get("intermediate_tasks") or []]
    intermediate = ["none", *[n for n in names if n and n != "none"]]
    independent = (spec.get("intermediate_training") or {}).get("schedule") == "independent"
    points = enumerate_points(models, intermediate, spec.get("seeds") or [0],
                              int((spec.get("search") or {}).get("num_samples") or 1), independent)
    counts = count_trials(points, combinations_of(spec.get("hyperparameters") or {}), [m for m, _ in models])
    by_size = {name: c["trials"] for name, c in counts.items()}
    return {"total": sum(by_size.values()), "by_size": by_size,
            "baselines_by_size": {name: c["baselines"] for name, c in counts.items()}}


def _milestones_done(trials, sizes, milestones, planned) -> dict[str, dict[str, dict[str, int | None]]]:
    out = {}
    for size in sizes:
        mine = [t for t in trials.values() if t.model == size]
        grid = milestones.get(size) or sorted({m for t in mine for m in t.milestones_done})
        per = {}
        for m in grid:
            done = sum(1 for t in mine if m in t.milestones_done)
            if planned is None:
                can = None
            elif m == 0:
                can = planned["baselines_by_size"].get(size)
            else:
                can = planned["by_size"].get(size, 0) - planned["baselines_by_size"].get(size, 0)
            per[str(m)] = {"done": done, "planned": can}
        out[size] = per
    return out


def _best(table, convention) -> dict[str, dict[str, Any]]:
    """Per size, the (trial, milestone) with the best English dev score (ASHA's signal), and its zero-shot
    score under the study's `convention`."""
    if table.empty:
        return {}
    from analysis.aggregate import MILESTONE_KEYS, config_without_seed, dev_signal, overall_scores

    dev = dev_signal(table).dropna(subset=["score"])
    if dev.empty:
        return {}
    test = overall_scores(table, split="test", metrics=convention.metrics(table),
                          expected_languages=convention.languages).set_index(list(MILESTONE_KEYS))["score"]
    out = {}
    for model, group in dev.groupby("model", sort=False):
        row = group.loc[group["score"].idxmax()]
        key = tuple(row[k] for k in MILESTONE_KEYS)
        zero_shot = test.get(key)
        out[str(model)] = {
            "trial_id": str(row["trial_id"]), "intermediate_task": str(row["intermediate_task"]),
            "intermediate_steps": int(row["intermediate_steps"]), "seed": int(row["seed"]),
            "dev": float(row["score"]),
            "zero_shot": None if zero_shot is None or not math.isfinite(zero_shot) else float(zero_shot),
            "hyperparameters": config_without_seed(row["config"]),
        }
    return out


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds")
