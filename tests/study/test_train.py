"""Learning-rate schedules: what each step trains at, for the cooldown branch and the classic schedule."""

from __future__ import annotations

import pytest

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
