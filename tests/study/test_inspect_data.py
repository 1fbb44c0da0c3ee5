"""`xstudy data inspect`: split sizes counted as the metric counts them, first examples, clear failures."""

from __future__ import annotations

import json

import pytest

from study.inspect_data import inspect_command


def run(capsys, *args) -> tuple[int, str, str]:
    code = inspect_command(*args)
    out, err = capsys.readouterr()
    return code, out, err


# (task, languages, counts, the file the sample lacks): the shared samples hold some splits only.
COUNTS = [
    ("xquad", ["de", "zh"], {"de": {"test": 1190}, "zh": {"test": 1190}}, None),  # questions
    ("udpos", ["de"], {"de": {"test": 1000}}, "de_*-ud-dev.conllu"),  # sentences
    ("tatoeba", ["de", "kk", "th"], {"de": {"test": 1000}, "kk": {"test": 575}, "th": {"test": 548}}, None),  # pairs
    ("xcopa", ["et", "qu"], {"et": {"dev": 100, "test": 500}, "qu": {"dev": 100, "test": 500}}, None),
    ("cosmosqa", ["en"], {"en": {"dev": 2985}}, "train.csv"),
]


@pytest.mark.parametrize("task,langs,expected,lacking", COUNTS, ids=[c[0] for c in COUNTS])
def test_json_counts_on_the_shared_data(capsys, shared_data, task, langs, expected, lacking, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, out, err = run(capsys, task, langs, str(shared_data), True)
    result = json.loads(out)
    assert result["task"] == task
    assert result["splits"] == expected
    if lacking:  # reported with the file, and the exit code says so
        assert code == 1 and lacking in result["errors"][0] and lacking in err
    else:
        assert code == 0 and "errors" not in result


def test_tables_and_first_examples(capsys, shared_data):
    code, out, _ = run(capsys, "tatoeba", ["de", "fr"], str(shared_data), False)
    assert code == 0
    assert "first 3 test examples (de)" in out and "Maria sagte, sie wisse nicht, wo Tom sei." in out
    assert "1000" in out


def test_missing_and_malformed_files_exit_1_with_the_file(capsys, tmp_path):
    (tmp_path / "tatoeba").mkdir()
    code, out, err = run(capsys, "tatoeba", ["de"], str(tmp_path), True)
    assert code == 1 and json.loads(out)["splits"] == {}
    assert "tatoeba.deu-eng.deu" in err and str(tmp_path / "tatoeba") in err
    (tmp_path / "tatoeba" / "tatoeba.deu-eng.deu").write_text("a\nb\n")
    (tmp_path / "tatoeba" / "tatoeba.deu-eng.eng").write_text("A\n")
    code, out, err = run(capsys, "tatoeba", ["de"], str(tmp_path), True)
    assert code == 1 and "tatoeba.deu-eng.deu:2" in err and "same number of lines" in err


def test_unknown_task_or_language_exit_2(capsys, tmp_path):
    code, _, err = run(capsys, "xnlii", None, str(tmp_path), True)
    assert code == 2 and "unknown task 'xnlii'" in err
    code, _, err = run(capsys, "xcopa", ["de"], str(tmp_path), True)
    assert code == 2 and "no language(s) ['de']" in err


def test_all_languages_by_default(capsys, tmp_path):
    (tmp_path / "xcopa").mkdir()
    code, out, err = run(capsys, "xcopa", None, str(tmp_path), True)
    assert code == 1
    assert err.count("error:") == 1 + 2 * 11 + 1  # COPA train and dev (en), then val and test of 11 languages


def test_a_study_checks_all_its_data_before_compute(tmp_path):
    from study.inspect_data import check_study_data, study_splits
    from study.spec import parse_spec

    spec = parse_spec({
        "study": {"name": "s", "storage": str(tmp_path), "data_dir": str(tmp_path)},
        "models": [{"name": "m", "source": {"builtin": "tiny"}, "steps": [0, 10]}],
        "intermediate_tasks": ["none", "socialiqa"],
        "target_tasks": [{"task": "xcopa", "languages": ["qu"]}, {"task": "tatoeba", "languages": ["de"]}],
    })
    assert study_splits(spec) == [
        ("socialiqa", "train", "en"), ("socialiqa", "dev", "en"), ("xcopa", "train", "en"), ("xcopa", "dev", "en"),
        ("xcopa", "test", "qu"), ("tatoeba", "test", "de"),  # no English dev or training for Tatoeba
    ]
    (tmp_path / "tatoeba").mkdir()
    (tmp_path / "xcopa").mkdir()
    (tmp_path / "copa").mkdir()
    (tmp_path / "socialiqa").mkdir()
    errors = check_study_data(spec)
    assert len(errors) == 6
    assert any("tatoeba.deu-eng.deu" in e for e in errors) and any("test.qu.jsonl" in e for e in errors)


def test_default_languages_are_the_tasks_own():
    from study.inspect_data import task_languages
    from study.tasks import registry

    assert task_languages(registry.get("tatoeba"))[:3] == ["ar", "he", "vi"]  # no English split
    assert task_languages(registry.get("xnli"))[0] == "en"
