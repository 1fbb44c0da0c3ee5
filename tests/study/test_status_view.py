"""What `xstudy status` shows: the running trials' live progress, the time to finish, and `--watch`."""

from __future__ import annotations

import json

from rich.console import Console
from typer.testing import CliRunner

from study import progress, status_view
from study.cli import app
from written_study import trial_id


def _live(study, tid, **fields):
    record = {"trial_id": tid, "state": "running", "milestone": 1000, "phase": "fine-tune", "task": "xnli",
              "language": None, "step": 12, "total": 20, "examples_per_s": 48.0, "eta_milestone_s": 95.0,
              "eta_partial": False, "updated_at": "2026-01-01T00:00:00+00:00", **fields}
    (study / "progress").mkdir(exist_ok=True)
    (study / "progress" / f"{tid}.json").write_text(json.dumps(record))


def test_running_trials_show_their_phase_step_rate_and_time_to_the_milestone(live_study, capsys):
    running = trial_id("small", "nli", 2)
    _live(live_study, running)
    _live(live_study, trial_id("small", "nli", 0), phase="evaluation", language="de")  # finished: not shown
    assert status_view.status_command(str(live_study), as_json=True) == 0
    status = json.loads(capsys.readouterr().out)
    assert set(status["live"]) == {running} and status["live"][running]["step"] == 12
    # the running trial's milestone, from its file; the large size has finished no trained milestone yet
    assert status["eta"]["trials_at_once"] == 1 and status["eta"]["work_seconds"] == 95.0
    assert status["eta"]["sizes_without_rate"] == ["large"]
    console = Console(record=True, width=250)
    assert status_view.status_command(str(live_study), as_json=False, console=console) == 0
    out = " ".join(console.export_text().split())
    for text in ("running trials, now", "fine-tune xnli", "12/20", "48.0", "95 s", "estimated time to finish",
                 "not counted yet (no finished milestone to measure): large"):
        assert text in out, text


def test_a_trial_known_only_as_created_is_running_once_it_writes_progress(live_study):
    from study import status

    pending = trial_id("large", "nli", 1)  # PENDING in Ray's last snapshot
    assert {t["trial_id"]: t["state"] for t in status.gather(str(live_study))["trials"]}[pending] == "pending"
    _live(live_study, pending, phase="intermediate", task=None, step=3, total=100)
    s = status.gather(str(live_study))
    assert {t["trial_id"]: t["state"] for t in s["trials"]}[pending] == "running" and pending in s["live"]


def test_watch_redraws_until_the_study_ends(live_study):
    console = Console(record=True, force_terminal=True, width=200)
    assert status_view.status_command(str(live_study), as_json=False, watch=True, interval=0.01, updates=3,
                                      console=console) == 0
    assert "trials by state and size" in console.export_text()


def test_watch_and_json_are_one_or_the_other(live_study):
    result = CliRunner().invoke(app, ["status", str(live_study), "--watch", "--json"])
    assert result.exit_code == 2 and "give one of them" in " ".join(result.output.split())


def test_phase_text():
    assert status_view.phase_text({"phase": "evaluation", "task": "panx", "language": "de"}) == "evaluation panx/de"
    assert status_view.phase_text({"phase": None, "state": "reported"}) == "reported, going on"
    assert status_view.eta_text(7200 * 2, partial=True) == "4.0 h + evaluation"
    assert progress.PERIOD_S > 0
