"""Scores per task and overall, following XTREME's aggregation, from the tidy results table.

The results table (`study.results.SCHEMA`) has one row per (trial, milestone, target task, language, split,
metric). Everything here is a pure function of that table:

- `task_scores`: per (trial, milestone, target task), the unweighted mean over languages of the official
  per-language score (the `metric == "score"` rows; for QA already (EM + F1) / 2), English included where
  the task lists it, as XTREME's evaluate.py does. The mean covers exactly the languages the task is
  expected to have (the spec's, passed as `expected_languages`; by default every language the task has
  anywhere in the table): a language without a row, or with a NaN value, makes the task score NaN, and
  `missing_languages` names what is missing.
- `overall_scores`: per (trial, milestone), the unweighted mean of those task scores over target tasks (the
  XTREME overall convention: the mean over tasks, not the mean of category means).
- `dev_signal`: the English dev score per (trial, milestone): the mean over target tasks of each task's
  chance-normalised dev score (`asha_signal`, the very function a trial reports to ASHA); it never
  touches target-language data.
- `language_scores`: per (trial, milestone, target task, language), the official score itself, for the
  per-language views.
- `seed_means`: any of the above averaged over seeds per configuration (everything but the seed), the
  points that Pareto fronts are drawn through so that a lucky seed does not make the front.

Cost columns (`COST_COLUMNS`) are carried along from the rows. By the table's contract they are equal
within a (trial, milestone); the maximum is taken, so a float that differs in its last digit between rows
neither splits a group nor drops one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

# A trial is one (model size, intermediate task, hyperparameters, seed); trial_id alone identifies it within
# a study, the other columns are carried so that every downstream table can group by them.
TRIAL_KEYS = ("study", "trial_id", "model", "model_params", "intermediate_task", "seed", "config")
# The milestone: optimizer steps of intermediate training (0 = the no-intermediate baseline).
MILESTONE = "intermediate_steps"
# What it cost to reach a milestone: examples, non-padding tokens, matmul FLOPs (`study.flops`), wall seconds.
COST_COLUMNS = ("intermediate_examples", "intermediate_tokens", "intermediate_flops", "intermediate_seconds")
SCORE_METRIC = "score"
ENGLISH = "en"
QA_FORMAT = "span_qa"  # the target format whose task score has two conventions
# The per-language score of a QA task: the official (EM + F1) / 2, or F1 alone (as some papers' tables do).
QA_SCORES = {"em_f1": "(EM + F1) / 2", "f1": "F1 only"}
BENCHMARK_NAMES = {"xtreme": "XTREME", "xtreme-r": "XTREME-R"}



@dataclass(frozen=True)
class Convention:
    """How a study's scores are aggregated: the benchmark whose overall score it is, the QA score, and the
    languages each target task's score covers (`study.spec.StudySpec.convention` makes it from a spec).

    `benchmark` is "xtreme", "xtreme-r" or None (tasks of neither, e.g. the built-in ones); `qa_score` is a
    key of `QA_SCORES`; `languages` maps a target task to the languages of its test score (None: every
    language a task has in the table, see `task_scores`).
    """

    benchmark: str | None = None
    qa_score: str = "em_f1"
    languages: Mapping[str, tuple[str, ...]] | None = None

    def __post_init__(self) -> None:
        if self.qa_score not in QA_SCORES:
            raise ValueError(f"qa_score must be one of {sorted(QA_SCORES)}, got {self.qa_score!r}")
        if self.benchmark is not None and self.benchmark not in BENCHMARK_NAMES:
            raise ValueError(f"benchmark must be one of {sorted(BENCHMARK_NAMES)} or None, got {self.benchmark!r}")

    def metrics(self, df: pd.DataFrame) -> dict[str, str]:
        """The `metrics` argument of `task_scores` for this convention: F1 for the QA targets of `df` when
        `qa_score` is "f1", else nothing (every task's official score)."""
        if self.qa_score != "f1" or "target_format" not in df.columns:
            return {}
        return {str(task): "f1" for task in df.loc[df["target_format"] == QA_FORMAT, "target_task"].unique()}

    def describe(self) -> str:
        """One line that a figure's caption can carry, e.g. 'XTREME-R overall; QA tasks scored (EM + F1) / 2'."""
        name = BENCHMARK_NAMES.get(self.benchmark or "", "")
        what = (f"{name} overall: the unweighted mean over target tasks of each task's mean over its {name} "
                "languages" if name else "overall: the unweighted mean over target tasks of each task's mean over "
                "its languages")
        return f"{what}, English included; QA tasks scored {QA_SCORES[self.qa_score]}"


TASK_KEYS = (*TRIAL_KEYS, MILESTONE, "target_task")
MILESTONE_KEYS = (*TRIAL_KEYS, MILESTONE)

_NEEDED = (*TASK_KEYS, "language", "split", "metric", "value", "higher_is_better")


def task_scores(
    df: pd.DataFrame,
    split: str = "test",
    languages: Iterable[str] | None = None,
    exclude_english: bool = False,
    metrics: Mapping[str, str] | None = None,
    expected_languages: Mapping[str, Iterable[str]] | None = None,
) -> pd.DataFrame:
    """One row per (trial, milestone, target task): the unweighted mean over languages of the task score.

    Args:
        df: the results table (`study.results.collect` or any frame with `study.results.SCHEMA`'s columns).
        split: "test" (zero-shot, every language) or "dev" (English, the ASHA signal).
        languages: keep only these language codes; None keeps every language the rows have.
        exclude_english: drop English (`ENGLISH`) rows, giving a purely cross-lingual mean. It wins over
            `languages` when both name English. The default keeps English, as XTREME does.
        metrics: per target task, the metric to average instead of "score". The default is XTREME's
            convention ((EM + F1) / 2 for QA); e.g. {"xquad": "f1", "mlqa": "f1", "tydiqa": "f1"} gives the
            convention that reports F1 only for QA, provided the trials wrote those metric rows.
        expected_languages: per target task, the languages its score must cover (for a study: the spec's
            languages of each target, `Convention.languages`); `languages` and `exclude_english` narrow
            them as they narrow the rows. A task not named, or None, expects every language that task has
            in `df` on this split (after those filters), in any trial.

    Returns:
        Columns `TASK_KEYS`, then `score` (0-100), `n_languages` (expected languages with a value),
        `missing_languages`
        (the expected languages without a row or with a NaN value, comma-separated and sorted; "" when
        none), `higher_is_better`, and `COST_COLUMNS`, sorted by the keys. A missing language makes the
        task score NaN rather than a mean over fewer languages, which would change what the number means:
        en 80 and de 70 with fr expected but absent is NaN, not 75.

    Raises:
        ValueError: a needed column is missing; two rows give the same (trial, milestone, task, language)
        (the mean would silently weight that language twice); or one task mixes metric directions.
    """
    _require(df, _NEEDED, "results table")
    rows = df[df["split"] == split]
    wanted = rows["target_task"].map(lambda task: (metrics or {}).get(task, SCORE_METRIC))
    rows = rows[rows["metric"] == wanted]
    if languages is not None:
        rows = rows[rows["language"].isin(list(languages))]
    if exclude_english:
        rows = rows[rows["language"] != ENGLISH]

    keys = list(TASK_KEYS)
    duplicated = rows.duplicated([*keys, "language"], keep=False)
    if duplicated.any():
        first = rows[duplicated].iloc[0]
        raise ValueError(
            f"{int(duplicated.sum())} result rows repeat a (trial, milestone, target task, language), e.g. "
            f"trial_id={first['trial_id']!r} intermediate_steps={first[MILESTONE]} "
            f"target_task={first['target_task']!r} language={first['language']!r}: each language must "
            "appear once per task score, or the unweighted mean over languages would weight it twice"
        )
    _require_one_direction(rows, ["target_task"])

    expected = {task: set(langs) for task, langs in rows.groupby("target_task")["language"].unique().items()}
    for task, langs in (expected_languages or {}).items():
        if task in expected:
            wanted_langs = set(langs)
            if languages is not None:
                wanted_langs &= set(languages)
            if exclude_english:
                wanted_langs.discard(ENGLISH)
            expected[task] = wanted_langs
    grouped = rows.groupby(keys, sort=True, dropna=False)
    out = grouped.agg(
        higher_is_better=("higher_is_better", "first"),
        **{column: (column, "max") for column in COST_COLUMNS if column in rows},
    )
    # Rows of languages the task is not expected to have are left out of the mean.
    wanted_rows = [lang in expected[task] for task, lang in zip(rows["target_task"], rows["language"], strict=True)]
    counted = rows[np.array(wanted_rows, dtype=bool)]
    present = counted.dropna(subset=["value"]).groupby(keys, sort=True, dropna=False)["language"].agg(frozenset)
    present = present.reindex(out.index).map(lambda v: v if isinstance(v, frozenset) else frozenset())
    tasks = out.index.get_level_values("target_task")
    missing = [",".join(sorted(expected[task] - langs)) for task, langs in zip(tasks, present, strict=True)]
    mean = counted.groupby(keys, sort=True, dropna=False)["value"].mean().reindex(out.index)
    out.insert(0, "score", mean.where([m == "" for m in missing]))
    out.insert(1, "n_languages", [len(langs) for langs in present])
    out.insert(2, "missing_languages", missing)
    return out.reset_index()


def overall_scores(
    df: pd.DataFrame,
    split: str = "test",
    languages: Iterable[str] | None = None,
    exclude_english: bool = False,
    metrics: Mapping[str, str] | None = None,
    tasks: Iterable[str] | None = None,
    expected_languages: Mapping[str, Iterable[str]] | None = None,
) -> pd.DataFrame:
    """One row per (trial, milestone): the unweighted mean over target tasks of `task_scores`.

    This is XTREME's overall score: every task weighs the same whatever its number of languages, and the
    mean is over tasks, not over the category means. `split`, `languages`, `exclude_english`, `metrics` and
    `expected_languages` are passed to `task_scores`; `tasks` keeps only these target tasks (None: every
    task the trial has).

    Returns:
        Columns `MILESTONE_KEYS`, then `score` (0-100), `n_tasks` (tasks averaged; compare it across trials,
        because a trial that has not yet scored every task is averaged over fewer of them),
        `higher_is_better`, and `COST_COLUMNS`, sorted by the keys. A NaN task score makes the overall NaN.
    """
    per_task = task_scores(df, split=split, languages=languages, exclude_english=exclude_english, metrics=metrics,
                           expected_languages=expected_languages)
    if tasks is not None:
        per_task = per_task[per_task["target_task"].isin(list(tasks))]
    return _mean_over_tasks(per_task)


def normalised(score: npt.ArrayLike, chance: npt.ArrayLike) -> np.ndarray:
    """A score on a common scale: 0 at the task's chance level, 100 at a perfect score (element-wise).

    Tasks differ in how far above zero chance lies (tagging F1 of a majority guess, 1/3 for 3-way NLI), so
    ASHA's signal averages 100 x (score - chance) / (100 - chance) rather than raw scores.
    """
    score = np.asarray(score, dtype=float)
    chance = np.asarray(chance, dtype=float)
    return 100.0 * (score - chance) / np.maximum(1e-9, 100.0 - chance)


def asha_signal(dev_scores: npt.ArrayLike, chances: npt.ArrayLike) -> float:
    """ASHA's default signal (`asha.signal: targets_mean`): the mean over target tasks of the
    chance-normalised English dev score; NaN without tasks. Trials report it, `dev_signal` recomputes it."""
    values = normalised(dev_scores, chances)
    return float(values.mean()) if values.size else float("nan")


def dev_signal(df: pd.DataFrame, language: str = ENGLISH) -> pd.DataFrame:
    """ASHA's signal per (trial, milestone): `asha_signal` of the English dev task scores and their chance.

    Only `language` rows are used (English by default), so a stray dev row in another language can never
    leak target-language data into model selection. A task's chance level is the `chance` column of its
    dev rows; rows without one (written before the column existed) count chance as 0, i.e. the raw score.
    Same columns as `overall_scores` (`score` on the normalised scale: 0 at chance, 100 perfect).
    """
    per_task = task_scores(df, split="dev", languages=[language])
    rows = df[(df["split"] == "dev") & (df["language"] == language) & (df["metric"] == SCORE_METRIC)]
    if "chance" not in rows.columns:
        rows = rows.assign(chance=np.nan)
    chance = rows.groupby(list(TASK_KEYS), sort=True, dropna=False)["chance"].first().rename("chance")
    per_task = per_task.merge(chance.reset_index(), on=list(TASK_KEYS), how="left")
    per_task["chance"] = per_task["chance"].fillna(0.0)
    out = _mean_over_tasks(per_task)
    if out.empty:
        return out
    signal = per_task.groupby(list(MILESTONE_KEYS), sort=True, dropna=False)[["score", "chance"]].apply(
        lambda g: asha_signal(g["score"], g["chance"])
    )
    out["score"] = signal.reindex(pd.MultiIndex.from_frame(out[list(MILESTONE_KEYS)])).to_numpy()
    return out


def language_scores(
    df: pd.DataFrame,
    split: str = "test",
    metrics: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per (trial, milestone, target task, language): that language's official task score.

    The same rows that `task_scores` averages, kept apart, so that gains can be measured per language
    (`analysis.gains.gains_over_baseline` pairs them with the baseline's score in the same language).

    Returns:
        Columns `TASK_KEYS`, `language`, `score` (0-100), `higher_is_better` and `COST_COLUMNS`, sorted by
        the keys. A repeated (trial, milestone, task, language) is an error, as in `task_scores`.
    """
    _require(df, _NEEDED, "results table")
    rows = df[df["split"] == split]
    wanted = rows["target_task"].map(lambda task: (metrics or {}).get(task, SCORE_METRIC))
    rows = rows[rows["metric"] == wanted]
    keys = [*TASK_KEYS, "language"]
    duplicated = rows.duplicated(keys, keep=False)
    if duplicated.any():
        first = rows[duplicated].iloc[0]
        raise ValueError(
            f"{int(duplicated.sum())} result rows repeat a (trial, milestone, target task, language), e.g. "
            f"trial_id={first['trial_id']!r} intermediate_steps={first[MILESTONE]} "
            f"target_task={first['target_task']!r} language={first['language']!r}"
        )
    columns = [*keys, "value", "higher_is_better", *(c for c in COST_COLUMNS if c in rows)]
    out = rows[columns].rename(columns={"value": "score"})
    return out.sort_values(keys, kind="mergesort").reset_index(drop=True)


# What identifies a point of the grid rather than a hyperparameter; `config_without_seed` drops these.
POINT_KEYS = ("model", "intermediate_task", "seed")


def config_without_seed(config: str) -> str:
    """A trial's configuration as sorted JSON, without the model, intermediate task and seed.

    What is left (learning rates, a step budget...) is what a configuration shares across its seeds.
    A nested "point" dict (the grid point of a trial) is flattened first. Text that is not a JSON object is
    returned unchanged, so a hand-made table still groups by whatever it holds.
    """
    try:
        parsed = json.loads(config)
    except (TypeError, ValueError):
        return config
    if not isinstance(parsed, dict):
        return config
    point = parsed.pop("point", None)
    if isinstance(point, dict):
        parsed = {**point, **parsed}
    return json.dumps({k: v for k, v in parsed.items() if k not in POINT_KEYS}, sort_keys=True, default=str)


def seed_means(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores averaged over seeds: one row per configuration, milestone and (if present) task and language.

    Args:
        scores: `overall_scores`, `task_scores`, `dev_signal` or `language_scores`; needs `model`,
            `intermediate_task`, `intermediate_steps`, `seed`, `trial_id`, `config` and `score`.

    A configuration is `config_without_seed(config)`, so trials that differ only in their seed are one
    point. Returns the keys (`study` and `model_params` when present, `model`, `intermediate_task`,
    `hyperparameters`, `intermediate_steps`, then `target_task` and `language` when present), `score` (the
    mean over seeds of each seed's mean, NaN left out; 0-100), `score_sd` (the sample standard deviation of
    those seed means; NaN with one seed), `n_seeds` (seeds with a score), `seeds` and `trial_ids` (comma-separated, sorted),
    `higher_is_better` when present, and the mean of each cost column present; sorted by the keys.
    """
    needed = ["model", "intermediate_task", MILESTONE, "seed", "trial_id", "config", "score"]
    _require(scores, needed, "scores")
    optional = [c for c in ("study", "model_params") if c in scores.columns]
    inner = [c for c in ("target_task", "language") if c in scores.columns]
    keys = [*optional, "model", "intermediate_task", "hyperparameters", MILESTONE, *inner]
    frame = scores.assign(hyperparameters=scores["config"].map(config_without_seed))
    # Several trials of one seed (a repeated sample) count once: average per seed, then over seeds.
    per_seed = frame.groupby([*keys, "seed"], sort=True, dropna=False)["score"].mean().dropna()
    over_seeds = per_seed.groupby(level=list(range(len(keys))), sort=True, dropna=False)
    out = frame.groupby(keys, sort=True, dropna=False).agg(
        seeds=("seed", lambda s: ",".join(str(v) for v in sorted(s.unique()))),
        trial_ids=("trial_id", lambda s: ",".join(sorted(str(v) for v in s.unique()))),
        **({"higher_is_better": ("higher_is_better", "first")} if "higher_is_better" in frame else {}),
        **{column: (column, "mean") for column in COST_COLUMNS if column in frame},
    )
    out.insert(0, "score", over_seeds.mean().reindex(out.index))
    out.insert(1, "score_sd", over_seeds.std(ddof=1).reindex(out.index))
    out.insert(2, "n_seeds", over_seeds.size().reindex(out.index).fillna(0).astype(int))
    return out.reset_index()


def _mean_over_tasks(per_task: pd.DataFrame) -> pd.DataFrame:
    _require_one_direction(per_task, [])
    grouped = per_task.groupby(list(MILESTONE_KEYS), sort=True, dropna=False)
    out = grouped.agg(
        n_tasks=("target_task", "nunique"),
        higher_is_better=("higher_is_better", "first"),
        **{column: (column, "max") for column in COST_COLUMNS if column in per_task},
    )
    out.insert(0, "score", grouped["score"].mean(skipna=False))
    return out.reset_index()


def _require(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [column for column in columns if column not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks columns {missing}; it needs {list(columns)}")


def _require_one_direction(rows: pd.DataFrame, within: list[str]) -> None:
    """A mean of scores is only meaningful when they all point the same way (higher or lower is better)."""
    if rows.empty:
        return
    if within:
        directions = rows.groupby(within, dropna=False)["higher_is_better"].nunique()
        mixed = directions[directions > 1]
        if not mixed.empty:
            raise ValueError(
                f"higher_is_better differs between the rows of {within} = {list(mixed.index)}; the rows "
                "averaged into one score must share one direction"
            )
    elif rows["higher_is_better"].nunique() > 1:
        raise ValueError(
            "higher_is_better differs between the task scores averaged into one overall score; "
            "the tasks averaged must share one direction"
        )
