"""What `xstudy run` shows while a study runs, and a real run whose trials move through their phases."""

from __future__ import annotations

import json
import threading
import time

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from study import progress, run_view, status
from study.cli import app
from helpers import small_spec
from written_study import trial_id


def test_summary_and_one_line_per_running_trial(live_study):
    record = {"trial_id": trial_id("small", "nli", 2), "state": "running", "milestone": 1000, "phase": "evaluation",
              "task": "panx", "language": "hi", "step": 0, "total": 1, "examples_per_s": None,
              "eta_milestone_s": 30.0, "eta_partial": True}
    (live_study / "progress").mkdir()
    (live_study / "progress" / f"{record['trial_id']}.json").write_text(json.dumps(record))
    s = status.gather(str(live_study))
    assert run_view.summary(s) == ("syn: milestones 10/18 done; trials: 1 pending, 1 running, 7 finished, "
                                   "1 stopped, 1 errored")
    [line] = run_view.trial_lines(s)
    assert line.split() == [record["trial_id"], "small", "nli", "seed", "2", "->", "1000:", "evaluation", "panx/hi",
                            "0/1,", "-", "examples/s,", "milestone", "in", "30", "s", "+", "evaluation"]


def test_outside_a_terminal_a_line_is_printed_only_when_the_summary_changes(live_study):
    console = Console(record=True, force_terminal=False, width=300)
    with run_view.RunView(str(live_study), console, interval=0.05):
        time.sleep(0.5)  # several reads of an unchanged study
    lines = [line for line in console.export_text().splitlines() if line]
    assert len(lines) == 2 and lines[0] == lines[1]  # once when first read, once at the end


@pytest.mark.slow
def test_a_running_study_shows_its_trials_moving_through_their_phases(tmp_path, monkeypatch, local_ray):
    """`xstudy run` with every step slowed (a test hook): while it runs, `status --json` shows a trial's
    phase and step change; the run shows milestones done out of planned, and exits 0."""
    monkeypatch.setenv(progress.STEP_DELAY_ENV, "0.05")  # seconds per step; forwarded to the trials
    monkeypatch.setenv(progress.PERIOD_ENV, "0.1")
    spec = small_spec(str(tmp_path), name="live", search={"max_concurrent_trials": 1},
                      models=[{"name": "tiny", "source": {"builtin": "tiny", "mlm_steps": 60}, "batch_size": 16,
                               "max_length": 48, "steps": [0, 30, 60]}],
                      target_tasks=[{"task": "builtin_pos", "languages": ["xa"]}],
                      target_training={"steps": 10, "batch_size": 16, "eval_batch_size": 128})
    spec_file = tmp_path / "live.yaml"
    spec_file.write_text(yaml.safe_dump(spec.model_dump(mode="json")))
    seen: list[tuple] = []
    done = threading.Event()

    def watch() -> None:
        # What `xstudy status --json` prints (the CLI runner itself swaps sys.stdout, so it is not run twice at once)
        while not done.is_set():
            try:
                live = json.loads(json.dumps(status.gather(str(tmp_path / "live")), default=str))["live"]
            except FileNotFoundError:
                live = {}  # not started yet
            for tid, r in live.items():
                seen.append((tid, r["milestone"], r["phase"], r["task"], r["step"], r["total"]))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        run = CliRunner().invoke(app, ["run", str(spec_file)], env={"COLUMNS": "2000"})
    finally:
        done.set()
        watcher.join(timeout=30)
    assert run.exit_code == 0, run.output[-3000:]
    assert "milestones 3/3 done" in run.output and "next: xstudy export" in run.output
    phases = {phase for _, _, phase, _, _, _ in seen}
    assert len(phases - {None}) >= 2, f"more than one phase seen: {phases}"
    trunk = {(milestone, step, total) for _, milestone, phase, _, step, total in seen if phase == "intermediate"}
    assert {m for m, _, _ in trunk} == {30, 60} and {t for _, _, t in trunk} == {30}, trunk  # 30 steps to each
    assert len({step for _, step, _ in trunk}) >= 3, f"the trunk's step moved: {sorted(trunk)}"
