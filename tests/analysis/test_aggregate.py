import math

import pandas as pd
import pytest

from analysis.aggregate import COST_COLUMNS, MILESTONE_KEYS, TASK_KEYS, dev_signal, overall_scores, task_scores


def _level(model: str, steps: int, seed: int) -> float:
    """The base score that `small_study` gives a (model, milestone, seed)."""
    return 50.0 + {"small": 0.0, "large": 10.0}[model] + {0: 0.0, 100: 2.0, 1000: 3.0}[steps] + seed


def test_task_scores_are_unweighted_means_over_languages_with_english(small_study):
    scores = task_scores(small_study)
    assert list(scores.columns) == [*TASK_KEYS, "score", "n_languages", "missing_languages", "higher_is_better",
                                    *COST_COLUMNS]
    assert len(scores) == 2 * 3 * 3 * 2  # sizes x seeds x milestones x tasks
    row = scores.set_index(["model", "seed", "intermediate_steps", "target_task"]).loc[("large", 2, 100, "xnli")]
    assert row["score"] == pytest.approx(_level("large", 100, 2) + 5)  # mean of en = level + 10 and de = level
    assert row["n_languages"] == 2
    assert row["intermediate_task"] == "mnli"
    assert row["intermediate_tokens"] == 100 * 32 * 128
    assert row["intermediate_flops"] == pytest.approx(6.0 * 3_500_000_000 * 100 * 32 * 128)


def test_task_scores_language_selection(small_study):
    key = ["model", "seed", "intermediate_steps", "target_task"]
    without_english = task_scores(small_study, exclude_english=True).set_index(key)
    assert without_english.loc[("small", 0, 0, "xquad"), "score"] == pytest.approx(45.0)
    assert (without_english["n_languages"] == 1).all()
    only_english = task_scores(small_study, languages=["en"]).set_index(key)
    assert only_english.loc[("small", 0, 0, "xquad"), "score"] == pytest.approx(55.0)
    # exclude_english wins over a language list that names English
    assert task_scores(small_study, languages=["en"], exclude_english=True).empty


def test_each_task_weighs_the_same_in_the_overall_whatever_its_languages(make_results, make_scores):
    rows = make_scores({"xnli": {"en": 90.0, "de": 80.0, "fr": 70.0, "sw": 60.0}, "pawsx": {"en": 40.0}})
    overall = overall_scores(make_results(rows))
    assert len(overall) == 1
    # (mean(90, 80, 70, 60) + 40) / 2 = (75 + 40) / 2; a pooled mean over the 5 languages would give 68
    assert overall["score"].iloc[0] == pytest.approx(57.5)
    assert overall["n_tasks"].iloc[0] == 2


def test_overall_scores_mean_over_tasks_with_costs(small_study):
    overall = overall_scores(small_study)
    assert list(overall.columns) == [*MILESTONE_KEYS, "score", "n_tasks", "higher_is_better", *COST_COLUMNS]
    assert len(overall) == 2 * 3 * 3
    for row in overall.itertuples():
        # xnli = level + 5 and xquad = level, so the overall is level + 2.5
        assert row.score == pytest.approx(_level(row.model, row.intermediate_steps, row.seed) + 2.5)
        assert row.n_tasks == 2
        assert row.intermediate_seconds == pytest.approx(0.1 * row.intermediate_steps)
    only_xquad = overall_scores(small_study, tasks=["xquad"])
    assert (only_xquad["n_tasks"] == 1).all()
    assert only_xquad["score"].tolist() == pytest.approx((overall["score"] - 2.5).tolist())


def test_dev_signal_uses_english_dev_rows_only(small_study, make_results):
    stray = make_results([{"split": "dev", "language": "de", "value": 0.0, "target_task": "xnli"}])
    dev = dev_signal(pd.concat([small_study, stray], ignore_index=True))
    assert len(dev) == 2 * 3 * 3
    for row in dev.itertuples():
        # English dev: xnli = level + 20, xquad = level + 15
        assert row.score == pytest.approx(_level(row.model, row.intermediate_steps, row.seed) + 17.5)


