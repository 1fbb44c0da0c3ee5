"""study.trainable: the pieces of Ray's entry points that run without Ray (the Ray paths themselves run in
test_distributed, test_launch and the cluster tests)."""

from __future__ import annotations

import logging
import queue
import threading
import time

import pytest

from study import trainable


def test_rank_0_waits_for_tune_to_pass_its_milestone():
    gate = queue.Queue()
    gate.put(10)  # an earlier milestone's item, left over: passed by
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (trainable.wait_for_tune(gate, 20), done.set()))
    waiter.start()
    time.sleep(0.3)
    assert not done.is_set(), "it waits while Tune has not decided on milestone 20"
    gate.put(20)
    waiter.join(timeout=5)
    assert done.is_set()


def test_no_decision_within_the_limit_goes_on_with_a_warning(monkeypatch):
    monkeypatch.setattr(trainable, "GATE_TIMEOUT_S", 0.2)
    with pytest.warns(UserWarning, match="no decision from Tune on milestone 30"):
        trainable.wait_for_tune(queue.Queue(), 30)


def test_checkpoint_logs_are_quiet_in_trials():
    names = ("ray.train._internal.storage", "ray.train.v2._internal.execution.storage")
    for name in names:
        logging.getLogger(name).setLevel(logging.INFO)
    trainable.quiet_checkpoint_logs()
    assert all(not logging.getLogger(name).isEnabledFor(logging.INFO) for name in names)
    assert all(logging.getLogger(name).isEnabledFor(logging.WARNING) for name in names)
