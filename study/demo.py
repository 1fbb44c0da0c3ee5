"""`make demo`: run the smoke study on a local Ray instance, export it, and say what it found.

Usage: python -m study.demo SPEC
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from analysis import aggregate
from study import launch, results
from study.baselines import chance_score
from study.export import export
from study.spec import BuiltinSource, load_spec
from study.tasks import registry
from study.tasks.registry import LoadContext


def transfer_table(df, ctx: LoadContext) -> Table:
    """Zero-shot score in the non-English languages at each size's best milestone, against chance."""
    table = Table(title="zero-shot transfer to the generated languages (test, mean over non-English languages)")
    for col in ("model", "target task", "baseline (step 0)", "best intermediate", "chance", "margin over chance"):
        table.add_column(col)
    scores = aggregate.task_scores(df, split="test", exclude_english=True)
    for (model, target), group in scores.groupby(["model", "target_task"]):
        task = registry.get(target)
        langs = [lang for lang in task.test_languages if lang != "en"]
        chance = float(np.mean([chance_score(task, lang, ctx) for lang in langs]))
        base = group[group.intermediate_steps == 0].score.mean()
        best = group[group.intermediate_steps > 0].sort_values("score").tail(1)
        best_txt = f"{best.score.iloc[0]:.1f} ({best.intermediate_task.iloc[0]} @ {best.intermediate_steps.iloc[0]})" if len(best) else "-"
        top = max(base, best.score.iloc[0] if len(best) else base)
        table.add_row(model, target, f"{base:.1f}", best_txt, f"{chance:.1f}", f"{top - chance:+.1f}")
    return table


def main(argv: list[str]) -> int:
    start = time.perf_counter()
    console = Console()
    spec = load_spec(argv[0] if argv else "search_spaces/smoke.yaml")
    from study.model import ensure_builtin

    # Pretrain the built-in encoders once, before the trials start (cached by fingerprint afterwards).
    for m in spec.models:
        if isinstance(m.source, BuiltinSource):
            t0 = time.perf_counter()
            path = ensure_builtin(m.source)
            console.print(f"model {m.name}: {path} ({time.perf_counter() - t0:.0f} s)")
    _, table_uri = launch.run(spec, num_cpus=os.cpu_count())
    written = export(launch.study_uri(spec))
    df = results.collect(launch.study_uri(spec))
    console.print(transfer_table(df, LoadContext(data_dir=spec.study.data_dir)))
    console.print(f"results table: {written['results table']}")
    for kind in ("pareto plot (png)", "pareto plot (svg)", "pareto front"):
        if kind in written:
            console.print(f"{kind}: {written[kind]}")
    console.print(f"demo wall time: {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
