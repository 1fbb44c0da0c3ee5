"""The flat-curve stopper replayed on a finished study: intermediate steps saved, and whether the
recommendation per size changes.

Usage: python bench/flat_stopper.py STUDY [--min-gain 0.5] [--confidence 0.9] [--json OUT]

The stopper's decision for a trunk depends only on that trunk's own signal at its milestones (ASHA's
signal: `analysis.aggregate.dev_signal`, the number a trial reports to Tune), so replaying
`analysis.curves.flat_check` over a finished study's rows gives the milestone at which it would have stopped
each trunk. What a replay cannot show: a trunk stopped earlier is missing from ASHA's later rungs, which can
move ASHA's cutoffs for the others. Steps saved count the intermediate (trunk) steps of `branch` mode: a
trunk stopped at milestone m instead of its last milestone L saves L - m steps. The recommendation
(`analysis.recommend`, default budget) is computed on all rows and on the rows the stopped trunks would
have written, and compared per size.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis import aggregate, curves, recommend  # noqa: E402
from study import results  # noqa: E402
from study.export import study_convention  # noqa: E402


def replay(uri: str, min_gain: float, confidence: float) -> dict:
    df = results.collect(uri)
    signal = aggregate.dev_signal(df)
    grid = {model: sorted(group["intermediate_steps"].unique()) for model, group in df.groupby("model")}
    stops, kept_rows = [], []
    saved = total = 0
    for trial_id, trunk in signal[signal["intermediate_task"] != "none"].groupby("trial_id"):
        trunk = trunk.sort_values("intermediate_steps")
        steps, values = trunk["intermediate_steps"].tolist(), trunk["score"].tolist()
        last = steps[-1]
        total += last
        stop_at, check = None, None
        for i in range(2, len(steps)):
            later = [m for m in grid[trunk["model"].iloc[0]] if m > steps[i]]
            if not later:
                break
            check = curves.flat_check(steps[: i + 1], values[: i + 1], float(min(later)), min_gain, confidence)
            if check["decision"] == "STOP":
                stop_at = steps[i]
                break
        if stop_at is not None:
            saved += last - stop_at
            stops.append({"trial_id": trial_id, "model": trunk["model"].iloc[0],
                          "intermediate_task": trunk["intermediate_task"].iloc[0], "stopped_at": int(stop_at),
                          "last_milestone": int(last), "predicted_gain": check["predicted_gain"],
                          "upper_bound": check["upper_bound"], "family": check["family"]})
            kept_rows.append(df[(df["trial_id"] == trial_id) & (df["intermediate_steps"] > stop_at)].index)
    truncated = df.drop(index=[i for idx in kept_rows for i in idx])
    convention = study_convention(uri)
    full = recommend.recommend(curves.study_curves(df, convention))
    short = recommend.recommend(curves.study_curves(truncated, convention))
    compare = []
    for (_, a), (_, b) in zip(full.iterrows(), short.iterrows(), strict=True):
        compare.append({"model": a["model"], "full": [a["intermediate_task"], _int(a["steps"])],
                        "with_stopper": [b["intermediate_task"], _int(b["steps"])],
                        "changed": (a["intermediate_task"], _int(a["steps"])) != (b["intermediate_task"], _int(b["steps"]))})
    return {"study": uri, "min_gain": min_gain, "confidence": confidence,
            "trunks": int(signal[signal["intermediate_task"] != "none"]["trial_id"].nunique()),
            "trunks_stopped": len(stops), "intermediate_steps_full": int(total), "intermediate_steps_saved": int(saved),
            "saved_fraction": saved / total if total else None, "stops": stops, "recommendation": compare}


def _int(value):
    return None if value != value else int(value)  # NaN -> None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study")
    parser.add_argument("--min-gain", type=float, default=0.5)
    parser.add_argument("--confidence", type=float, default=0.9)
    parser.add_argument("--json", dest="out")
    args = parser.parse_args()
    out = replay(args.study, args.min_gain, args.confidence)
    text = json.dumps(out, indent=2, default=str)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
