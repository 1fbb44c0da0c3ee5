"""`xstudy status` and `xstudy export` on a study whose files are being written: every read is a snapshot.

A writer thread plays a running study through the production writers: `spec.json` (as `xstudy run` writes
it), each milestone's rows (`results.write_milestone`), ASHA's decisions (`GroupedASHA`, which rewrites
`scheduler.json` at every decision), and then, as a retried milestone does, it rewrites finished milestone
files in place. Meanwhile the test reads the study again and again. Every read must succeed, see only
whole milestone files (each contributes all its rows or none), and never see fewer rows than the read
before; an export's files must all describe one and the same snapshot.
"""

from __future__ import annotations

import io
import json
import threading
import time

import pandas as pd
import pyarrow.fs as pafs

from study import export as exporter
from study import results, status, storage
from study.scheduler import GroupedASHA
from written_study import milestone_rows, milestones, spec_json, trial_id, trials

ROWS_PER_MILESTONE = len(milestone_rows("small", "none", 0, 0))
PLAN = [(m, t, s, steps) for m, t, s in trials() for steps in milestones(m, t)]


def writer(uri: str, read: threading.Event, first_pass_done: threading.Event, stop: threading.Event,
           errors: list) -> None:
    """Writes the study; in its first pass, each milestone after the reader has read something since the
    last one (or after a second), so that reads fall between and during writes however busy the machine."""
    try:
        storage.write_text_atomic(storage.join(uri, "spec.json"), spec_json("live"))
        asha = GroupedASHA(metric="dev", mode="max", time_attr="intermediate_steps",
                           rungs={"small": [100], "large": [100]},
                           group_of=lambda c: None if c["point"]["intermediate_task"] == "none"
                           else c["point"]["model"],
                           min_seeds=1,
                           decisions_uri=storage.join(uri, "scheduler.json"))
        for model, task, seed, steps in PLAN:
            rows = milestone_rows(model, task, seed, steps, study="live")
            results.write_milestone(uri, trial_id(model, task, seed), steps, rows)
            config = {"point": {"model": model, "intermediate_task": task, "seed": seed}}
            asha.decide(trial_id(model, task, seed), config, {"intermediate_steps": steps, "dev": rows[-1]["value"]})
            read.wait(timeout=1.0)
            read.clear()
        first_pass_done.set()
        i = 0
        while not stop.is_set():  # a retried milestone replaces its own file with the same rows
            model, task, seed, steps = PLAN[i % len(PLAN)]
            rows = milestone_rows(model, task, seed, steps, study="live")
            results.write_milestone(uri, trial_id(model, task, seed), steps, rows)
            i += 1
    except BaseException as exc:  # noqa: BLE001 - handed to the test, which fails with it
        errors.append(exc)
        first_pass_done.set()


def whole_milestones(df: pd.DataFrame) -> int:
    """The number of milestones in a table, asserting that each has all its rows."""
    if df.empty:
        return 0
    sizes = df.groupby(["trial_id", "intermediate_steps"]).size()
    assert (sizes == ROWS_PER_MILESTONE).all(), f"a milestone read in part: {sizes[sizes != ROWS_PER_MILESTONE]}"
    return len(sizes)


def read_json_file(uri: str) -> object:
    """A file that exists must parse whole: a writer that did not rename atomically shows here."""
    return json.loads(storage.read_text(uri)) if storage.exists(uri) else None


def no_temporary_files(uri: str) -> None:
    fs, root = storage.filesystem(uri)
    leftovers = [f.path for f in fs.get_file_info(pafs.FileSelector(root, recursive=True)) if "/.tmp-" in f.path]
    assert not leftovers, leftovers


def test_status_and_export_read_whole_snapshots_while_the_study_writes(tmp_path, monkeypatch):
    uri = str(tmp_path / "live")
    # The tables are what is checked here (figures are tested in test_export).
    monkeypatch.setattr(exporter, "draw", lambda tables, folder: {})
    read, first_pass_done, stop, errors = threading.Event(), threading.Event(), threading.Event(), []
    thread = threading.Thread(target=writer, args=(uri, read, first_pass_done, stop, errors), daemon=True)
    thread.start()
    while not storage.exists(results.rows_dir(uri)):
        time.sleep(0.01)

    seen = {"rows": 0, "status": 0, "decisions": 0, "export": 0}
    reads_during_first_pass = exports = reads_after = 0
    try:
        while reads_after < 4:
            during = not first_pass_done.is_set()
            n = whole_milestones(results.collect(uri))
            assert n >= seen["rows"], "a later read saw fewer milestones"
            seen["rows"] = n
            read.set()

            s = status.gather(uri)
            json.dumps(s, default=str)  # what `xstudy status --json` prints
            done = sum(len(t["milestones_done"]) for t in s["trials"])
            assert done >= seen["status"] and sum(s["trials_by_state"].values()) == len(s["trials"])
            seen["status"] = done
            read.set()

            assert read_json_file(storage.join(uri, "spec.json"))["study"]["name"] == "live"
            decisions = read_json_file(storage.join(uri, "scheduler.json")) or []
            assert len(decisions) >= seen["decisions"]
            seen["decisions"] = len(decisions)

            # One export while rows land, one while they are rewritten.
            if (exports == 0 and seen["rows"] > 2) or (exports == 1 and not during):
                written = exporter.export(uri)
                table = pd.read_parquet(written["results table"])
                m = whole_milestones(table)
                assert m >= seen["export"]
                seen["export"] = m
                csv = pd.read_csv(io.StringIO(storage.read_text(written["results csv"])))
                assert len(csv) == len(table), "results.csv and results.parquet come from one snapshot"
                no_temporary_files(storage.join(uri, "report"))
                exports += 1
            reads_during_first_pass += during
            reads_after += not during
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not errors, errors
    assert reads_during_first_pass >= 2, "the reads must overlap the writes to test anything"
    assert seen["rows"] == len(PLAN) and seen["status"] == len(PLAN)
    assert 0 < seen["export"] and exports == 2
    no_temporary_files(results.rows_dir(uri))
