"""Trial predictions in the XTREME submission layout: the official-layout scorer reads them and gives the
number the task's own metric gives."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from study.predictions import prediction_path, write_labels, write_predictions
from study.scoring import TASK_FILES, score_submission
from study.tasks import registry
from study.tasks.languages import TASK_LANGUAGES

ANSWERS = ["the Panthers", "308", "Denver Broncos", "2015", "Santa Clara, California"]


def synthetic(task_name: str, lang: str, rng: random.Random) -> tuple[list[dict], list]:
    """(examples, predictions) of one language, with some predictions right and some wrong."""
    task = registry.get(task_name)
    fmt = task.format_name
    n = rng.randint(4, 9)
    if fmt == "classification":
        examples = [{"text_a": f"a{i}", "text_b": f"b{i}", "label": rng.choice(task.labels)} for i in range(n)]
        return examples, [ex["label"] if rng.random() < 0.6 else rng.choice(task.labels) for ex in examples]
    if fmt == "multiple_choice":
        examples = [{"context": f"c{i}", "choices": ["x", "y"], "label": rng.randint(0, 1)} for i in range(n)]
        return examples, [rng.randint(0, 1) for _ in examples]
    if fmt == "tagging":
        examples, preds = [], []
        for i in range(n):
            tags = [rng.choice(task.labels) for _ in range(rng.randint(1, 6))]
            examples.append({"tokens": [f"w{j}" for j in range(len(tags))], "tags": tags})
            preds.append([t if rng.random() < 0.7 else rng.choice(task.labels) for t in tags])
        return examples, preds
    if fmt == "retrieval":
        examples = [{"source": f"s{i}", "target": f"t{i}"} for i in range(n)]
        return examples, [i if rng.random() < 0.6 else rng.randrange(n) for i in range(n)]
    if fmt == "bitext_mining":
        examples = [{"part": "eval", "side": "gold", "id": f"{lang}-{i}", "text": "", "target_id": f"en-{i}"} for i in range(n)]
        return examples, [f"{lang}-{i}\ten-{i if rng.random() < 0.6 else i + 1}" for i in range(n + 2)]
    if fmt == "span_qa":
        examples, preds = [], []
        for i in range(n):
            answer = rng.choice(ANSWERS)
            context = f"In 2015 {answer} played. Santa Clara, California hosted it."
            examples.append({"id": f"{lang}-q{i}", "context": context, "question": "Who?",
                             "answers": {"text": [answer], "answer_start": [context.index(answer)]}})
            preds.append(rng.choice([answer, answer.split()[-1], "played", ""]))
        return examples, preds
    if fmt == "ranking":
        queries = [{"kind": "query", "id": f"q{i}", "text": "?", "lang": lang, "relevant": [f"c{i}"]} for i in range(n)]
        candidates = [{"kind": "candidate", "id": f"c{i}", "text": ".", "lang": "en", "relevant": []} for i in range(n + 5)]
        preds = [rng.sample([f"c{j}" for j in range(n + 5)], k=min(20, n + 5)) for _ in range(n)]
        return queries + candidates, preds
    raise AssertionError(fmt)


CASES = [(task, "xtreme-r" if task in ("xcopa", "mewslix", "lareqa") else "xtreme") for task in TASK_FILES]
# The extensions the official evaluate.py reads (its mock_test_data), whatever the registry says.
OFFICIAL_SUFFIX = {"xcopa": "jsonl", "xquad": "json", "mlqa": "json", "tydiqa": "json", "mewslix": "json", "lareqa": "json"}


@pytest.mark.parametrize("task_name,benchmark", CASES, ids=[c[0] for c in CASES])
def test_round_trip_through_the_official_layout(tmp_path, task_name, benchmark):
    task, rng = registry.get(task_name), random.Random(task_name)
    expected: dict[str, dict[str, float]] = {}
    for lang in TASK_LANGUAGES[benchmark][task_name]:
        examples, predictions = synthetic(task_name, lang, rng)
        written = write_predictions(str(tmp_path / "pred"), task, lang, examples, predictions)
        assert written == str(prediction_path(tmp_path / "pred", task, lang))
        assert Path(written).name == f"test-{lang}.{TASK_FILES[task_name].suffix}"
        assert TASK_FILES[task_name].suffix == OFFICIAL_SUFFIX.get(task_name, "tsv")
        write_labels(str(tmp_path / "gold"), task, lang, examples)
        expected[lang] = task.score(task.format.gold(examples, task), predictions, lang)
    result = score_submission(tmp_path / "pred", tmp_path / "gold", benchmark, tasks=[task_name])
    scored = result["tasks"][task_name]
    for lang, values in expected.items():
        for metric, value in values.items():
            if metric != "score":
                assert scored[metric][lang] == pytest.approx(value, abs=1e-9), (lang, metric)
    per_language_scores = [v["score"] for v in expected.values()]
    assert scored["avg_metric"] == pytest.approx(sum(per_language_scores) / len(per_language_scores))


def test_file_contents_follow_the_official_formats(tmp_path):
    xnli = registry.get("xnli")
    path = write_predictions(str(tmp_path), xnli, "de", [{"label": "neutral"}] * 2, ["neutral", "contradiction"])
    assert Path(path).read_text() == "neutral\ncontradiction\n"
    udpos = registry.get("udpos")
    path = write_predictions(str(tmp_path), udpos, "de", [{"tokens": ["a", "b"]}, {"tokens": ["c"]}], [["DET", "NOUN"], ["PUNCT"]])
    assert Path(path).read_text() == "DET\nNOUN\n\nPUNCT\n"  # no blank line after the last sentence
    xcopa = registry.get("xcopa")
    path = write_predictions(str(tmp_path), xcopa, "qu", [{}, {}], [1, 0])
    assert [json.loads(line) for line in Path(path).read_text().splitlines()] == [{"label": 1}, {"label": 0}]
    xquad = registry.get("xquad")
    path = write_predictions(str(tmp_path), xquad, "de", [{"id": "q1"}], ["Paris"])
    assert json.loads(Path(path).read_text()) == {"q1": "Paris"} and path.endswith("xquad/test-de.json")


def test_mismatches_are_refused(tmp_path):
    with pytest.raises(ValueError, match="2 predictions for 3 examples"):
        write_predictions(str(tmp_path), registry.get("xnli"), "de", [{}] * 3, ["neutral"] * 2)
    with pytest.raises(ValueError, match="1 tags for a sentence of 2 tokens"):
        write_predictions(str(tmp_path), registry.get("panx"), "de", [{"tokens": ["a", "b"]}], [["O"]])
    assert not (tmp_path / "xnli" / "test-de.tsv").exists()


def test_builtin_tasks_get_their_formats_layout(tmp_path):
    task = registry.get("builtin_xnli")
    path = write_predictions(str(tmp_path), task, "xa", [{}], [task.labels[0]])
    assert path.endswith("builtin_xnli/test-xa.tsv")
