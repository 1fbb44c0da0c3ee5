"""How a run ended: its exit code and what the command says, from Ray Tune's trial end states."""

from __future__ import annotations

import signal
from types import SimpleNamespace

from study import outcome
from study.outcome import Outcome


class Grid(list):
    """The parts of Ray Tune's ResultGrid that an outcome reads."""

    def __init__(self, results, terminated):
        super().__init__(results)
        self.num_terminated = terminated


def result(error=None, trial_id=None, path="/s/xstudy_trial_abcde_00001_1_point=x_2026-01-01_00-00-00"):
    return SimpleNamespace(error=error, metrics={"trial_id": trial_id} if trial_id else {}, path=path)


def test_every_trial_finished():
    ended = outcome.of_grid(Grid([result(), result()], terminated=2), "/s", "/s/results.parquet", None)
    assert ended.exit_code == 0 and not ended.interrupted
    assert ended.lines() == ["next: xstudy export /s"]


def test_errored_trials_are_listed_and_exit_1():
    error = RuntimeError("Traceback (most recent call last):\n  ...\nInjectedFault: raise@20")
    ended = outcome.of_grid(Grid([result(), result(error)], terminated=1), "/s", "/s/r", None)
    assert ended.exit_code == 1 and ended.errors == {"abcde_00001": "InjectedFault: raise@20"}
    assert ended.lines()[:2] == ["1 trial(s) errored:", "  abcde_00001: InjectedFault: raise@20"]


def test_an_interruption_exits_128_plus_the_signal_and_says_how_to_resume():
    # Ctrl-C: Tune stops and returns; a trial neither finished nor errored shows the interruption
    ended = outcome.of_grid(Grid([result(), result()], terminated=1), "s3://b/p/x?scheme=http&a=1", "t", None)
    assert ended.interrupted and ended.exit_code == 130
    assert ended.lines() == ["interrupted (SIGINT): 1 of 2 trial(s) unfinished",
                             "continue with: xstudy resume 's3://b/p/x?scheme=http&a=1'"]
    # SIGTERM, as a cluster scheduler sends it, even if every trial happened to be done by then
    ended = Outcome("/s", "t", trials=2, finished=2, signal_received=signal.SIGTERM)
    assert ended.exit_code == 143 and "interrupted (SIGTERM)" in ended.lines()[0]


def test_a_trial_ended_by_a_data_error_counts_as_errored():
    # Tune saw it end normally (it is not retried); its record under failed/ makes it an error
    ended = outcome.of_grid(Grid([result(), result()], terminated=2), "/s", "t", None,
                            failed={"abcde_00001": "DataError: panic in the tokenizer"})
    assert ended.exit_code == 1 and ended.finished == 1 and not ended.interrupted
    assert "  abcde_00001: DataError: panic in the tokenizer" in ended.lines()


def test_trial_ids_of_ray_folders():
    assert outcome.trial_id_of_folder("/x/xstudy_trial_5e7a1_00012_12_point=a_2026") == "5e7a1_00012"
    assert outcome.trial_id_of_folder("/x/xstudy_trial_5e7a1_00012") == "5e7a1_00012"
    assert outcome.trial_id_of_folder("/x/rows") is None