def test_another_metric_can_replace_the_score_per_task(make_results, make_scores):
    rows = make_scores({"xquad": {"en": 70.0, "de": 50.0}, "xnli": {"en": 80.0}})
    rows += make_scores({"xquad": {"en": 80.0, "de": 60.0}}, metric="f1")
    scores = task_scores(make_results(rows), metrics={"xquad": "f1"}).set_index("target_task")["score"]
    assert scores["xquad"] == pytest.approx(70.0)  # mean of the F1 rows, not of the (EM + F1) / 2 rows
    assert scores["xnli"] == pytest.approx(80.0)  # tasks not named keep the official score


def test_a_missing_language_makes_the_score_missing_and_is_named(make_results, make_scores):
    # One trial has no fr row at all: its task score is not the mean over the two languages it has.
    complete = make_scores({"xnli": {"en": 80.0, "de": 70.0, "fr": 60.0}}, trial_id="complete")
    partial = make_scores({"xnli": {"en": 80.0, "de": 70.0}}, trial_id="partial")
    scores = task_scores(make_results(complete + partial)).set_index("trial_id")
    assert scores.loc["complete", "score"] == pytest.approx(70.0)
    assert math.isnan(scores.loc["partial", "score"]), "en 80, de 70, fr missing must not give 75"
    assert scores.loc["partial", "missing_languages"] == "fr" and scores.loc["complete", "missing_languages"] == ""
    # The spec's languages decide, even when no trial has a language: fr and sw expected, sw never written.
    expected = task_scores(make_results(complete), expected_languages={"xnli": ["en", "de", "fr", "sw"]})
    assert math.isnan(expected["score"].iloc[0]) and expected["missing_languages"].iloc[0] == "sw"
    # A language outside the expected ones is not averaged in; the overall follows the task score.
    only = task_scores(make_results(complete), expected_languages={"xnli": ["en", "de"]})
    assert only["score"].iloc[0] == pytest.approx(75.0) and only["missing_languages"].iloc[0] == ""
    overall = overall_scores(make_results(complete + partial)).set_index("trial_id")["score"]
    assert math.isnan(overall["partial"]) and overall["complete"] == pytest.approx(70.0)
    # Narrowing the languages narrows what is expected: without English, de and fr are expected.
    narrowed = task_scores(make_results(partial), exclude_english=True, expected_languages={"xnli": ["en", "de", "fr"]})
    assert narrowed["missing_languages"].iloc[0] == "fr"


def test_a_missing_value_makes_the_score_missing(make_results, make_scores):
    rows = make_scores({"xnli": {"en": 80.0, "de": float("nan")}, "pawsx": {"en": 60.0}})
    scores = task_scores(make_results(rows)).set_index("target_task")["score"]
    assert math.isnan(scores["xnli"])
    assert scores["pawsx"] == pytest.approx(60.0)
    assert math.isnan(overall_scores(make_results(rows))["score"].iloc[0])


def test_a_language_reported_twice_is_an_error(make_results, make_scores):
    rows = make_scores({"xnli": {"en": 80.0, "de": 70.0}}) + make_scores({"xnli": {"de": 72.0}})
    with pytest.raises(ValueError, match="language='de'"):
        task_scores(make_results(rows))


def test_mixed_directions_are_an_error(make_results, make_scores):
    rows = make_scores({"xnli": {"en": 80.0}}) + make_scores({"xnli": {"de": 70.0}}, higher_is_better=False)
    with pytest.raises(ValueError, match="higher_is_better"):
        task_scores(make_results(rows))


def test_missing_columns_are_named(small_study):
    with pytest.raises(ValueError, match="language"):
        task_scores(small_study.drop(columns=["language"]))


def test_an_empty_table_gives_empty_tables_with_the_columns(small_study):
    empty = small_study.iloc[:0]
    assert task_scores(empty).empty
    overall = overall_scores(empty)
    assert overall.empty
    assert {"score", "n_tasks", *MILESTONE_KEYS} <= set(overall.columns)


# --------------------------------------------------------------------- per language, and means over seeds
import json  # noqa: E402

