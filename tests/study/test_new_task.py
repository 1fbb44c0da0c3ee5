"""A new task is one registry entry (plus a reader for a new file format): it runs through a trial, `xstudy
score` and `xstudy export`, and the score of its submission is the number the trial recorded.

The two tasks below are defined here and nowhere else: `my_nli` reads release files in an existing format
(PAWS-X's tsv) through a `DataSource`, as the real tasks do; `my_tags` has a file format of its own
("word_TAG" tokens, one sentence a line) and the small reader that goes with it. Their data are copies of
built-in benchmark examples, so the tiny built-in models know the words. They are registered for this
module only.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from study import results, storage
from study.cli import app
from study.predictions import write_labels, write_predictions
from study.scoring import ScoringError, score_command, score_submission
from study.synthetic import benchmark as builtin
from study.tasks import readers as R
from study.tasks import registry
from study.tasks.registry import LoadContext, Task
from study.tasks.sources import DataSource, Local, Part
from study.trial import Trial
from helpers import small_spec
from test_predictions import CASES, synthetic

EN = ("en",)
SIZES = {"train": 400, "dev": 80, "test": 80}  # examples per file


# ------------------------------------------------------------------------------------ the new tasks
def read_word_tags(files: list[Path], lang: str) -> list[dict]:
    """`my_tags`' own file format: one sentence a line, tokens "word_TAG" separated by spaces."""
    sentences = []
    for line in files[0].read_text(encoding="utf-8").splitlines():
        pairs = [token.rsplit("_", 1) for token in line.split()]
        sentences.append({"tokens": [w for w, _ in pairs], "tags": [t for _, t in pairs]})
    return sentences


def new_tasks() -> list[Task]:
    """The new tasks' registry entries: everything about each task is here."""
    nli_splits = {"train": EN, "dev": EN, "test": ("en", "xb")}
    nli = DataSource("my_nli", nli_splits, lambda split, lang: [
        Part((Local(("my_nli",), f"{lang}/{split}.tsv", lambda files, lg: R.read_pawsx_tsv(files[0], R.NLI_LABELS)),),
             None, lang, no_hub="a test's files only")])
    tag_splits = {"train": EN, "dev": EN, "test": ("xa",)}
    tags = DataSource("my_tags", tag_splits, lambda split, lang: [
        Part((Local(("my_tags",), f"{lang}.{split}.txt", read_word_tags),), None, lang, no_hub="a test's files only")])
    return [
        Task(name="my_nli", format_name="classification", metric="accuracy", roles=frozenset({"target"}),
             test_languages=nli_splits["test"], loader=nli, labels=R.NLI_LABELS, splits=nli.splits,
             display_name="My NLI", description="NLI pairs in PAWS-X's release format"),
        Task(name="my_tags", format_name="tagging", metric="seqeval_f1", roles=frozenset({"target"}),
             test_languages=tag_splits["test"], loader=tags, labels=builtin.BUILTIN_TASKS["builtin_pos"]["labels"],
             splits=tags.splits, display_name="My tags", description="POS tags, one 'word_TAG' sentence a line"),
    ]


def write_release_files(data: Path) -> None:
    """The new tasks' files, from the built-in benchmark's builtin_xnli and builtin_pos examples."""
    bench = builtin.benchmark(0)
    for split, langs in (("train", EN), ("dev", EN), ("test", ("en", "xb"))):
        for lang in langs:
            rows = bench.examples("builtin_xnli", split, lang)[: SIZES[split]]
            path = data / "my_nli" / lang / f"{split}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("id\tsentence1\tsentence2\tlabel\n" + "".join(
                f"{i}\t{r['text_a']}\t{r['text_b']}\t{r['label']}\n" for i, r in enumerate(rows)), encoding="utf-8")
    for split, langs in (("train", EN), ("dev", EN), ("test", ("xa",))):
        for lang in langs:
            rows = bench.examples("builtin_pos", split, lang)[: SIZES[split]]
            path = data / "my_tags" / f"{lang}.{split}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(" ".join(f"{w}_{t}" for w, t in zip(r["tokens"], r["tags"])) + "\n" for r in rows),
                            encoding="utf-8")


