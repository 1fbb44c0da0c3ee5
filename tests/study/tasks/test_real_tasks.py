"""The real tasks' registry entries: names, formats, languages, hub ids, loading precedence, and loaders.

Loaders are tested on the real samples in ../shared/data where there is one, and on release-format files
written here for the datasets that have none (MLQA same-language pairs, SQuAD v2.0, SocialIQA, COPA, ANLI
jsonl, SNLI, BUCC, XQuAD-R, Mewsli-X, CCG, XTREME-R-only Tatoeba languages).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import datasets
import pytest
import yaml

from study.data import data_fingerprint
from study.spec import load_spec
from study.tasks import registry
from study.tasks import real_tasks as RT
from study.tasks.languages import LANGUAGES, TATOEBA_CODES, XTREME_R_TASK_LANGUAGES, XTREME_TASK_LANGUAGES
from study.tasks.readers import DataError
from study.tasks.registry import LoadContext

ROOT = Path(__file__).resolve().parents[3]

INTERMEDIATE = {
    "mnli": ("classification", "accuracy"), "anli_plus": ("classification", "accuracy"),
    "qqp": ("classification", "accuracy"), "squad_v1": ("span_qa", "squad"), "squad_v2": ("span_qa", "squad_v2"),
    "hellaswag": ("multiple_choice", "accuracy"), "commonsenseqa": ("multiple_choice", "accuracy"),
    "cosmosqa": ("multiple_choice", "accuracy"), "socialiqa": ("multiple_choice", "accuracy"),
    "ccg": ("tagging", "token_accuracy"),
}
TARGETS = {
    "xnli": ("classification", "accuracy"), "pawsx": ("classification", "accuracy"),
    "udpos": ("tagging", "seqeval_f1"), "panx": ("tagging", "seqeval_f1"), "xquad": ("span_qa", "squad"),
    "mlqa": ("span_qa", "mlqa"), "tydiqa": ("span_qa", "squad"), "bucc2018": ("bitext_mining", "bucc_f1"),
    "tatoeba": ("retrieval", "retrieval_accuracy"), "xcopa": ("multiple_choice", "accuracy"),
    "mewslix": ("ranking", "mrr@20"), "lareqa": ("ranking", "map@20"),
}


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(task: str, split: str, lang: str, data_dir: Path | str | None) -> list[dict]:
    return registry.get(task).load(split, lang, LoadContext(data_dir=None if data_dir is None else str(data_dir)))


@pytest.fixture
def no_hub(monkeypatch):
    """Fail loudly if a test that should read files reaches for the hub."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"the hub was asked for {args}")

    monkeypatch.setattr(datasets, "load_dataset", refuse)


# ------------------------------------------------------------------------------------- entries
@pytest.mark.parametrize("name,kind", [*[(n, "intermediate") for n in INTERMEDIATE], *[(n, "target") for n in TARGETS]])
def test_every_task_of_the_issue_is_registered(name, kind):
    task = registry.get(name)
    assert (task.format_name, task.metric) == {**INTERMEDIATE, **TARGETS}[name]
    assert kind in task.roles
    assert task.description
    assert task.splits == task.loader.splits


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_languages_come_from_the_language_module(name):
    task = registry.get(name)
    assert task.test_languages == (XTREME_R_TASK_LANGUAGES.get(name) or XTREME_TASK_LANGUAGES[name])
    # A spec can always select the XTREME list: it is part of the registered languages.
    assert set(XTREME_TASK_LANGUAGES.get(name, ())) <= set(task.test_languages)
    assert task.splits["test"] == task.test_languages


def test_labels_and_training_recipes():
    assert registry.get("xnli").labels == ("entailment", "neutral", "contradiction")
    assert registry.get("pawsx").labels == ("0", "1") == registry.get("qqp").labels
    assert len(registry.get("udpos").labels) == 17 and "O" in registry.get("panx").labels
    assert len(registry.get("ccg").labels) == 1363
    assert registry.get("squad_v2").allow_no_answer and not registry.get("squad_v1").allow_no_answer
    xcopa = registry.get("xcopa")
    assert xcopa.train_first == ("socialiqa",)
    assert registry.get("socialiqa").format_name == xcopa.format_name  # one head serves both stages


def test_tatoeba_codes_cover_every_tatoeba_language():
    assert set(TATOEBA_CODES) == set(XTREME_R_TASK_LANGUAGES["tatoeba"])