from analysis.aggregate import config_without_seed, language_scores, seed_means  # noqa: E402
from study.results import config_json  # noqa: E402


def test_language_scores_keep_each_language_apart(small_study):
    per_language = language_scores(small_study)
    assert len(per_language) == 2 * 3 * 3 * 2 * 2  # sizes x seeds x milestones x tasks x languages
    row = per_language.set_index(["model", "seed", "intermediate_steps", "target_task", "language"]).loc[
        ("large", 1, 1000, "xquad", "de")
    ]
    assert row["score"] == pytest.approx(_level("large", 1000, 1) - 5)
    assert (language_scores(small_study, split="dev")["language"] == "en").all()


def test_config_without_seed_drops_what_identifies_the_point():
    flat = config_json({"model": "small", "intermediate_task": "mnli", "seed": 3, "target_lr": 1e-5})
    nested = config_json({"point": {"model": "small", "intermediate_task": "mnli", "seed": 4, "budget": 100},
                          "target_lr": 1e-5})
    assert json.loads(config_without_seed(flat)) == {"target_lr": 1e-5}
    assert json.loads(config_without_seed(nested)) == {"budget": 100, "target_lr": 1e-5}
    assert config_without_seed("not json") == "not json"


def test_seed_means_average_seeds_of_one_configuration(make_results, make_scores):
    rows = []
    for seed, lr, value in ((0, 1e-5, 50.0), (1, 1e-5, 54.0), (2, 1e-5, 58.0), (0, 3e-5, 70.0)):
        config = config_json({"model": "small", "intermediate_task": "mnli", "seed": seed, "lr": lr})
        rows += make_scores({"xnli": {"en": value}}, seed=seed, config=config, intermediate_steps=100,
                            trial_id=f"t-{seed}-{lr}")
    points = seed_means(overall_scores(make_results(rows))).set_index("hyperparameters")
    searched = points.loc[json.dumps({"lr": 1e-5})]
    assert (searched["score"], searched["score_sd"], searched["n_seeds"]) == pytest.approx((54.0, 4.0, 3))
    assert (searched["seeds"], searched["trial_ids"]) == ("0,1,2", "t-0-1e-05,t-1-1e-05,t-2-1e-05")
    single = points.loc[json.dumps({"lr": 3e-5})]
    assert single["score"] == 70.0 and single["n_seeds"] == 1 and math.isnan(single["score_sd"])
    assert single["intermediate_flops"] == pytest.approx(6.0 * 270_000_000 * 100 * 32 * 128)


def test_seed_means_keep_tasks_apart_and_count_a_seed_once(small_study):
    points = seed_means(task_scores(small_study))
    assert len(points) == 2 * 3 * 2  # sizes x milestones x tasks: the three seeds are one point
    assert (points["n_seeds"] == 3).all()
    row = points.set_index(["model", "intermediate_steps", "target_task"]).loc[("small", 100, "xnli")]
    assert row["score"] == pytest.approx(_level("small", 100, 1) + 5)  # seeds 0, 1, 2 average to seed 1


# ------------------------------------------------------------------------- benchmarks and their conventions
from study.spec import parse_spec  # noqa: E402
from study.tasks.languages import XTREME_R_TASK_LANGUAGES  # noqa: E402

# The mGTE paper's XLM-R base row (REFERENCE.md): XTREME-R's 10 tasks, QA as F1 only, overall 62.02.
MGTE_XLMR_BASE = {"xnli": 74.50, "xcopa": 50.45, "udpos": 73.84, "panx": 61.23, "xquad": 72.83, "mlqa": 61.54,
                  "tydiqa": 53.09, "mewslix": 42.09, "lareqa": 63.43, "tatoeba": 67.20}
QA = {"xquad", "mlqa", "tydiqa"}


def _spec(benchmark, targets, qa_score="em_f1"):
    return parse_spec({
        "study": {"name": "b"}, "benchmark": benchmark, "qa_score": qa_score, "target_tasks": targets,
        "models": [{"name": "m", "source": {"hub": "FacebookAI/xlm-roberta-base"}, "steps": [0]}],
        "intermediate_tasks": ["none"],
    })