@pytest.fixture(scope="module")
def scratch_registry():
    """The registry as it is, plus whatever a test registers: restored when the module is done."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
        yield


@pytest.fixture(scope="module")
def study(tmp_path_factory, scratch_registry):
    """Both tasks registered and run as targets of two trials (no intermediate task, and builtin_nli)."""
    root = tmp_path_factory.mktemp("new_task")
    data = root / "data"
    write_release_files(data)
    for task in new_tasks():
        registry.register(task)
    spec = small_spec(
        str(root / "store"), name="nt",
        study={"name": "nt", "storage": str(root / "store"), "max_failures": 0, "data_dir": str(data)},
        models=[{"name": "tiny", "source": {"builtin": "tiny", "mlm_steps": 60}, "batch_size": 16, "max_length": 48,
                 "steps": [0, 10]}],
        target_tasks=[{"task": "my_nli", "languages": ["en", "xb"]}, {"task": "my_tags", "languages": ["xa"]}],
    )
    storage.write_text_atomic(f"{spec.uri}/spec.json", spec.model_dump_json())
    reports: dict[str, list[dict]] = {}
    for i, task in enumerate(["none", "builtin_nli"]):
        config = {"model": "tiny", "intermediate_task": task, "seed": 0, "intermediate_lr": 1e-3, "target_lr": 1e-3}
        reports[f"trial{i}"] = []
        Trial(spec, config, f"trial{i}").run(lambda metrics, folder, out=reports[f"trial{i}"]: out.append(metrics))
    labels = root / "labels"
    ctx = LoadContext(data_dir=str(data))
    for name, langs in (("my_nli", ("en", "xb")), ("my_tags", ("xa",))):
        task = registry.get(name)
        for lang in langs:
            write_labels(str(labels), task, lang, task.load("test", lang, ctx))
    return spec, reports, results.collect(spec.uri), labels


def test_the_entry_is_the_one_record(scratch_registry, study):
    nli, tags = registry.get("my_nli"), registry.get("my_tags")
    assert (nli.display_name, nli.score_keys, nli.suffix) == ("My NLI", ("accuracy",), "tsv")
    assert (tags.display_name, tags.score_keys, tags.suffix) == ("My tags", ("f1",), "tsv")


def test_the_submission_scores_what_the_trial_recorded(study, capsys):
    spec, reports, rows, labels = study
    for trial_id, milestone in (("trial0", 0), ("trial1", 10)):
        report = next(r for r in reports[trial_id] if r["intermediate_steps"] == milestone)
        pred = Path(spec.uri) / "predictions" / trial_id / str(milestone)
        assert sorted(str(p.relative_to(pred)) for p in pred.rglob("test-*")) == [
            "my_nli/test-en.tsv", "my_nli/test-xb.tsv", "my_tags/test-xa.tsv"]
        scored = score_submission(pred, labels, "none")
        assert set(scored["tasks"]) == {"my_nli", "my_tags"} and scored["missing"] == [] and not scored["notes"]
        recorded = rows[(rows.trial_id == trial_id) & (rows.intermediate_steps == milestone) & (rows.split == "test")]
        for task, metric in (("my_nli", "accuracy"), ("my_tags", "f1")):
            entry = scored["tasks"][task]
            mine = recorded[recorded.target_task == task].set_index(["language", "metric"]).value
            langs = sorted(entry[metric])
            assert langs == sorted(mine.index.get_level_values(0).unique())
            for lang in langs:
                assert entry[metric][lang] == mine[(lang, metric)] == mine[(lang, "score")], (task, lang)
            assert entry["avg_metric"] == pytest.approx(report[f"test/{task}"], rel=1e-12, abs=0)
            assert 0 < entry["avg_metric"] < 100
        assert scored["overall"] == pytest.approx((scored["tasks"]["my_nli"]["avg_metric"]
                                                   + scored["tasks"]["my_tags"]["avg_metric"]) / 2)
        # The command gives the same numbers, and names the tasks by their entries' display names.
        assert score_command(pred, labels, "none", as_json=True) == 0
        assert json.loads(capsys.readouterr().out)["tasks"] == scored["tasks"]
        assert score_command(pred, labels, "none", as_json=False) == 0
        out = capsys.readouterr().out
        assert "My NLI" in out and "My tags" in out
    # An XTREME score does not know them.
    with pytest.raises(ScoringError, match="no xtreme task folder"):
        score_submission(pred, labels, "xtreme")


def test_export_reports_the_new_tasks_with_the_trial_numbers(study):
    spec, _, rows, labels = study
    result = CliRunner().invoke(app, ["export", spec.uri])
    assert result.exit_code == 0, result.output
    report = Path(spec.uri) / "report"
    table = pd.read_parquet(report / "results.parquet")
    pd.testing.assert_frame_equal(table, rows)
    for task in ("my_nli", "my_tags"):
        assert (report / f"pareto_{task}.png").stat().st_size > 10_000
    front = pd.read_csv(report / "pareto_front.csv")
    assert {"my_nli", "my_tags", "overall"} <= set(front.target_task)
    # The exported gains hold each task's score and its baseline's: the submissions' scores, task by task
    # and overall (the mean over the two tasks, as `xstudy score --benchmark none` averages them).
    scored = {milestone: score_submission(Path(spec.uri) / "predictions" / trial_id / str(milestone), labels, "none")
              for trial_id, milestone in (("trial0", 0), ("trial1", 10))}
    gains = pd.read_csv(report / "gains.csv")
    trained = gains[(gains.intermediate_task == "builtin_nli") & (gains.intermediate_steps == 10)].set_index("target_task")
    assert set(trained.index) == {"my_nli", "my_tags", "overall"}
    for task in ("my_nli", "my_tags"):
        assert trained.score[task] == pytest.approx(scored[10]["tasks"][task]["avg_metric"], rel=1e-12)
        assert trained.baseline[task] == pytest.approx(scored[0]["tasks"][task]["avg_metric"], rel=1e-12)
    assert trained.score["overall"] == pytest.approx(scored[10]["overall"], rel=1e-12)
    assert trained.baseline["overall"] == pytest.approx(scored[0]["overall"], rel=1e-12)


# ------------------------------------------------------------------- every format reads its own files
@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_a_task_the_official_scorer_does_not_know_is_scored_by_its_format(tmp_path, scratch_registry, name):
    """A copy of each benchmark task under a new name: the official scorer does not know it, so its format
    reads the files back and its entry's metric scores them: the numbers `Task.score` gives a trial's rows."""
    task = registry.register(replace(registry.get(name), name=f"user_{name}"))
    rng, expected = random.Random(name), {}
    for lang in task.test_languages[:3]:
        examples, predictions = synthetic(name, lang, rng)
        write_predictions(str(tmp_path / "pred"), task, lang, examples, predictions)
        write_labels(str(tmp_path / "gold"), task, lang, examples)
        expected[lang] = task.score(task.format.gold(examples, task), predictions, lang)
    scored = score_submission(tmp_path / "pred", tmp_path / "gold", "none")["tasks"][task.name]
    for lang, values in expected.items():
        for metric, value in values.items():
            if metric != "score":
                assert scored[metric][lang] == value, (lang, metric)
    assert scored["avg_metric"] == pytest.approx(np.mean([v["score"] for v in expected.values()]), rel=1e-12)
