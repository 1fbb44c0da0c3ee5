"""Every table of the report from one snapshot of the results table: `analyse` returns them as `Tables`.

A pure function of the results table, the study's aggregation convention and a table of language
properties; it reads and writes nothing (`study.export` reads the study, calls `analyse`, writes the files).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis import aggregate, curves, gains, languages, pareto, recommend, transfer
from analysis.pareto import OBJECTIVE, OVERALL

GROUPINGS = ("family", "script")  # language properties the per-language heatmap is also grouped by


@dataclass
class Tables:
    """Everything the report shows, computed from one snapshot of the results table."""

    results: pd.DataFrame
    points: pd.DataFrame  # seed means per configuration and milestone, per objective
    fronts: pd.DataFrame
    gains: pd.DataFrame
    size_comparison: pd.DataFrame
    language_gains: pd.DataFrame  # per language, with the language's properties
    language_views: dict[str, pd.DataFrame]  # "language", "family", "script" -> heatmap table
    dev_vs_zero_shot: pd.DataFrame
    rank_correlation: pd.DataFrame
    convention: aggregate.Convention  # how the scores were aggregated (benchmark, QA score, languages)
    curves: curves.Curves | None = None  # fitted duration curves and the points behind them
    recommendation: pd.DataFrame | None = None  # per size: task and steps for the default budget
    best_size: pd.DataFrame | None = None  # per FLOPs budget: the size predicted best, with its probability
    crossovers: pd.DataFrame | None = None  # where a larger size trained briefly overtakes a smaller one

    def bands(self, quantity: str) -> pd.DataFrame:
        """The fitted curves of `quantity` with their 95% bands, for the figures (empty without curves)."""
        if self.curves is None:
            return pd.DataFrame(columns=curves.BAND_COLUMNS)
        return curves.bands(self.curves, quantity)


def analyse(df: pd.DataFrame, convention: aggregate.Convention | None = None,
            properties: pd.DataFrame | None = None) -> Tables:
    """Every table of the report from the results table (a pure function of its arguments).

    `convention` (the study's, `StudySpec.convention`) says which languages each task score covers and how
    QA is scored; None expects every language a task has in `df` and scores QA (EM + F1) / 2.
    `properties`: the languages' families and scripts (`analysis.languages.language_table`, its default).
    """
    convention = convention or aggregate.Convention()
    properties = languages.language_table() if properties is None else properties
    metrics = convention.metrics(df)
    per_task = aggregate.task_scores(df, split="test", metrics=metrics, expected_languages=convention.languages)
    overall = aggregate.overall_scores(df, split="test", metrics=metrics, expected_languages=convention.languages)
    overall = overall.assign(**{OBJECTIVE: OVERALL})
    points = pd.concat([aggregate.seed_means(overall), aggregate.seed_means(per_task)], ignore_index=True)
    fronts = pareto.study_fronts(points, objective=OBJECTIVE)

    gain_table = pd.concat(
        [gains.gains_over_baseline(overall), gains.gains_over_baseline(per_task)], ignore_index=True,
    )
    comparison = pd.concat(
        [gains.size_comparison(overall), gains.size_comparison(per_task)], ignore_index=True,
    )
    per_language = gains.gains_over_baseline(aggregate.language_scores(df, split="test", metrics=metrics))
    per_language = per_language.merge(properties[["language", *GROUPINGS]], on="language", how="left")
    for column in GROUPINGS:
        per_language[column] = per_language[column].fillna(languages.UNKNOWN)
    views = {
        by: languages.language_gain_table(per_language, by=by, properties=properties) for by in ("language", *GROUPINGS)
    }
    scatter = transfer.dev_vs_zero_shot(df, metrics=metrics, expected_languages=convention.languages)
    fitted = curves.study_curves(df, convention)
    return Tables(
        results=df, points=points, fronts=fronts, gains=gain_table, size_comparison=comparison,
        language_gains=per_language, language_views=views, dev_vs_zero_shot=scatter,
        rank_correlation=transfer.rank_correlation(scatter), convention=convention,
        curves=fitted, recommendation=recommend.recommend(fitted), best_size=curves.best_size_by_budget(fitted),
        crossovers=curves.crossovers(fitted),
    )
