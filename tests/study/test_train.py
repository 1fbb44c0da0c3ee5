"""Learning-rate schedules (what each step trains at, for the cooldown branch and the classic schedule) and the
training step's bookkeeping: counts from the host batch, losses read in blocks."""

from __future__ import annotations

import contextlib

import pytest
import torch

from study.spec import SpecError
from study.train import ceil_steps, cooldown_steps, linear_decay_from, warmup_linear
from helpers import small_spec


def test_every_cooldown_step_trains_below_the_trunk_and_above_zero():
    rates = [linear_decay_from(1.0, 100, 4)(step) for step in range(100, 104)]
    assert rates == pytest.approx([0.8, 0.6, 0.4, 0.2])  # not 0.75, 0.5, 0.25, 0.0: the last step trains too
    assert linear_decay_from(2.0, 7, 1)(7) == pytest.approx(1.0), "a one-step branch trains at half the rate"
    assert all(b < a for a, b in zip([1.0, *rates], rates))


def test_step_counts_from_fractions_are_not_off_by_one():
    # A 3682-step warmup in a 20000-step independent run: 20000 x (3682 / 20000) is 3682.0000000000005 in
    # floating point, whose ceiling was 3683.
    assert 20000 * (3682 / 20000) > 3682
    assert ceil_steps(20000 * (3682 / 20000)) == 3682
    assert cooldown_steps(0.07, 100) == 7  # 0.07 x 100 = 7.000000000000001
    assert cooldown_steps(0.07, 110) == 8
    at = warmup_linear(1.0, 20000, 3682)
    assert at(3681) == pytest.approx(1.0) and at(3680) < 1.0  # the peak is reached at the 3682nd step, not later
    assert at(3683) < 1.0


@pytest.mark.slow
def test_an_independent_run_warms_up_for_exactly_the_spec_steps(tmp_path):
    from study.trial import Trial

    spec = small_spec(str(tmp_path), models=[{"name": "tiny", "source": {"builtin": "tiny", "mlm_steps": 60},
                                               "batch_size": 16, "max_length": 48, "steps": [0, 20000]}],
                      intermediate_training={"schedule": "independent", "warmup_steps": 3682})
    config = {"model": "tiny", "intermediate_task": "builtin_nli", "seed": 0, "budget": 20000, "intermediate_lr": 1e-3}
    trial = Trial(spec, config, "t")
    trial.setup(None)
    rates = [trial.phase.lr_at(step) for step in (3680, 3681, 3683)]
    assert rates[1] == pytest.approx(1e-3) and rates[0] < rates[1] and rates[2] < rates[1]


def test_a_warmup_as_long_as_the_budget_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match=r"warmup_steps 10 is at least models\[0\] \(tiny\)'s step budget\(s\) \[10\]"):
        small_spec(str(tmp_path), intermediate_training={"schedule": "independent", "warmup_steps": 10})
    with pytest.raises(SpecError, match=r"warmup_steps 20 is at least models\[0\] \(tiny\)'s last milestone 20"):
        small_spec(str(tmp_path), intermediate_training={"warmup_steps": 20})
    small_spec(str(tmp_path), intermediate_training={"warmup_steps": 19})  # branch: earlier milestones may warm up
    small_spec(str(tmp_path), intermediate_tasks=["none"], intermediate_training={"warmup_steps": 50})  # no trunk


class _Regression:
    """A minimal task format: a linear head on the first input id, loss = mean squared error. `nan_at` makes
    the loss of that optimizer step non-finite."""

    def __init__(self, nan_at: int | None = None):
        self.nan_at = nan_at
        self.calls = 0

    def collate(self, rows, pad_id):
        ids = torch.tensor(rows["input_ids"], dtype=torch.float32)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "label": ids[:, 0]}

    def loss(self, encoder, head, batch):
        out = head(encoder(batch["input_ids"])).squeeze(-1)
        loss = torch.mean((out - batch["label"]) ** 2)
        self.calls += 1
        return loss * float("nan") if self.calls - 1 == self.nan_at else loss


