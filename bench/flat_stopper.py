"""The flat-curve stopper replayed on a finished study: intermediate steps saved, and whether the
recommendation per size changes.

Usage: python bench/flat_stopper.py STUDY [--min-gain 0.5] [--confidence 0.9] [--json OUT]
       python bench/flat_stopper.py STUDY --live STOPPED_STUDY [--json OUT]
       python bench/flat_stopper.py --write-specs DIR [--last-milestone 800]   # the two specs of a live run

The stopper's decision for a trunk depends only on that trunk's own signal at its milestones (ASHA's
signal: `analysis.aggregate.dev_signal`, the number a trial reports to Tune), so replaying
`analysis.curves.flat_check` over a finished study's rows gives the milestone at which it would have stopped
each trunk. What a replay cannot show: a trunk stopped earlier is missing from ASHA's later rungs, which can
move ASHA's cutoffs for the others. Steps saved count the intermediate (trunk) steps of `branch` mode: a
trunk stopped at milestone m instead of its last milestone L saves L - m steps. The recommendation
(`analysis.recommend`, default budget) is computed on all rows and on the rows the stopped trunks would
have written, and compared per size.

`--live STOPPED_STUDY` compares two real runs of one grid instead: STUDY without the stopper and
STOPPED_STUDY with it (the same spec with `intermediate_training.stop_when_flat` set). It counts the
intermediate steps each run's trunks trained (a trunk trains up to the last milestone it reports) against
the full grid (every trunk to its size's last milestone: what the grid costs with neither ASHA nor the
stopper), lists the stopper's STOP decisions from STOPPED_STUDY's scheduler.json, and compares the
recommendation per size of the two runs. Unlike the replay, the live run includes the stopper's effect on
ASHA's later rungs. `--write-specs DIR` writes the two specs from search_spaces/smoke.yaml, its milestones
extended by doubling up to `--last-milestone`: DIR/full.yaml and DIR/flat.yaml (the stopper on, with
`--min-gain` and `--confidence`), storing their studies under DIR.
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


def trunk_steps(uri: str) -> dict[tuple[str, str, int], int]:
    """Intermediate steps each trunk trained: (size, intermediate task, seed) -> the last milestone it reported."""
    df = results.collect(uri)
    trunks = df[df["intermediate_task"] != "none"]
    return {(m, t, int(seed)): int(g["intermediate_steps"].max())
            for (m, t, seed), g in trunks.groupby(["model", "intermediate_task", "seed"])}


def live(full_uri: str, stopped_uri: str) -> dict:
    spec = json.loads((Path(full_uri) / "spec.json").read_text())
    last = {m["name"]: max(m["steps"]) for m in spec["models"]}
    tasks = [t for t in spec["intermediate_tasks"] if t != "none"]
    grid_total = sum(last[m] for m in last for _ in tasks) * len(spec.get("seeds", [0]))
    full, stopped = trunk_steps(full_uri), trunk_steps(stopped_uri)
    decisions = json.loads((Path(stopped_uri) / "scheduler.json").read_text())
    flat_stops = [{k: d.get(k) for k in ("group", "milestone", "trial_id", "config", "predicted_gain", "upper_bound", "family")}
                  for d in decisions if d.get("rule") == "stop_when_flat" and d["decision"] == "STOP"]
    asha_stops = sum(d.get("rule") == "asha" and d["decision"] == "STOP" for d in decisions)
    recommendations = {}
    for name, uri in (("without_stopper", full_uri), ("with_stopper", stopped_uri)):
        table = recommend.recommend(curves.study_curves(results.collect(uri), study_convention(uri)))
        recommendations[name] = {row["model"]: [row["intermediate_task"], _int(row["steps"])] for _, row in table.iterrows()}
    return {
        "full_grid_steps": grid_total,
        "steps_without_stopper": sum(full.values()), "steps_with_stopper": sum(stopped.values()),
        "saved_against_full_grid": 1 - sum(stopped.values()) / grid_total,
        "saved_against_asha_alone": 1 - sum(stopped.values()) / sum(full.values()),
        "trunks": {f"{m}/{t}/seed{seed}": {"without_stopper": full.get(key), "with_stopper": stopped.get(key)}
                   for key in sorted(set(full) | set(stopped)) for m, t, seed in [key]},
        "flat_stops": flat_stops, "asha_stops_with_stopper": int(asha_stops),
        "recommendation": {m: {**{k: v.get(m) for k, v in recommendations.items()},
                               "changed": recommendations["without_stopper"].get(m) != recommendations["with_stopper"].get(m)}
                           for m in last},
    }


def write_specs(folder: str, last_milestone: int, min_gain: float, confidence: float) -> list[Path]:
    import yaml

    root = Path(__file__).resolve().parents[1]
    spec = yaml.safe_load((root / "search_spaces" / "smoke.yaml").read_text())
    for model in spec["models"]:
        while model["steps"][-1] * 2 <= last_milestone:
            model["steps"].append(model["steps"][-1] * 2)
    out = Path(folder).resolve()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, flat in (("full", None), ("flat", {"min_gain": min_gain, "confidence": confidence})):
        variant = {**spec, "study": {**spec["study"], "name": f"smoke{last_milestone}-{name}", "storage": str(out)},
                   "intermediate_training": {**spec.get("intermediate_training", {}),
                                             **({"stop_when_flat": flat} if flat else {})}}
        path = out / f"{name}.yaml"
        path.write_text(yaml.safe_dump(variant, sort_keys=False))
        written.append(path)
    return written


def _int(value):
    return None if value != value else int(value)  # NaN -> None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", nargs="?")
    parser.add_argument("--min-gain", type=float, default=0.5)
    parser.add_argument("--confidence", type=float, default=0.9)
    parser.add_argument("--live", metavar="STOPPED_STUDY")
    parser.add_argument("--json", dest="out")
    parser.add_argument("--write-specs", metavar="DIR")
    parser.add_argument("--last-milestone", type=int, default=800)
    args = parser.parse_args()
    if args.write_specs:
        for path in write_specs(args.write_specs, args.last_milestone, args.min_gain, args.confidence):
            print(path)
        return
    if not args.study:
        parser.error("STUDY is required unless --write-specs is given")
    out = live(args.study, args.live) if args.live else replay(args.study, args.min_gain, args.confidence)
    text = json.dumps(out, indent=2, default=str)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