HUB = {
    ("mnli", "dev", "en"): [("nyu-mll/glue", "mnli", "validation_matched")],
    ("anli_plus", "train", "en"): [("facebook/anli", None, "train_r1"), ("facebook/anli", None, "train_r2"),
                                   ("facebook/anli", None, "train_r3"), ("nyu-mll/glue", "mnli", "train"),
                                   ("stanfordnlp/snli", None, "train")],
    ("anli_plus", "dev", "en"): [("facebook/anli", None, f"dev_r{r}") for r in (1, 2, 3)],
    ("qqp", "train", "en"): [("nyu-mll/glue", "qqp", "train")],
    ("squad_v1", "train", "en"): [("rajpurkar/squad", None, "train")],
    ("squad_v2", "dev", "en"): [("rajpurkar/squad_v2", None, "validation")],
    ("hellaswag", "train", "en"): [("Rowan/hellaswag", None, "train")],
    ("commonsenseqa", "dev", "en"): [("tau/commonsense_qa", None, "validation")],
    ("cosmosqa", "dev", "en"): [],  # allenai/cosmos_qa is a loading script: release files only
    ("socialiqa", "train", "en"): [("lighteval/siqa", None, "train")],
    ("ccg", "train", "en"): [],
    ("xnli", "train", "en"): [("facebook/xnli", "en", "train")],
    ("xnli", "test", "de"): [("facebook/xnli", "de", "test")],
    ("pawsx", "dev", "fr"): [("google-research-datasets/paws-x", "fr", "validation")],
    ("udpos", "test", "de"): [("google/xtreme", "udpos.German", "test")],
    ("udpos", "train", "en"): [("google/xtreme", "udpos.English", "train")],
    ("udpos", "test", "lt"): [],
    ("panx", "train", "en"): [("unimelb-nlp/wikiann", "en", "train")],
    ("panx", "test", "qu"): [("unimelb-nlp/wikiann", "qu", "test")],
    ("xquad", "train", "en"): [("rajpurkar/squad", None, "train")],
    ("xquad", "dev", "en"): [("rajpurkar/squad", None, "validation")],
    ("xquad", "test", "ro"): [("google/xquad", "xquad.ro", "validation")],
    ("mlqa", "test", "hi"): [("google/xtreme", "MLQA.hi.hi", "test")],
    ("mlqa", "dev", "en"): [("google/xtreme", "MLQA.en.en", "validation")],
    ("tydiqa", "train", "en"): [("google-research-datasets/tydiqa", "secondary_task", "train")],
    ("tydiqa", "test", "sw"): [("google-research-datasets/tydiqa", "secondary_task", "validation")],
    ("bucc2018", "test", "fr"): [("google/xtreme", "bucc18.fr", "validation"), ("google/xtreme", "bucc18.fr", "test")],
    ("bucc2018", "dev", "zh"): [("google/xtreme", "bucc18.zh", "validation")],
    ("tatoeba", "test", "fa"): [("google/xtreme", "tatoeba.pes", "validation")],
    ("tatoeba", "test", "az"): [],
    ("xcopa", "train", "en"): [("aps/super_glue", None, "train", "refs/convert/parquet", "copa")],
    ("xcopa", "dev", "en"): [("aps/super_glue", None, "validation", "refs/convert/parquet", "copa")],
    ("xcopa", "test", "qu"): [("cambridgeltl/xcopa", "qu", "test")],
    ("mewslix", "test", "de"): [],
    ("lareqa", "test", "de"): [("google-research-datasets/xquad_r", x, "validation") for x in XTREME_R_TASK_LANGUAGES["lareqa"]],
}


@pytest.mark.parametrize("key", list(HUB), ids=["-".join(k) for k in HUB])
def test_hub_ids_and_configs(key):
    task, split, lang = key
    refs = registry.get(task).loader.hub_refs()[(split, lang)]
    assert [(h.path, h.name, h.split) + ((h.revision, h.data_dir) if h.revision or h.data_dir else ()) for h in refs] == HUB[key]


def test_every_split_has_a_source():
    for task in registry.all_tasks():
        if not isinstance(task.loader, RT.DataSource):
            continue
        for split, langs in task.splits.items():
            for lang in langs:
                for part in task.loader.parts(split, lang):
                    assert part.local or part.hub, (task.name, split, lang)