def _phase(fmt):
    from study.train import DataStream, Phase, StreamState, adamw

    torch.manual_seed(0)
    encoder, head = torch.nn.Linear(3, 4), torch.nn.Linear(4, 1)
    features = {"input_ids": [[i % 7, 1, 2] for i in range(50)]}
    return Phase(encoder=encoder, heads={"reg": head}, formats={"reg": fmt},
                 streams={"reg": DataStream(features, 5, StreamState(seed=1))},
                 optimizer=adamw([encoder, head], 1e-2, 0.0), lr_at=lambda step: 1e-2, max_grad_norm=1.0,
                 pad_id=0, device=torch.device("cpu"), autocast=contextlib.nullcontext())


def test_losses_are_read_in_blocks_yet_every_step_is_recorded_and_counted():
    from study.train import LOSS_READ_EVERY

    phase = _phase(_Regression())
    n = 2 * LOSS_READ_EVERY + 3  # two full reads and a partial one at the end
    cost = phase.run(n)
    assert len(phase.losses) == n and phase.step == n
    assert cost.steps == n and cost.examples == 5 * n and cost.tokens == 15 * n and cost.pairs == 5 * 9 * n
    assert phase.losses[-1] < phase.losses[0], "it trains"


def test_a_non_finite_loss_names_its_own_step_not_the_read():
    phase = _phase(_Regression(nan_at=5))
    with pytest.raises(FloatingPointError, match=r"loss is nan at step 5 \(reg\)"):
        phase.run(40)
    assert phase.losses == [], "no loss of an unfinished read is recorded"


def _varied(n=1000, seed=0):
    import random as _random

    rng = _random.Random(seed)
    return {"input_ids": [[1] * rng.randint(5, 300) for _ in range(n)]}


def _padding(stream, batches):
    lengths = [len(ids) for ids in stream.features["input_ids"]]
    padded = real = 0
    for _ in range(batches):
        got = [lengths[i] for i in stream.next_indices()]
        padded += max(got) * len(got)
        real += sum(got)
    return 1 - real / padded


def test_length_grouping_pads_less_and_still_draws_every_example_once_per_epoch():
    from study.train import DataStream, StreamState

    features = _varied()
    plain = DataStream(features, 16, StreamState(seed=3))
    grouped = DataStream(features, 16, StreamState(seed=3), group_by_length=True)
    assert sorted(grouped._permutation(0)) == list(range(1000))
    assert grouped._permutation(1) != grouped._permutation(0)
    assert _padding(grouped, 60) < 0.25 * _padding(plain, 60)  # uniform lengths 5-300: ~48% padding at random


def test_a_grouped_stream_resumes_exactly_from_its_state():
    from study.train import DataStream, StreamState

    features = _varied(300)
    whole = DataStream(features, 16, StreamState(seed=5), group_by_length=True)
    first = [whole.next_indices() for _ in range(40)]  # past the end of an epoch (300 / 16 = 18.75 batches)
    stopped = DataStream(features, 16, StreamState(seed=5), group_by_length=True)
    for _ in range(25):
        stopped.next_indices()
    resumed = stopped.at(StreamState(**vars(stopped.state)))
    assert [resumed.next_indices() for _ in range(15)] == first[25:]
    rebuilt = DataStream(features, 16, StreamState(seed=5, epoch=stopped.state.epoch, position=stopped.state.position),
                         group_by_length=True)
    assert rebuilt.next_indices() == first[25]


def test_multiple_choice_examples_group_by_their_longest_choice():
    from study.train import feature_lengths

    assert feature_lengths({"input_ids": [[[1, 2], [1, 2, 3, 4]], [[1], [1]]]}) == [4, 1]
    assert feature_lengths({"input_ids": [[1, 2, 3], []]}) == [3, 0]
