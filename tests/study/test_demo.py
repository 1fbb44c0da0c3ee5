"""study.demo: the transfer table it prints, from a results table written by hand (the demo's run itself is
`make demo`, too slow for a test)."""

from __future__ import annotations

import numpy as np
import pytest

from study import results
from study.baselines import chance_score
from study.demo import transfer_table
from study.tasks import registry
from study.tasks.registry import LoadContext
from written_study import milestone_rows

LANGS = ("xa", "xb", "xc", "xd")


def rows(model: str, task: str, steps: int, level: float) -> list[dict]:
    common = {k: v for k, v in milestone_rows("small", "nli", 0, 100)[0].items()
              if k not in ("target_task", "language", "split", "value")}
    common.update(model=model, intermediate_task=task, intermediate_steps=steps, trial_id=f"{model}-{task}",
                  target_format="classification")
    out = [{**common, "target_task": "builtin_xnli", "language": lang, "split": "test", "value": level + i}
           for i, lang in enumerate(LANGS)]
    return out + [{**common, "target_task": "builtin_xnli", "language": "en", "split": "test", "value": 99.0}]


def cells(table) -> list[list[str]]:
    return [list(row) for row in zip(*(column._cells for column in table.columns))]


def test_the_transfer_table_compares_the_best_milestone_with_the_baseline_and_chance():
    df = results.to_table(rows("tiny", "none", 0, 40.0) + rows("tiny", "builtin_nli", 100, 44.0)
                          + rows("tiny", "builtin_nli", 200, 42.0) + rows("mini", "none", 0, 60.0)).to_pandas()
    ctx = LoadContext()
    chance = float(np.mean([chance_score(registry.get("builtin_xnli"), lang, ctx) for lang in LANGS]))
    got = cells(transfer_table(df, ctx))
    # Means over xa..xd (level + 0..3, English excluded): baseline 41.5, best milestone 45.5.
    assert got == [["mini", "builtin_xnli", "61.5", "-", f"{chance:.1f}", f"{61.5 - chance:+.1f}"],
                   ["tiny", "builtin_xnli", "41.5", "45.5 (builtin_nli @ 100)", f"{chance:.1f}", f"{45.5 - chance:+.1f}"]]
    assert 20 < chance < 50


def test_a_best_milestone_below_the_baseline_leaves_the_margin_at_the_baseline():
    df = results.to_table(rows("tiny", "none", 0, 50.0) + rows("tiny", "builtin_nli", 100, 30.0)).to_pandas()
    got = cells(transfer_table(df, LoadContext()))[0]
    assert got[3] == "31.5 (builtin_nli @ 100)"
    assert float(got[5]) == pytest.approx(51.5 - float(got[4]), abs=0.11)