# ------------------------------------------------------------------------------- precedence
def test_offline_hub_error_names_the_task_and_what_to_do(monkeypatch):
    monkeypatch.delenv("XSTUDY_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError) as info:
        load("xnli", "test", "de", None)
    message = str(info.value)
    for needed in ("task xnli", "split test", "language de", "'facebook/xnli' config 'de'", "offline mode is on",
                   "xnli.test.tsv", "XSTUDY_DATA_DIR", "study.data_dir", "HF_HUB_OFFLINE"):
        assert needed in message, needed


def test_local_only_tasks_say_so(tmp_path, monkeypatch):
    monkeypatch.delenv("XSTUDY_DATA_DIR", raising=False)
    for task, split, lang in (("ccg", "train", "en"), ("mewslix", "test", "de"), ("tatoeba", "test", "az")):
        with pytest.raises(DataError, match="no hub copy") as info:
            load(task, split, lang, tmp_path)
        assert f"task {task}" in str(info.value)


def test_a_script_only_repository_is_named_with_what_to_use_instead(monkeypatch):
    # What datasets>=4 raises for a repository that still has its loading script at the root.
    def script(path, **kwargs):
        raise RuntimeError(f"Dataset scripts are no longer supported, but found {path.split('/')[-1]}.py")

    monkeypatch.delenv("XSTUDY_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", script)
    with pytest.raises(DataError) as info:
        load("xcopa", "train", "en", None)
    message = str(info.value)
    for needed in ("'aps/super_glue'", "revision 'refs/convert/parquet'", "data_dir 'copa'", "loading script",
                   "datasets>=4", "train.jsonl", "val.jsonl"):
        assert needed in message, needed
    with pytest.raises(DataError) as info:  # a repository the registry does not know: the generic advice
        RT.DataSource("t", {"test": ["en"]}, lambda s, l: [RT.Part((), RT.Hub("someone/old", None, "test", RT.hub_copa), "en")])(
            "test", "en", LoadContext())
    assert "'someone/old'" in str(info.value) and "refs/convert/parquet" in str(info.value)


def test_cosmosqa_is_read_from_its_release_files_only(tmp_path, monkeypatch, no_hub):
    monkeypatch.delenv("XSTUDY_DATA_DIR", raising=False)
    for split, file in (("train", "train.csv"), ("dev", "valid.csv")):
        with pytest.raises(DataError) as info:
            load("cosmosqa", split, "en", tmp_path)
        message = str(info.value)
        assert file in message and "allenai/cosmos_qa" in message and "loading script" in message


def test_udpos_test_only_languages_have_no_dev_split():
    task = registry.get("udpos")
    for lang in ("kk", "th", "tl", "yo"):  # UD 2.5: test only, or (kk) train and test
        assert lang in task.splits["test"] and lang not in task.splits["dev"]
        assert [(h.path, h.name, h.split) for h in task.loader.hub_refs()[("test", lang)]] == [
            ("google/xtreme", f"udpos.{LANGUAGES[lang].name}", "test")]
    assert {"hi", "de", "en"} <= set(task.splits["dev"])


def _xnli_file(folder: Path) -> Path:
    return write(folder, "xnli/XNLI-1.0/xnli.test.tsv",
                 "language\tgold_label\tsentence1\tsentence2\nde\tneutral\tEr sagte.\tSie ging.\n")


def test_local_files_win_over_the_hub(tmp_path, no_hub):
    _xnli_file(tmp_path)
    assert load("xnli", "test", "de", tmp_path) == [{"text_a": "Er sagte.", "text_b": "Sie ging.", "label": "neutral"}]


def test_a_folder_without_the_file_is_an_error_not_a_hub_fallback(tmp_path, no_hub):
    _xnli_file(tmp_path)
    with pytest.raises(DataError) as info:
        load("xnli", "dev", "de", tmp_path)
    assert "file missing" in str(info.value) and "'xnli.dev.tsv'" in str(info.value)
    assert str(tmp_path / "xnli") in str(info.value)


def test_without_the_dataset_folder_the_hub_is_used(tmp_path, monkeypatch):
    calls = []

    def fake_hub(path, name=None, split=None):
        calls.append((path, name, split))
        features = datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                                      "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"])})
        return datasets.Dataset.from_dict({"premise": ["a", "b"], "hypothesis": ["c", "d"], "label": [2, 0]}, features=features)

    monkeypatch.setattr(datasets, "load_dataset", fake_hub)
    write(tmp_path, "pawsx/en/train.tsv", "id\tsentence1\tsentence2\tlabel\n")  # another dataset's folder
    rows = load("xnli", "test", "de", tmp_path)
    assert calls == [("facebook/xnli", "de", "test")]
    assert [r["label"] for r in rows] == ["contradiction", "entailment"]


