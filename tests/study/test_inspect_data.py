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
    assert code == 0 and "errors" not in result  # without a spec, a missing split is shown, not an error
    if lacking:  # marked missing, and the note names the file looked for
        assert sum(len(v) for v in result["missing"].values()) == 1 and lacking in err and "missing:" in err
    else:
        assert result["missing"] == {}


def test_tables_and_first_examples(capsys, shared_data):
    code, out, _ = run(capsys, "tatoeba", ["de", "fr"], str(shared_data), False)
    assert code == 0
    assert "first 3 test examples (de)" in out and "Maria sagte, sie wisse nicht, wo Tom sei." in out
    assert "1000" in out


def test_missing_and_malformed_files_are_told_apart(capsys, tmp_path):
    (tmp_path / "tatoeba").mkdir()
    code, out, err = run(capsys, "tatoeba", ["de"], str(tmp_path), True)
    assert code == 0 and json.loads(out)["splits"] == {} and json.loads(out)["missing"] == {"de": ["test"]}
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
    assert code == 0
    missing = json.loads(out)["missing"]
    assert missing["en"] == ["train", "dev"] and len(missing) == 12  # COPA (en), then val and test of 11 languages
    assert sum(line.startswith("missing: ") for line in err.splitlines()) == 1 + 2 * 11 + 1


# Two sentences of a CoNLL-U test file, as UD's Hindi PUD treebank ships it (hi_pud-ud-test.conllu).
HI_PUD = """# sent_id = n01001011
# text = यह एक परीक्षा है।
1\tयह\tयह\tPRON\t_\t_\t4\tnsubj\t_\t_
2\tएक\tएक\tNUM\t_\t_\t3\tnummod\t_\t_
3\tपरीक्षा\tपरीक्षा\tNOUN\t_\t_\t4\tnmod\t_\t_
4\tहै\tहै\tAUX\t_\t_\t0\troot\t_\tSpaceAfter=No
5\t।\t।\tPUNCT\t_\t_\t4\tpunct\t_\t_

# sent_id = n01001012
# text = ठीक है।
1\tठीक\tठीक\tADJ\t_\t_\t2\tamod\t_\t_
2\tहै\tहै\tAUX\t_\t_\t0\troot\t_\tSpaceAfter=No
3\t।\t।\tPUNCT\t_\t_\t2\tpunct\t_\t_

"""


def zero_shot_spec(folder, data_dir, target_languages=("hi",)) -> str:
    import yaml

    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump({
        "study": {"name": "s", "storage": str(folder / "out"), "data_dir": str(data_dir)},
        "models": [{"name": "m", "source": {"builtin": "tiny"}, "steps": [0, 10]}],
        "intermediate_tasks": ["none"], "target_tasks": [{"task": "udpos", "languages": list(target_languages)}],
    }))
    return str(path)


def test_a_test_only_treebank_reports_its_test_split_and_a_spec_decides(capsys, tmp_path):
    data = tmp_path / "data"
    (data / "udpos" / "UD_Hindi-PUD").mkdir(parents=True)
    (data / "udpos" / "UD_Hindi-PUD" / "hi_pud-ud-test.conllu").write_text(HI_PUD, encoding="utf-8")
    code, out, err = run(capsys, "udpos", ["hi"], str(data), True)
    result = json.loads(out)
    assert code == 0 and result["splits"] == {"hi": {"test": 2}} and result["missing"] == {"hi": ["dev"]}
    assert "hi_*-ud-dev.conllu" in err
    code, out, _ = run(capsys, "udpos", ["hi"], str(data), False)
    assert code == 0 and "missing" in out
    # Zero-shot needs English train and dev and the target language's test: Hindi's dev is not needed.
    spec = zero_shot_spec(tmp_path, data)
    code, out, err = run(capsys, "udpos", ["hi"], None, True, spec)  # the data directory comes from the spec
    assert code == 0 and json.loads(out)["needed_missing"] == []
    code, out, err = run(capsys, "udpos", ["en", "hi"], None, True, spec)
    assert code == 1 and json.loads(out)["needed_missing"] == [["dev", "en"], ["train", "en"]]
    assert err.count("error:") == 2 and "en_*-ud-train.conllu" in err
    code, out, err = run(capsys, "udpos", ["en", "hi"], None, False, spec)
    assert code == 1 and "missing (needed)" in out
    # A target language whose test is missing is needed too.
    code, out, _ = run(capsys, "udpos", ["th"], str(data), True, zero_shot_spec(tmp_path, data, ["th"]))
    assert code == 1 and json.loads(out) == {"task": "udpos", "splits": {}, "missing": {"th": ["test"]},
                                             "needed_missing": [["test", "th"]]}


def test_malformed_files_are_errors_and_a_spec_must_read_the_task(capsys, tmp_path):
    (tmp_path / "udpos").mkdir()
    (tmp_path / "udpos" / "hi_pud-ud-test.conllu").write_text("1\tyah\tPRON\n", encoding="utf-8")
    code, out, err = run(capsys, "udpos", ["hi"], str(tmp_path), True)
    assert code == 1 and "hi_pud-ud-test.conllu:1" in json.loads(out)["errors"][0] and "error:" in err
    code, _, err = run(capsys, "xnli", ["de"], str(tmp_path), True, zero_shot_spec(tmp_path, tmp_path))
    assert code == 2 and "reads nothing of task xnli" in err


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
