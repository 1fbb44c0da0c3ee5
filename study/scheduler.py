"""ASHA with its rungs at the step milestones, ranking trials only within their group (the model size).

Ray's ASHAScheduler compares every trial of an experiment with every other, and its rungs sit at
grace_period x rf^k. In a duration sweep across model sizes that stops 1B trials because 10B trials score
higher, which destroys the size comparison the study exists for. This scheduler keeps ASHA's rule (stop a
trial whose score at a rung is below the (1 - 1/rf) quantile of the scores already recorded at that rung)
but keeps one set of rungs per group, at exactly that group's milestones.

Every decision is kept in `decisions`, so a study can show which trials were stopped and why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from ray.tune.schedulers import FIFOScheduler, TrialScheduler


class GroupedASHA(FIFOScheduler):
    def __init__(
        self,
        metric: str,
        mode: str,
        time_attr: str,
        rungs: dict[str, list[int]],
        group_of: Callable[[dict[str, Any]], str | None],
        reduction_factor: float = 2.0,
        decisions_uri: str | None = None,
    ):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self._metric = metric
        self._mode = mode
        self._time_attr = time_attr
        self._rf = reduction_factor
        self._group_of = group_of
        # group -> milestone -> {trial_id: score}
        self._rungs: dict[str, dict[int, dict[str, float]]] = {g: {m: {} for m in ms} for g, ms in rungs.items()}
        self.decisions: list[dict[str, Any]] = []
        self._decisions_uri = decisions_uri  # rewritten after every decision, so a crash loses none

    def set_search_properties(self, metric: str | None, mode: str | None, **spec) -> bool:
        return True  # metric and mode are fixed by the study spec

    def cutoff(self, recorded: dict[str, float]) -> float | None:
        values = [v for v in recorded.values() if v is not None and not np.isnan(v)]
        if not values:
            return None
        q = (1 - 1 / self._rf) * 100
        return float(np.percentile(values, q if self._mode == "max" else 100 - q))

    def decide(self, trial_id: str, config: dict[str, Any], result: dict[str, Any]) -> str:
        """The scheduling decision for one result; pure apart from recording it (tested without Ray)."""
        group = self._group_of(config)
        t = result.get(self._time_attr)
        score = result.get(self._metric)
        rungs = self._rungs.get(group) if group is not None else None
        if rungs is None or t not in rungs or trial_id in rungs[t]:
            return TrialScheduler.CONTINUE
        recorded = rungs[t]
        cutoff = self.cutoff(recorded)
        stop = cutoff is not None and score is not None and (score < cutoff if self._mode == "max" else score > cutoff)
        if score is None or np.isnan(score):
            stop = True  # a trial whose signal is NaN cannot be ranked; it is not worth continuing
        recorded[trial_id] = score
        decision = TrialScheduler.STOP if stop else TrialScheduler.CONTINUE
        self.decisions.append(
            {"group": group, "milestone": t, "trial_id": trial_id, "score": score, "cutoff": cutoff,
             "compared_with": sorted(set(recorded) - {trial_id}), "decision": decision}
        )
        if self._decisions_uri:
            import json

            from study import storage

            storage.write_text_atomic(self._decisions_uri, json.dumps(self.decisions, indent=1, default=str))
        return decision

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        return self.decide(trial.trial_id, trial.config, result)

    def debug_string(self) -> str:
        stopped = sum(d["decision"] == TrialScheduler.STOP for d in self.decisions)
        return f"GroupedASHA: {len(self._rungs)} group(s), {stopped} trial(s) stopped at a rung"