def test_data_dir_from_the_environment_and_a_missing_data_dir(tmp_path, monkeypatch, no_hub):
    _xnli_file(tmp_path)
    monkeypatch.setenv("XSTUDY_DATA_DIR", str(tmp_path))
    assert len(load("xnli", "test", "de", None)) == 1
    with pytest.raises(DataError, match="data directory does not exist"):
        load("xnli", "test", "de", tmp_path / "nope")


def test_two_matching_files_are_ambiguous(tmp_path, no_hub):
    _xnli_file(tmp_path)
    write(tmp_path, "xnli/copy/xnli.test.tsv", "language\tgold_label\tsentence1\tsentence2\n")
    with pytest.raises(DataError, match="2 files match 'xnli.test.tsv'"):
        load("xnli", "test", "de", tmp_path)


def test_fingerprint_follows_the_files(tmp_path):
    task, ctx = registry.get("tatoeba"), LoadContext(data_dir=str(tmp_path))
    src = write(tmp_path, "tatoeba/tatoeba.deu-eng.deu", "Hallo\n")
    eng = write(tmp_path, "tatoeba/tatoeba.deu-eng.eng", "Hello\n")
    first = data_fingerprint(task, "test", "de", ctx)
    assert data_fingerprint(task, "test", "de", ctx) == first
    eng.write_text("Hello!\n", encoding="utf-8")  # a companion file changes size
    second = data_fingerprint(task, "test", "de", ctx)
    assert second != first
    os.utime(src, ns=(1, 1))  # the same size, another modification time
    assert data_fingerprint(task, "test", "de", ctx) != second
    assert data_fingerprint(registry.get("builtin_pos"), "test", "en", ctx) == {"builtin_seed": 0, "data_dir": str(tmp_path)}


# ------------------------------------------------------------------------- loaders on real samples
REAL = [  # (task, split, language, examples as the metric counts them), with data_dir = shared/data
    ("xcopa", "test", "et", 500), ("xcopa", "dev", "qu", 100), ("xquad", "test", "de", 1190), ("xquad", "test", "en", 1190),
    ("tatoeba", "test", "de", 1000), ("tatoeba", "test", "kk", 575), ("tatoeba", "test", "fa", 1000),
    ("udpos", "test", "de", 1000), ("udpos", "dev", "en", 2001), ("udpos", "test", "en", 2077),
    ("anli_plus", "dev", "en", 3198), ("cosmosqa", "dev", "en", 2985),
]
SAMPLES = [  # with data_dir = shared/data/format_samples
    ("xnli", "test", "de", 1), ("xnli", "dev", "en", 1), ("xnli", "train", "en", 4), ("pawsx", "dev", "de", 4),
    ("pawsx", "test", "de", 4), ("panx", "dev", "de", 1), ("panx", "train", "en", 1), ("panx", "test", "en", 1),
    ("mnli", "train", "en", 3), ("mnli", "dev", "en", 2), ("qqp", "train", "en", 3), ("qqp", "dev", "en", 2),
    ("hellaswag", "train", "en", 2), ("hellaswag", "dev", "en", 2), ("commonsenseqa", "train", "en", 5),
    ("commonsenseqa", "dev", "en", 2), ("tydiqa", "test", "ar", 1),
]


@pytest.mark.parametrize("task,split,lang,n", REAL, ids=["-".join(map(str, c[:3])) for c in REAL])
def test_loaders_on_the_shared_samples(shared_data, no_hub, task, split, lang, n):
    examples = load(task, split, lang, shared_data)
    assert registry.get(task).format.count(examples) == n


