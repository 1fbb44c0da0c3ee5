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


def test_the_spec_is_validated_once_on_its_way_into_a_train_worker_and_the_config_arrives_flat(tmp_path, monkeypatch):
    """run_in_tune validates the spec's JSON; run_in_train hands the validated StudySpec to the workers (pickled
    by Ray, here by cloudpickle as Ray does), which use it as it is. Tune's nested config arrives flat."""
    import ray
    import ray.train
    import ray.train.torch
    from ray import cloudpickle, tune

    from helpers import small_spec
    from study.spec import StudySpec

    spec = small_spec(str(tmp_path))
    spec = spec.model_copy(update={"models": [m.model_copy(update={"parallelism": "ddp"}) for m in spec.models]})
    validations = []
    validate = StudySpec.model_validate
    monkeypatch.setattr(StudySpec, "model_validate",
                        classmethod(lambda cls, *a, **k: validations.append(1) or validate(*a, **k)))
    sent, received = [], []

    class FakeTrainer:  # the TorchTrainer: its fit runs the one worker in this process, after Ray's pickling
        def __init__(self, train_fn, train_loop_config, **kwargs):
            self.train_fn, self.loop = train_fn, train_loop_config

        def fit(self):
            sent.append(self.loop["spec"])
            self.train_fn(cloudpickle.loads(cloudpickle.dumps(self.loop)))

    class FakeTrial:
        def __init__(self, spec, config, trial_id, group, node=None):
            received.append((spec, config, trial_id))

        def run(self, report, checkpoint=None):
            pass

    class Context:
        def get_trial_id(self):
            return "trial_1"

        def get_world_rank(self):
            return 0

        def get_world_size(self):
            return 1

        def get_node_id(self):
            return "0123456789abcdef"

    monkeypatch.setattr(ray.train.torch, "TorchTrainer", FakeTrainer)
    monkeypatch.setattr(ray.train, "get_context", Context)
    monkeypatch.setattr(ray.train, "get_checkpoint", lambda: None)
    monkeypatch.setattr(ray, "get_runtime_context", Context)
    monkeypatch.setattr(tune, "get_context", Context)
    monkeypatch.setattr(trainable, "DistributedTrial", FakeTrial)
    config = {"point": {"model": "tiny", "intermediate_task": "builtin_nli", "seed": 0}, "intermediate_lr": 1e-3,
              "target_lr": 1e-3}
    trainable.run_in_tune(config, spec_data=spec.model_dump(mode="json"))
    assert len(validations) == 1, "validated once, in run_in_tune"
    assert isinstance(sent[0], StudySpec) and sent[0] == spec
    (got_spec, got_config, trial_id), = received
    assert got_spec == spec and isinstance(got_spec, StudySpec) and trial_id == "trial_1"
    assert got_config == {"model": "tiny", "intermediate_task": "builtin_nli", "seed": 0, "intermediate_lr": 1e-3,
                          "target_lr": 1e-3}
    with pytest.raises(TypeError, match="passes a StudySpec"):  # JSON would have to be validated again
        trainable.train_worker({"spec": spec.model_dump(mode="json"), "config": got_config, "trial_id": "t"})
