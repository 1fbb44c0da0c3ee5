"""Per-language gains as a table of language (or language group) against step count, per model size.

`language_gain_table` reduces `analysis.gains.gains_over_baseline` of `analysis.aggregate.language_scores`
to what a heatmap shows. Grouping goes through a small table of language properties (`language_table`:
the XTREME languages' families and scripts, from `study.tasks.languages`), so a family or a script can
replace the single language on one axis. Any table with a `language` column and property columns works.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from analysis.aggregate import MILESTONE
from analysis.gains import BASELINE_STEPS

UNKNOWN = "unknown"  # the property of a language that the property table does not list


def language_table(extra: pd.DataFrame | None = None) -> pd.DataFrame:
    """Language properties: `language` (code), `name`, `family`, `genus` and `script`, one row per language.

    Holds the XTREME and XTREME-R languages (`study.tasks.languages.LANGUAGES`); rows of `extra` (same
    columns, or a subset) are added, and replace a listed language with the same code.
    """
    from study.tasks.languages import LANGUAGES

    table = pd.DataFrame(
        [(lang.code, lang.name, lang.family, lang.genus, lang.script) for lang in LANGUAGES.values()],
        columns=["language", "name", "family", "genus", "script"],
    )
    if extra is not None and not extra.empty:
        table = pd.concat([table[~table["language"].isin(extra["language"])], extra], ignore_index=True)
    return table.sort_values("language", kind="mergesort").reset_index(drop=True)


def language_gain_table(
    language_gains: pd.DataFrame,
    by: str = "language",
    properties: pd.DataFrame | None = None,
    intermediate_tasks: Iterable[str] | None = None,
    target_tasks: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Mean gain per (model size, milestone, language or language group), for a heatmap.

    Args:
        language_gains: `gains_over_baseline(language_scores(df))`; needs `model`, `intermediate_task`,
            `intermediate_steps`, `target_task`, `language` and `gain`.
        by: "language", or a property column of `properties` ("family", "script", ...).
        properties: the property table (`language_table()` by default); a language it does not list falls in
            the group "unknown".
        intermediate_tasks, target_tasks: keep only these (None: all). The step-0 baseline rows are always
            dropped: their gain is 0 by construction.

    The mean is taken in two stages, each unweighted: first per language over the (intermediate task,
    target task) cells that have it, then over the languages of a group. So a language scored by many
    target tasks weighs no more in its family than one scored by a single task, as in XTREME's per-task
    mean over languages.

    Returns:
        Columns `model`, `model_params` (when present), `intermediate_steps`, `by`, `gain` (0-100 points),
        `n_languages`, `languages` (comma-separated codes), `n_cells` ((intermediate task, target task,
        language) gains averaged); sorted by size, `by` and milestone.
    """
    needed = ["model", "intermediate_task", MILESTONE, "target_task", "language", "gain"]
    missing = [c for c in needed if c not in language_gains.columns]
    if missing:
        raise ValueError(f"language gains lack columns {missing}; they need {needed}")
    gains = language_gains[language_gains[MILESTONE] != BASELINE_STEPS].dropna(subset=["gain"])
    if intermediate_tasks is not None:
        gains = gains[gains["intermediate_task"].isin(list(intermediate_tasks))]
    if target_tasks is not None:
        gains = gains[gains["target_task"].isin(list(target_tasks))]
    size = ["model", "model_params"] if "model_params" in gains.columns else ["model"]

    per_language = gains.groupby([*size, MILESTONE, "language"], sort=True).agg(
        gain=("gain", "mean"), n_cells=("gain", "size")
    ).reset_index()
    if by != "language":
        table = language_table() if properties is None else properties
        if by not in table.columns or "language" not in table.columns:
            raise ValueError(f"the property table needs the columns 'language' and {by!r}; it has {list(table.columns)}")
        lookup = table.drop_duplicates("language").set_index("language")[by]
        per_language[by] = per_language["language"].map(lookup).fillna(UNKNOWN).astype(str)
    grouped = per_language.groupby([*size, by, MILESTONE], sort=True)
    out = grouped.agg(
        gain=("gain", "mean"),
        n_languages=("language", "nunique"),
        languages=("language", lambda s: ",".join(sorted(s.unique()))),
        n_cells=("n_cells", "sum"),
    ).reset_index()
    order = [*(["model_params"] if "model_params" in out.columns else []), "model", by, MILESTONE]
    columns = [*size, MILESTONE, by, "gain", "n_languages", "languages", "n_cells"]
    columns = list(dict.fromkeys(columns))  # by == "language" appears once
    return out.sort_values(order, kind="mergesort").reset_index(drop=True)[columns]