@pytest.mark.parametrize("task,split,lang,n", SAMPLES, ids=["-".join(map(str, c[:3])) for c in SAMPLES])
def test_loaders_on_the_format_samples(samples, no_hub, task, split, lang, n):
    examples = load(task, split, lang, samples)
    the_task = registry.get(task)
    assert the_task.format.count(examples) == n
    for ex in examples:
        if "label" in ex and the_task.labels:
            assert ex["label"] in the_task.labels
        if "tags" in ex:
            assert set(ex["tags"]) <= set(the_task.labels)


def test_tydiqa_keeps_one_language(samples, no_hub):
    with pytest.raises(DataError, match="no examples"):  # the sample's dev file has no Finnish question
        load("tydiqa", "test", "fi", samples)
    assert [r["id"][:7] for r in load("tydiqa", "test", "ar", samples)] == ["arabic-"]


# ---------------------------------------------------------------------- loaders on written files
def squad_doc(qas: list[dict], context: str = "Paris is the capital of France.") -> str:
    return json.dumps({"version": "1", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]})


def qa(qid: str, text: str | None, start: int = 0, question: str = "What?") -> dict:
    return {"id": qid, "question": question, "answers": [] if text is None else [{"text": text, "answer_start": start}]}


def test_mlqa_and_squad_v2_files(tmp_path, no_hub):
    write(tmp_path, "mlqa/MLQA_V1/dev/dev-context-de-question-de.json", squad_doc([qa("m1", "Paris")]))
    assert load("mlqa", "dev", "de", tmp_path)[0]["answers"]["text"] == ["Paris"]
    write(tmp_path, "squad_v2/dev-v2.0.json", squad_doc([qa("a", "Paris"), {**qa("b", None), "is_impossible": True}]))
    rows = load("squad_v2", "dev", "en", tmp_path)
    assert [r["answers"]["text"] for r in rows] == [["Paris"], []]
    write(tmp_path, "squad/train-v1.1.json", squad_doc([qa("a", "Paris")]))
    assert len(load("xquad", "train", "en", tmp_path)) == 1  # XQuAD trains on SQuAD v1.1


def test_anli_plus_train_concatenates_its_sources(tmp_path, no_hub):
    for r in (1, 2, 3):
        write(tmp_path, f"anli/R{r}/train.jsonl", "".join(
            json.dumps({"context": f"c{r}{i}", "hypothesis": "h", "label": "ecn"[i % 3]}) + "\n" for i in range(r)))
    write(tmp_path, "mnli/MNLI/train.tsv", "sentence1\tsentence2\tgold_label\na\tb\tneutral\n")
    write(tmp_path, "snli/snli_1.0_train.jsonl", "".join(json.dumps({"sentence1": "a", "sentence2": "b", "gold_label": g}) + "\n"
                                                         for g in ("entailment", "-", "neutral")))
    rows = load("anli_plus", "train", "en", tmp_path)
    assert len(rows) == 1 + 2 + 3 + 1 + 2
    assert [r["label"] for r in rows[:3]] == ["entailment", "entailment", "contradiction"]


def test_xnli_trains_on_xnli_mt_english(tmp_path, no_hub):
    write(tmp_path, "xnli/XNLI-MT-1.0/multinli/multinli.train.en.tsv", "premise\thypo\tlabel\na\tb\tcontradictory\n")
    assert load("xnli", "train", "en", tmp_path) == [{"text_a": "a", "text_b": "b", "label": "contradiction"}]


def test_xcopa_english_training_is_copa_after_socialiqa(tmp_path, no_hub):
    copa = {"premise": "The man turned on the faucet.", "choice1": "The toilet filled.", "choice2": "Water flowed.",
            "question": "effect", "label": 1, "idx": 1}
    write(tmp_path, "copa/train.jsonl", json.dumps(copa) + "\n")
    write(tmp_path, "copa/val.jsonl", json.dumps(copa) + "\n" + json.dumps(copa) + "\n")
    siqa = {"context": "Tracy went home.", "question": "Why?", "answerA": "a", "answerB": "b", "answerC": "c"}
    write(tmp_path, "socialiqa/train.jsonl", json.dumps(siqa) + "\n")
    write(tmp_path, "socialiqa/train-labels.lst", "3\n")
    assert len(load("xcopa", "train", "en", tmp_path)) == 1 and len(load("xcopa", "dev", "en", tmp_path)) == 2
    (first,) = load(registry.get("xcopa").train_first[0], "train", "en", tmp_path)
    assert first["label"] == 2 and len(first["choices"]) == 3


