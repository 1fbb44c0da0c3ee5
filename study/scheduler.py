"""ASHA with its rungs at the step milestones, ranking configurations only within their group.

Ray's ASHAScheduler compares every trial of an experiment with every other, and its rungs sit at
grace_period x rf^k. In a duration sweep across model sizes that stops 1B trials because 10B trials score
higher, which destroys the size comparison the study exists for. This scheduler keeps ASHA's rule (stop
what scores below the (1 - 1/rf) quantile of what was already recorded at that rung) with three changes:

- one set of rungs per group (a model size; in `independent` mode a model size and a step budget), at
  exactly that group's milestones;
- it judges a *configuration* (everything but the seed), on the mean of its seeds at the rung, and only
  once `min_seeds` of them are there: one noisy seed never decides alone. Seeds that reach the rung
  earlier go on provisionally;
- a stopped configuration stops all its seeds, at their next report.

Every decision is kept in `decisions` (and written to `decisions_uri`), so a study shows what was stopped,
when, and against which configurations. Ray Tune does not save a scheduler's state: a resumed study gets the
scheduler as it was built, empty, so `relocate` reads the decisions back from the study's `scheduler.json`
(its rungs, stopped configurations and flat-curve histories with them) and writes there from then on,
wherever the study now is.

With `stop_when_flat` (the spec's `intermediate_training.stop_when_flat`) it also ends a trunk that has
stopped improving, whatever the other configurations score: from its 3rd milestone on, each result fits the
trunk's own signal against its steps (`analysis.curves.flat_check`) and stops the trunk when, with the given
confidence, the next milestone would add less than `min_gain` points. ASHA compares configurations; this
rule compares a trunk with its own future. Its decisions go into the same list, with `"rule":
"stop_when_flat"` and the fit's numbers (family, predicted gain, its upper bound).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from study.grid import point_of

STOP, CONTINUE = TrialScheduler.STOP, TrialScheduler.CONTINUE


def config_key(config: dict[str, Any]) -> str:
    """A configuration's identity across seeds: the config without its seed."""
    flat = point_of(config)
    flat.pop("seed", None)
    return json.dumps(flat, sort_keys=True, default=str)


