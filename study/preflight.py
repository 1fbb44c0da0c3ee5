"""Checks made before a study starts or resumes: each failure names the field, path or file and the rule.

`xstudy run` and `xstudy resume` call these before Ray runs a trial and before anything is written, so a
bad storage path or an incompatible study folder stops the command at once, with nothing half written.

What makes a study folder incompatible with `xstudy resume` (it is resumed from the spec stored in it,
`spec.json`, never from a spec file given again):
- `spec.json` is not JSON, or does not validate against this version's spec schema and task registry
  (a key that was renamed or removed, a task or built-in size no longer known). A spec written by an
  older version that only lacks fields added since validates, with their defaults;
- Ray Tune's experiment state (`experiment_state-*.json`) names trials that `spec.json`'s grid cannot
  have made: a grid point (model size, intermediate task, seed, budget) that is not in the grid, or other
  hyperparameters than the spec's. That happens when `spec.json` was replaced, or two studies share a folder;
- the folder has `spec.json` but no experiment state: the study never started its trials.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow.fs as pafs

from study import storage
from study.grid import point_of
from study.spec import SpecError, StudySpec, parse_spec

MAX_LISTED = 5  # problems shown in one message; the rest are counted


class LaunchError(RuntimeError):
    """A study that cannot start or resume as asked; the message says where and which rule broke."""


def check_storage(spec: StudySpec, study_uri: str) -> None:
    problem = storage.write_problem(study_uri)
    if problem:
        raise LaunchError(f"study.storage ({spec.study.storage}): cannot write the study folder {study_uri}: "
                          f"{problem}; nothing was started")


def check_new_study(spec: StudySpec, study_uri: str) -> None:
    """`xstudy run` starts a study only in a folder that holds none: a second run would start a second Ray
    Tune experiment beside the first, and their rows, checkpoints and status would mix."""
    fs, root = storage.filesystem(study_uri)
    found = sorted(info.base_name for info in _children(fs, root)
                   if info.base_name in ("spec.json", "rows", "train") or info.base_name.startswith("experiment_state-"))
    if found:
        raise LaunchError(
            f"study.name ({spec.study.name}): {study_uri} already holds a study ({', '.join(found[:MAX_LISTED])}); "
            f"continue it with `xstudy resume {study_uri}`, or give this one another study.name or study.storage; "
            "nothing was started")


def read_study_spec(path: str) -> StudySpec:
    """The spec a study folder was made from, validated as this version reads specs.

    Raises:
        FileNotFoundError: there is no study at `path` (no spec.json).
        LaunchError: spec.json is not JSON or does not validate.
    """
    uri = storage.normalize(path)
    spec_uri = storage.join(uri, "spec.json")
    if not storage.exists(spec_uri):
        hint = _studies_below(uri)
        raise FileNotFoundError(f"{path}: no study here (expected {spec_uri}, written by `xstudy run`)"
                                + (f"; studies below it: {', '.join(hint)}" if hint else ""))
    try:
        data = json.loads(storage.read_text(spec_uri))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise LaunchError(f"{spec_uri}: not the spec of a study (not valid JSON: {exc}); nothing was resumed") from None
    try:
        return parse_spec(data, spec_uri)
    except SpecError as exc:
        lines = "\n  ".join(f"{where}: {rule}" for where, rule in exc.errors)
        raise LaunchError(
            f"{spec_uri}: the spec this study was made from does not validate against this version of xstudy "
            f"({len(exc.errors)} error(s)), so the study cannot be resumed by it; nothing was resumed:\n  {lines}"
        ) from None


def check_experiment_state(uri: str, spec: StudySpec, points: list[dict[str, Any]]) -> None:
    """Ray Tune's experiment state at `uri` must hold only trials of `spec`'s grid (`points`)."""
    fs, root = storage.filesystem(uri)
    states = sorted(info.base_name for info in _children(fs, root)
                    if info.base_name.startswith("experiment_state-") and info.base_name.endswith(".json"))
    if not states:
        raise FileNotFoundError(f"{uri}: spec.json is here, but no Ray Tune experiment state "
                                "(experiment_state-*.json): the study never started its trials; start it again "
                                "with `xstudy run SPEC`")
    where = f"{uri}/{states[-1]}"  # Ray names them by time: the last is the latest
    try:
        with fs.open_input_stream(f"{root}/{states[-1]}") as f:
            state = json.loads(f.read().decode("utf-8"))
        trials = state["trial_data"]
        if not isinstance(trials, list):
            raise TypeError("trial_data is not a list")
    except (OSError, UnicodeDecodeError, ValueError, RecursionError, KeyError, TypeError) as exc:
        raise LaunchError(f"{where}: Ray Tune's experiment state cannot be read ({type(exc).__name__}: {exc}); "
                          "nothing was resumed") from None
    grid = {_key(p) for p in points}
    axes = {key for p in points for key in p} | {"budget"}
    names = set(spec.hyperparameters)
    problems = []
    for i, entry in enumerate(trials):
        trial = _trial_record(entry)
        if trial is None:
            problems.append(f"trial_data[{i}]: not a trial record")
            continue
        tid, config = trial.get("trial_id", f"trial_data[{i}]"), trial.get("config")
        # The grid point is nested under "point", or (studies made by earlier versions) flat in the config.
        config = config if isinstance(config, dict) else {}
        flat = point_of(config)
        point = {k: v for k, v in flat.items() if k in axes}
        if _key(point) not in grid:
            problems.append(f"trial {tid}: its grid point {point or config!r} is not in spec.json's grid")
        elif set(flat) - axes != names:
            problems.append(f"trial {tid}: hyperparameters {sorted(set(flat) - axes)}, but spec.json has "
                            f"{sorted(names)}")
    if problems:
        more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise LaunchError(
            f"{uri}: spec.json does not describe the trials in Ray Tune's experiment state {states[-1]} "
            f"(spec.json replaced, or two studies in one folder?), so resuming would mix studies; nothing was "
            f"resumed:\n  " + "\n  ".join(problems[:MAX_LISTED]) + more
        )


def _key(point: dict[str, Any]) -> str:
    return json.dumps(point, sort_keys=True, default=str)


def _trial_record(entry: Any) -> dict[str, Any] | None:
    """Ray stores each trial as [trial JSON, runtime metadata JSON]; the first is what we need."""
    try:
        first = entry[0] if isinstance(entry, list) else entry
        trial = json.loads(first) if isinstance(first, str) else first
    except (IndexError, ValueError, RecursionError):
        return None
    return trial if isinstance(trial, dict) else None


def _children(fs: pafs.FileSystem, root: str) -> list[pafs.FileInfo]:
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        return []
    return fs.get_file_info(pafs.FileSelector(root, recursive=False))


def _studies_below(uri: str) -> list[str]:
    """Sub-folders that hold a study: a user who gives the storage folder, not the study's, sees where to look."""
    fs, root = storage.filesystem(uri)
    try:
        return sorted(storage.join(uri, info.base_name) for info in _children(fs, root)
                      if info.type == pafs.FileType.Directory
                      and fs.get_file_info(f"{info.path}/spec.json").type == pafs.FileType.File)[:MAX_LISTED]
    except OSError:
        return []