def test_udpos_concatenates_every_treebank_of_a_language(tmp_path, no_hub):
    line = "1\tHi\thi\tINTJ\t_\t_\t0\troot\t_\t_\n"
    write(tmp_path, "udpos/UD_English-EWT/en_ewt-ud-train.conllu", line)
    write(tmp_path, "udpos/UD_English-GUM/en_gum-ud-train.conllu", line + "\n" + line)
    write(tmp_path, "udpos/UD_Lithuanian-ALKSNIS/lt_alksnis-ud-test.conllu", line)
    assert len(load("udpos", "train", "en", tmp_path)) == 3
    assert len(load("udpos", "test", "lt", tmp_path)) == 1  # an XTREME-R language: files only


def test_bucc_test_split_carries_its_dev_corpus(tmp_path, no_hub):
    for name, n in (("sample", 2), ("training", 3)):
        write(tmp_path, f"bucc2018/de-en/de-en.{name}.de", "".join(f"de-{name}-{i}\tSatz {i}\n" for i in range(n)))
        write(tmp_path, f"bucc2018/de-en/de-en.{name}.en", "".join(f"en-{name}-{i}\tSentence {i}\n" for i in range(n + 1)))
        write(tmp_path, f"bucc2018/de-en/de-en.{name}.gold", "".join(f"de-{name}-{i}\ten-{name}-{i}\n" for i in range(n)))
    test = load("bucc2018", "test", "de", tmp_path)
    assert {r["part"] for r in test} == {"tune", "eval"}
    assert registry.get("bucc2018").format.count(test) == 3  # gold pairs of the scored corpus
    dev = load("bucc2018", "dev", "de", tmp_path)
    assert {r["part"] for r in dev} == {"tune"} and registry.get("bucc2018").format.count(dev) == 2


def test_lareqa_pools_all_languages(tmp_path, no_hub):
    langs = XTREME_R_TASK_LANGUAGES["lareqa"]
    for x in langs:
        doc = {"data": [{"title": "t", "paragraphs": [{"context": f"{x} one. {x} two.", "sentence_breaks": [[0, 7], [8, 15]],
                                                        "qas": [{"id": "q1", "question": f"{x}?", "answers": [{"text": "two", "answer_start": 11}]}]}]}]}
        write(tmp_path, f"lareqa/xquad-r/{x}.json", json.dumps(doc))
    rows = load("lareqa", "test", "de", tmp_path)
    queries = [r for r in rows if r["kind"] == "query"]
    assert [q["text"] for q in queries] == ["de?"]
    assert sorted(queries[0]["relevant"]) == sorted(f"{x}-0-0-1" for x in langs)
    assert sum(r["kind"] == "candidate" for r in rows) == 2 * len(langs)
    assert registry.get("lareqa").format.count(rows) == 1


def test_mewslix_files(tmp_path, no_hub):
    article = {"context": {"language": "de", "text": "Merkel sprach.", "sentence_spans": [[0, 14]]},
               "mentions": [{"example_id": "m1", "entity_id": "Q1", "mention_span": {"start": 0, "end": 6}}]}
    write(tmp_path, "mewslix/wikinews_mentions-test.jsonl", json.dumps(article) + "\n")
    write(tmp_path, "mewslix/candidate_set_entities.jsonl", "".join(
        json.dumps({"entity_id": f"Q{i}", "description": f"entity {i}", "description_language": "en"}) + "\n" for i in range(3)))
    rows = load("mewslix", "test", "de", tmp_path)
    assert [r["kind"] for r in rows] == ["query", "candidate", "candidate", "candidate"]
    assert rows[0]["relevant"] == ["Q1"]


def test_ccg_files_with_and_without_tag_ids(tmp_path, no_hub):
    write(tmp_path, "ccg/ccg.train", "The cat sat\tNP/N N S\\NP\nA dog\tNP/N N\n")
    write(tmp_path, "ccg/ccg.dev", "The dog\tNP/N N\nA bird\tNP/N Unseen\n")
    train, dev = load("ccg", "train", "en", tmp_path), load("ccg", "dev", "en", tmp_path)
    labels = registry.get("ccg").labels
    # Numbered by frequency in ccg.train (ties by name), so train and dev agree.
    assert train[0]["tags"] == ["1", "0", "2"] and dev[0]["tags"] == ["1", "0"]
    assert dev[1]["tags"][1] == "Unseen" and "Unseen" not in labels
    write(tmp_path, "ccg/tags_to_id.json", json.dumps({"N": 7, "NP/N": 3, "S\\NP": 5}))
    assert load("ccg", "train", "en", tmp_path)[0]["tags"] == ["3", "7", "5"]