class GroupedASHA(FIFOScheduler):
    def __init__(
        self,
        metric: str,
        mode: str,
        time_attr: str,
        rungs: Callable[[str], list[int]] | dict[str, list[int]],
        group_of: Callable[[dict[str, Any]], str | None],
        reduction_factor: float = 2.0,
        min_seeds: int = 1,
        decisions_uri: str | None = None,
        stop_when_flat: dict[str, float] | None = None,
        milestones_of: Callable[[dict[str, Any]], list[int]] | None = None,
    ):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self._metric = metric
        self._mode = mode
        self._time_attr = time_attr
        self._rf = reduction_factor
        self._group_of = group_of
        self._rungs_of = rungs if callable(rungs) else (lambda g, r=rungs: r.get(g, []))
        self._min_seeds = min_seeds
        # group -> milestone -> trial_id -> (config key, score)
        self._rungs: dict[str, dict[int, dict[str, tuple[str, float]]]] = {}
        self._stopped: set[str] = set()
        self.decisions: list[dict[str, Any]] = []
        self._decisions_uri = decisions_uri  # rewritten after every decision, so a crash loses none
        if stop_when_flat is not None and mode != "max":
            raise ValueError("stop_when_flat predicts a gain of a higher-is-better signal; mode must be 'max'")
        if stop_when_flat is not None and milestones_of is None:
            raise ValueError("stop_when_flat needs milestones_of: the next milestone is what it predicts")
        self._flat = dict(stop_when_flat) if stop_when_flat is not None else None  # min_gain, confidence
        self._milestones_of = milestones_of
        self._history: dict[str, dict[int, float]] = {}  # trial_id -> milestone -> signal

    def set_search_properties(self, metric: str | None, mode: str | None, **spec) -> bool:
        return True  # metric and mode are fixed by the study spec

    def cutoff(self, scores: list[float]) -> float | None:
        values = [v for v in scores if v is not None and not np.isnan(v)]
        if not values:
            return None
        q = (1 - 1 / self._rf) * 100
        return float(np.percentile(values, q if self._mode == "max" else 100 - q))

    def _rung(self, group: str, t: Any) -> dict[str, tuple[str, float]] | None:
        if group not in self._rungs:
            self._rungs[group] = {m: {} for m in self._rungs_of(group)}
        return self._rungs[group].get(t)

    def decide(self, trial_id: str, config: dict[str, Any], result: dict[str, Any]) -> str:
        """The scheduling decision for one result; pure apart from recording it (tested without Ray).

        ASHA's rule first; a result ASHA lets go on is then judged by the flat-curve rule when it is on."""
        decision = self._asha(trial_id, config, result)
        if decision == STOP or self._flat is None:
            return decision
        return self._flat_decision(trial_id, config, result)

    def _flat_decision(self, trial_id: str, config: dict[str, Any], result: dict[str, Any]) -> str:
        group = self._group_of(config)
        t, score = result.get(self._time_attr), result.get(self._metric)
        if group is None or t is None:
            return CONTINUE
        history = self._history.setdefault(trial_id, {})
        history[int(t)] = float("nan") if score is None else float(score)
        later = [m for m in self._milestones_of(config) if m > t]
        if len(history) < 3 or not later:
            return CONTINUE  # too few points to fit, or nothing left to save
        from analysis.curves import flat_check

        steps = sorted(history)
        check = flat_check(steps, [history[s] for s in steps], float(min(later)), self._flat["min_gain"],
                           self._flat["confidence"])
        self._write({"rule": "stop_when_flat", "group": group, "milestone": t, "trial_id": trial_id,
                     "config": config_key(config), "score": history[int(t)], "decision": check["decision"],
                     **{k: v for k, v in check.items() if k not in ("rule", "decision")}})
        return STOP if check["decision"] == "STOP" else CONTINUE

    def _asha(self, trial_id: str, config: dict[str, Any], result: dict[str, Any]) -> str:
        key = config_key(config)
        if key in self._stopped:
            return STOP  # a sibling seed's configuration was judged below the cutoff
        group = self._group_of(config)
        if group is None:
            return CONTINUE
        t = result.get(self._time_attr)
        rung = self._rung(group, t)
        if rung is None or trial_id in rung:
            return CONTINUE
        score = result.get(self._metric)
        score = float("nan") if score is None else float(score)
        rung[trial_id] = (key, score)
        seeds = [s for k, s in rung.values() if k == key]
        if len(seeds) < self._min_seeds:
            self._record(group, t, trial_id, key, score, None, [], "WAIT")
            return CONTINUE
        mean = float(np.nanmean(seeds)) if not all(np.isnan(seeds)) else float("nan")
        others: dict[str, list[float]] = {}
        for k, s in rung.values():
            if k != key:
                others.setdefault(k, []).append(s)
        ready = {k: float(np.nanmean(v)) for k, v in others.items() if len(v) >= self._min_seeds and not all(np.isnan(v))}
        cutoff = self.cutoff(list(ready.values()))
        if np.isnan(mean):
            stop = True  # a configuration whose signal is NaN cannot be ranked
        else:
            stop = cutoff is not None and (mean < cutoff if self._mode == "max" else mean > cutoff)
        decision = STOP if stop else CONTINUE
        if stop:
            self._stopped.add(key)
        compared = sorted(tid for tid, (k, _) in rung.items() if k in ready)
        self._record(group, t, trial_id, key, mean, cutoff, compared, decision, n_seeds=len(seeds))
        return decision

    def relocate(self, decisions_uri: str) -> None:
        """Write to `decisions_uri` from now on, after taking in the decisions already there (a resumed study):
        each trial's score at its rung, and which configurations are stopped."""
        from study import storage

        self._decisions_uri = decisions_uri
        if not storage.exists(decisions_uri):
            return
        recorded = json.loads(storage.read_text(decisions_uri))

        def ident(d: dict[str, Any]) -> tuple:
            return d.get("rule", "asha"), d["trial_id"], d["milestone"]

        known = {ident(d) for d in self.decisions}
        for d in recorded:
            if ident(d) in known:
                continue
            if d.get("rule") == "stop_when_flat":  # the trunk's own history; a stopped trunk is not run again
                self._history.setdefault(d["trial_id"], {})[int(d["milestone"])] = float(d["score"])
                continue
            rung = self._rung(d["group"], d["milestone"])
            if rung is None:  # a milestone no longer in the group's rungs: keep the record, rank nothing on it
                rung = self._rungs[d["group"]].setdefault(d["milestone"], {})
            score = d.get("trial_score", d["score"] if d["seeds_at_rung"] == 1 else None)
            rung[d["trial_id"]] = (d["config"], float("nan") if score is None else float(score))
            if score is not None:  # the trunk's history for the flat-curve rule too
                self._history.setdefault(d["trial_id"], {})[int(d["milestone"])] = float(score)
            if d["decision"] == STOP:
                self._stopped.add(d["config"])
        done = {ident(r) for r in recorded}
        self.decisions = [*recorded, *(d for d in self.decisions if ident(d) not in done)]

    def _record(self, group, t, trial_id, key, score, cutoff, compared, decision, n_seeds=1) -> None:
        trial_score = self._rungs[group][t][trial_id][1]  # this trial's own; `score` is its configuration's mean
        self._write(
            {"rule": "asha", "group": group, "milestone": t, "trial_id": trial_id, "config": key, "score": score,
             "trial_score": trial_score, "seeds_at_rung": n_seeds, "cutoff": cutoff, "compared_with": compared,
             "decision": decision}
        )

    def _write(self, decision: dict[str, Any]) -> None:
        self.decisions.append(decision)
        if self._decisions_uri:
            from study import storage

            storage.write_text_atomic(self._decisions_uri, json.dumps(self.decisions, indent=1, default=str))

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        return self.decide(trial.trial_id, trial.config, result)

    def debug_string(self) -> str:
        stopped = sum(d["decision"] == STOP and d.get("rule") == "asha" for d in self.decisions)
        flat = sum(d["decision"] == STOP and d.get("rule") == "stop_when_flat" for d in self.decisions)
        return (f"GroupedASHA: {len(self._rungs)} group(s), {stopped} configuration(s) stopped at a rung"
                + (f", {flat} trunk(s) stopped on a flat curve" if self._flat is not None else ""))
