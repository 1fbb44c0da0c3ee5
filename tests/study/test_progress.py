"""A trial's live progress file: what it says, how often it is written, and its estimate to the milestone."""

from __future__ import annotations

import json

import pytest

from study import progress
from study.progress import PlannedPhase, Progress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


PLAN = [PlannedPhase("intermediate", 10), PlannedPhase("fine-tune", 20, "xnli"),
        PlannedPhase("evaluation", 1, "xnli", "en"), PlannedPhase("evaluation", 1, "xnli", "de")]


def run_milestone(p: Progress, clock: Clock, milestone: int, seconds_per_step: float, seconds_per_tune: float,
                  seconds_per_split: float) -> None:
    p.start_milestone(milestone, PLAN)
    p.start("intermediate", 10)
    for _ in range(10):
        clock.now += seconds_per_step
        p.advance(1, examples=32)
    p.start("fine-tune", 20, "xnli")
    for _ in range(20):
        clock.now += seconds_per_tune
        p.advance(1, examples=16)
    for lang in ("en", "de"):
        p.start("evaluation", 1, "xnli", lang)
        clock.now += seconds_per_split
        p.advance(1, examples=100)
    p.finish()


def test_the_estimate_adds_what_is_left_at_the_measured_rates(tmp_path):
    clock = Clock()
    p = Progress(str(tmp_path), "t0", clock=clock, period_s=0.0)
    p.start_milestone(100, PLAN)
    p.start("intermediate", 10)
    assert p.estimate()[1] is True, "nothing measured yet: the estimate says it is partial"
    for _ in range(4):
        clock.now += 1.0
        p.advance(1, examples=32)
    # 6 trunk steps left at 1 s, 20 fine-tuning steps at the only training rate known (1 s), evaluation unknown
    assert p.estimate() == (pytest.approx(26.0), True)
    record = json.loads((tmp_path / "progress" / "t0.json").read_text())
    assert record == {**record, "milestone": 100, "phase": "intermediate", "step": 4, "total": 10, "state": "running",
                      "eta_partial": True}
    assert record["examples_per_s"] == pytest.approx(32.0)
    assert record["eta_milestone_s"] == pytest.approx(26.0)


def test_a_second_milestone_is_estimated_from_every_phase_measured_at_the_first(tmp_path):
    clock = Clock()
    p = Progress(str(tmp_path), "t0", clock=clock, period_s=0.0)
    run_milestone(p, clock, 100, seconds_per_step=1.0, seconds_per_tune=0.5, seconds_per_split=3.0)
    assert json.loads((tmp_path / "progress" / "t0.json").read_text())["state"] == "reported"
    p.start_milestone(200, PLAN)
    p.start("intermediate", 10)
    assert p.estimate() == (pytest.approx(10 * 1.0 + 20 * 0.5 + 2 * 3.0), False)
    p.start("fine-tune", 20, "xnli")  # the planned trunk is done: only what follows is left
    assert p.estimate() == (pytest.approx(20 * 0.5 + 2 * 3.0), False)


def test_writes_are_throttled_within_a_phase_and_forced_at_its_start(tmp_path):
    clock = Clock()
    p = Progress(str(tmp_path), "t1", clock=clock, period_s=5.0)
    p.start_milestone(10, PLAN)
    p.start("intermediate", 10)
    path = tmp_path / "progress" / "t1.json"
    for expected_step in (0, 0, 0, 3, 3):
        assert json.loads(path.read_text())["step"] == expected_step
        clock.now += 2.0
        p.advance()
    p.start("fine-tune", 20, "xnli")
    assert json.loads(path.read_text())["phase"] == "fine-tune"
    assert progress.read_all(str(tmp_path))["t1"]["task"] == "xnli"


def test_a_worker_that_is_not_rank_0_writes_nothing(tmp_path):
    p = Progress(str(tmp_path), "t2", enabled=False, period_s=0.0)
    p.start_milestone(10, PLAN)
    p.start("intermediate", 10)
    p.advance()
    assert not (tmp_path / "progress").exists() and progress.read_all(str(tmp_path)) == {}


def test_the_period_and_the_step_delay_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(progress.PERIOD_ENV, "0.25")
    monkeypatch.setenv(progress.STEP_DELAY_ENV, "0.01")
    assert Progress(str(tmp_path), "t3").period_s == 0.25 and progress.step_delay() == 0.01
    monkeypatch.delenv(progress.PERIOD_ENV)
    monkeypatch.delenv(progress.STEP_DELAY_ENV)
    assert Progress(str(tmp_path), "t3").period_s == progress.PERIOD_S and progress.step_delay() == 0.0