def _published_rows(make_scores, languages):
    """Per-language rows whose mean over each task's XTREME-R languages is the published task score.

    Languages spread around the task score (+-2, +-4, ...), so a mean over other languages misses it; QA
    tasks get EM 16 points below F1, and their official `score` rows are (EM + F1) / 2.
    """
    rows = []
    for task, score in MGTE_XLMR_BASE.items():
        langs = languages[task]
        offsets = [2.0 * (i // 2 + 1) * (-1) ** i for i in range(len(langs) - len(langs) % 2)] + [0.0] * (len(langs) % 2)
        values = {lang: score + off for lang, off in zip(langs, offsets, strict=True)}
        fmt = {"target_format": "span_qa"} if task in QA else {}
        if task in QA:
            rows += make_scores({task: values}, metric="f1", **fmt)
            rows += make_scores({task: {k: v - 16.0 for k, v in values.items()}}, metric="exact_match", **fmt)
            rows += make_scores({task: {k: v - 8.0 for k, v in values.items()}}, **fmt)
        else:
            rows += make_scores({task: values})
        # A language outside the benchmark's list, e.g. from a spec that listed more: not part of the score.
        rows += make_scores({task: {"xx": 0.0}}, metric="score" if task not in QA else "f1", **fmt)
    return rows


def test_the_xtreme_r_overall_reproduces_the_published_figure(make_results, make_scores):
    spec = _spec("xtreme-r", list(MGTE_XLMR_BASE), qa_score="f1")
    convention = spec.convention()
    assert convention.benchmark == "xtreme-r" and convention.languages["udpos"] == XTREME_R_TASK_LANGUAGES["udpos"]
    df = make_results(_published_rows(make_scores, convention.languages))
    overall = overall_scores(df, metrics=convention.metrics(df), expected_languages=convention.languages)
    assert round(overall["score"].iloc[0], 2) == 62.02  # the mGTE table's average
    assert "F1 only" in convention.describe() and "XTREME-R" in convention.describe()
    # The official convention scores QA (EM + F1) / 2: 3 of 10 tasks 8 points lower, 2.4 points overall.
    official = _spec("xtreme-r", list(MGTE_XLMR_BASE)).convention()
    assert official.metrics(df) == {}
    score = overall_scores(df, expected_languages=official.languages)["score"].iloc[0]
    assert score == pytest.approx(62.02 - 2.4, abs=0.005)


def test_the_benchmark_sets_each_tasks_default_languages():
    targets = ["xnli", "udpos", "panx", "xquad", "mlqa", "tydiqa", "tatoeba"]
    xtreme = _spec("xtreme", [*targets, "pawsx", "bucc2018"]).convention().languages
    xtreme_r = _spec("xtreme-r", [*targets, "xcopa"]).convention().languages
    # The counts that tell the two benchmarks apart (Hu et al. 2020; Ruder et al. 2021).
    assert {t: len(xtreme[t]) for t in ("udpos", "panx", "xquad", "tatoeba")} == {"udpos": 33, "panx": 40, "xquad": 11,
                                                                                 "tatoeba": 36}
    assert {t: len(xtreme_r[t]) for t in ("udpos", "panx", "xquad", "tatoeba")} == {"udpos": 38, "panx": 48,
                                                                                   "xquad": 12, "tatoeba": 41}
    # A target's own `languages:` wins.
    mine = _spec("xtreme", [{"task": "xquad", "languages": ["en", "ro"]}]).convention().languages
    assert mine == {"xquad": ("en", "ro")}


def test_a_task_of_the_other_benchmark_is_a_spec_error():
    from study.spec import SpecError

    with pytest.raises(SpecError, match=r"target_tasks\[1\]: 'pawsx' is a task of benchmark 'xtreme', not of 'xtreme-r'"):
        _spec("xtreme-r", ["xnli", "pawsx"])
    with pytest.raises(SpecError, match=r"'xcopa' is a task of benchmark 'xtreme-r'"):
        _spec("xtreme", ["xcopa"])