def test_tatoeba_xtreme_r_language_from_files(tmp_path, no_hub):
    write(tmp_path, "tatoeba/tatoeba.aze-eng.aze", "Salam\n")
    write(tmp_path, "tatoeba/tatoeba.aze-eng.eng", "Hello\n")
    assert load("tatoeba", "test", "az", tmp_path) == [{"source": "Salam", "target": "Hello"}]


def test_splits_and_languages_are_checked(tmp_path):
    with pytest.raises(DataError, match="no 'train' split"):
        load("tatoeba", "train", "en", tmp_path)
    with pytest.raises(DataError, match="no 'test' split in language 'xx'"):
        load("xnli", "test", "xx", tmp_path)


# ------------------------------------------------------------------------------- hub conversions
def test_hub_conversions():
    tags = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                              "ner_tags": datasets.Sequence(datasets.ClassLabel(names=list(registry.get("panx").labels)))})
    ds = datasets.Dataset.from_dict({"tokens": [["Paris", "!"]], "ner_tags": [[5, 0]]}, features=tags)
    assert RT.hub_tags("ner_tags")(ds, "fr") == [{"tokens": ["Paris", "!"], "tags": ["B-LOC", "O"]}]
    squad = datasets.Dataset.from_dict({"id": ["english-1", "arabic-2"], "title": ["t", "t"], "context": ["c", "c"],
                                        "question": ["q", "q"], "answers": [{"text": ["c"], "answer_start": [0]}] * 2})
    assert [r["id"] for r in RT.hub_squad("english-")(squad, "en")] == ["english-1"]
    siqa = datasets.Dataset.from_dict({"context": ["c"], "question": ["q"], "answerA": ["a"], "answerB": ["b"],
                                       "answerC": ["c"], "label": ["2"]})
    assert RT.hub_socialiqa(siqa, "en")[0]["label"] == 1
    copa = datasets.Dataset.from_dict({"premise": ["p"], "choice1": ["a"], "choice2": ["b"], "question": ["cause"],
                                       "label": [1], "idx": [0]})
    assert RT.hub_copa(copa, "et") == [{"context": "p What was the cause of this?", "choices": ["a", "b"], "label": 1, "idx": 0}]
    bucc = datasets.Dataset.from_dict({"source_sentence": ["Hallo"], "target_sentence": ["Hello"]})
    rows = RT.hub_bucc(bucc, "de")
    assert [r["side"] for r in rows] == ["src", "tgt", "gold"] and rows[2]["target_id"] == rows[1]["id"]
    xqr = datasets.Dataset.from_dict({"id": ["q"], "context": ["One. Two three."], "question": ["?"],
                                      "answers": [{"text": ["Two"], "answer_start": [5]}]})
    rows = RT.hub_xquad_r(xqr, "de")
    assert [r["text"] for r in rows if r["kind"] == "candidate"] == ["One.", "Two three."]
    assert rows[-1]["relevant"] == ["de-0-1"]


# ------------------------------------------------------------------------------------ the spec
def test_phang2020_spec_is_the_papers_design():
    path = ROOT / "search_spaces" / "phang2020.yaml"
    spec = load_spec(path)
    assert spec.models[0].source.hub == "FacebookAI/xlm-roberta-large"
    assert spec.intermediate_tasks[1:] == ["anli_plus", "mnli", "qqp", "squad_v1", "squad_v2", "hellaswag",
                                           "commonsenseqa", "cosmosqa", "ccg"]
    assert {t.task for t in spec.targets} == set(XTREME_TASK_LANGUAGES)
    for target in spec.targets:  # where a language list is written out, it is XTREME's (in its order)
        if target.languages is not None:
            assert tuple(target.languages) == XTREME_TASK_LANGUAGES[target.task], target.task
    raw = yaml.safe_load(path.read_text())
    assert raw["hyperparameters"]["intermediate_lr"] == raw["hyperparameters"]["target_lr"] == 1e-5
    assert spec.models[0].max_length == 256 and spec.models[0].retrieval_layer == 14
