"""Branch against independent: intermediate steps trained and wall time, side by side in one run.

Runs one spec (default: the smoke study) twice on a local Ray, once per schedule, with ASHA off so both
modes train their whole grid, and counts the intermediate steps each actually trained from the result
rows (trunk steps to the last milestone of each trial, plus every cooldown branch). It reports the study's
wall time, and the wall seconds of intermediate training alone (also from the rows): target fine-tuning
and zero-shot evaluation are the same work in both modes, so they dilute the whole study's saving.

    python bench/branching.py [SPEC] [--num-cpus N] [--json OUT]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import pandas as pd

from summary import emit  # bench/summary.py: scripts run as `python bench/NAME.py`


def steps_trained(df: pd.DataFrame) -> int:
    """Intermediate optimizer steps a study trained, read back from its rows."""
    per_milestone = df.drop_duplicates(["trial_id", "intermediate_steps"])
    trunk = per_milestone.groupby("trial_id").intermediate_steps.max().sum()
    return int(trunk + per_milestone.cooldown_steps.sum())


def intermediate_seconds(df: pd.DataFrame) -> float:
    """Wall seconds a study spent in intermediate training (trunks and cooldown branches), from its rows.

    A row's `intermediate_seconds` is the trunk's time to its milestone plus that milestone's cooldown, so a
    trial's trunk time is the largest of those less the cooldown, and every cooldown counts once.
    """
    per_milestone = df.drop_duplicates(["trial_id", "intermediate_steps"])
    trunk = (per_milestone.intermediate_seconds - per_milestone.cooldown_seconds).groupby(per_milestone.trial_id).max()
    return float(trunk.sum() + per_milestone.cooldown_seconds.sum())


def run_mode(spec, mode: str, root: str, num_cpus: int | None) -> dict:
    from study import launch, results

    data = spec.model_dump(mode="json")
    data["study"].update(storage=root, name=f"bench-{mode}")
    data["intermediate_training"]["schedule"] = mode
    data["asha"]["enabled"] = False
    from study.spec import parse_spec

    variant = parse_spec(data)
    start = time.perf_counter()
    launch.run(variant, num_cpus=num_cpus)
    wall = time.perf_counter() - start
    df = results.collect(variant.uri)
    return {
        "mode": mode, "wall_seconds": wall, "intermediate_steps": steps_trained(df),
        "intermediate_seconds": intermediate_seconds(df), "rows": len(df),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", default="search_spaces/smoke.yaml")
    parser.add_argument("--num-cpus", type=int, default=None)
    parser.add_argument("--json", dest="out", default=None)
    args = parser.parse_args(argv)

    import ray

    from study.model import ensure_builtin
    from study.spec import BuiltinSource, load_spec

    spec = load_spec(args.spec)
    for m in spec.models:  # pretraining is shared by both modes: do it before either is timed
        if isinstance(m.source, BuiltinSource):
            ensure_builtin(m.source)
    out = []
    with tempfile.TemporaryDirectory(prefix="xstudy-bench-") as root:
        for mode in ("branch", "independent"):
            out.append(run_mode(spec, mode, root, args.num_cpus))
            ray.shutdown()
    branch, independent = out
    summary = {
        "spec": args.spec,
        "runs": out,
        "step_saving": 1 - branch["intermediate_steps"] / independent["intermediate_steps"],
        "intermediate_seconds_saving": 1 - branch["intermediate_seconds"] / independent["intermediate_seconds"],
        "wall_saving": 1 - branch["wall_seconds"] / independent["wall_seconds"],
    }
    return emit(summary, args.out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
