"""Every hub source of every real task, offline: rows with the real repository's features go through the
task's own loader (the registered `Hub` and its converter), then the task's format and metric.

The features below are those the repositories serve as parquet (their dataset cards' `dataset_info`,
which keep the old loading scripts' features): `ClassLabel` integers with -1 for unlabelled rows, string
labels, lists of `ClassLabel` for tags, SQuAD's struct of answer lists. `xstudy data check-hub` compares the
same converters with what the hub serves today (tests/study/tasks/test_hub_online.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import datasets
import pytest

from study.tasks import registry
from study.tasks.hub_schema import feature_problems
from study.tasks.readers import NLI_LABELS, PANX_TAGS, UPOS_TAGS
from study.tasks.registry import LoadContext

V, CL, L = datasets.Value, datasets.ClassLabel, datasets.List
STR = V("string")
ANSWERS = {"text": L(STR), "answer_start": L(V("int32"))}  # `sequence: [text, answer_start]` in the cards
NLI = CL(names=list(NLI_LABELS))

# (repository, configuration family) -> its features. Sources: each repository's README `dataset_info`.
FEATURES: dict[tuple[str, str | None], datasets.Features] = {
    ("nyu-mll/glue", "mnli"): datasets.Features({"premise": STR, "hypothesis": STR, "label": NLI, "idx": V("int32")}),
    ("nyu-mll/glue", "qqp"): datasets.Features({"question1": STR, "question2": STR,
                                                "label": CL(names=["not_duplicate", "duplicate"]), "idx": V("int32")}),
    ("facebook/anli", None): datasets.Features({"uid": STR, "premise": STR, "hypothesis": STR, "label": NLI, "reason": STR}),
    ("stanfordnlp/snli", None): datasets.Features({"premise": STR, "hypothesis": STR, "label": NLI}),
    ("rajpurkar/squad", None): datasets.Features({"id": STR, "title": STR, "context": STR, "question": STR, "answers": ANSWERS}),
    ("rajpurkar/squad_v2", None): datasets.Features({"id": STR, "title": STR, "context": STR, "question": STR,
                                                     "answers": ANSWERS}),
    ("Rowan/hellaswag", None): datasets.Features({
        "ind": V("int32"), "activity_label": STR, "ctx_a": STR, "ctx_b": STR, "ctx": STR, "endings": L(STR),
        "source_id": STR, "split": STR, "split_type": STR, "label": STR}),
    ("tau/commonsense_qa", None): datasets.Features({"id": STR, "question": STR, "question_concept": STR,
                                                     "choices": {"label": L(STR), "text": L(STR)}, "answerKey": STR}),
    ("lighteval/siqa", None): datasets.Features({"context": STR, "question": STR, "answerA": STR, "answerB": STR,
                                                 "answerC": STR, "label": STR}),
    ("facebook/xnli", None): datasets.Features({"premise": STR, "hypothesis": STR, "label": NLI}),
    ("google-research-datasets/paws-x", None): datasets.Features({"id": V("int32"), "sentence1": STR, "sentence2": STR,
                                                                  "label": CL(names=["0", "1"])}),
    ("google/xtreme", "udpos"): datasets.Features({"tokens": L(STR), "pos_tags": L(CL(names=list(UPOS_TAGS)))}),
    ("google/xtreme", "MLQA"): datasets.Features({"id": STR, "title": STR, "context": STR, "question": STR,
                                                  "answers": {"answer_start": L(V("int32")), "text": L(STR)}}),
    ("google/xtreme", "bucc18"): datasets.Features({"source_sentence": STR, "target_sentence": STR, "source_lang": STR,
                                                    "target_lang": STR}),
    ("google/xtreme", "tatoeba"): datasets.Features({"source_sentence": STR, "target_sentence": STR, "source_lang": STR,
                                                     "target_lang": STR}),
    ("unimelb-nlp/wikiann", None): datasets.Features({"tokens": L(STR), "ner_tags": L(CL(names=list(PANX_TAGS))),
                                                      "langs": L(STR), "spans": L(STR)}),
    ("google/xquad", None): datasets.Features({"id": STR, "context": STR, "question": STR, "answers": ANSWERS}),
    ("google-research-datasets/tydiqa", None): datasets.Features({"id": STR, "title": STR, "context": STR,
                                                                  "question": STR, "answers": ANSWERS}),
    ("cambridgeltl/xcopa", None): datasets.Features({"premise": STR, "choice1": STR, "choice2": STR, "question": STR,
                                                     "label": V("int32"), "idx": V("int32"), "changed": V("bool")}),
    # The parquet conversion (refs/convert/parquet, copa/) of aps/super_glue keeps its script's features.
    ("aps/super_glue", None): datasets.Features({"premise": STR, "choice1": STR, "choice2": STR, "question": STR,
                                                 "idx": V("int32"), "label": CL(names=["choice1", "choice2"])}),
    ("google-research-datasets/xquad_r", None): datasets.Features({"id": STR, "title": STR, "context": STR,
                                                                   "question": STR, "answers": ANSWERS}),
}


def family(path: str, name: str | None) -> str | None:
    """The configuration family whose features a hub config has: google/xtreme's and GLUE's differ per config."""
    if path == "google/xtreme":
        return name.split(".")[0]
    return name if path == "nyu-mll/glue" else None


CONTEXT = "Paris is the capital of France. It lies on the Seine."
SQUAD_ROWS = {"id": ["q1", "q2"], "title": ["Paris", "Paris"], "context": [CONTEXT, CONTEXT],
              "question": ["What is the capital of France?", "On which river does Paris lie?"],
              "answers": [{"text": ["Paris"], "answer_start": [0]}, {"text": ["the Seine", "Seine"], "answer_start": [44, 48]}]}
SQUAD_EXAMPLES = [{"id": "q1", "title": "Paris", "context": CONTEXT, "question": "What is the capital of France?",
                   "answers": {"text": ["Paris"], "answer_start": [0]}},
                  {"id": "q2", "title": "Paris", "context": CONTEXT, "question": "On which river does Paris lie?",
                   "answers": {"text": ["the Seine", "Seine"], "answer_start": [44, 48]}}]
PAIRS = {"premise": ["A man plays a guitar.", "Two kids run.", "A test pair without a label."],
         "hypothesis": ["Someone makes music.", "Nobody moves.", "Unlabelled."], "label": [0, 2, -1]}
PAIR_EXAMPLES = [{"text_a": "A man plays a guitar.", "text_b": "Someone makes music.", "label": "entailment"},
                 {"text_a": "Two kids run.", "text_b": "Nobody moves.", "label": "contradiction"}]
COPA_ROWS = {"premise": ["The man broke his toe.", "I poured water on my sleeping friend.", "Unlabelled test row."],
             "choice1": ["He dropped a hammer on his foot.", "My friend awoke.", "a"],
             "choice2": ["He got a hole in his sock.", "My friend snored.", "b"],
             "question": ["cause", "effect", "cause"], "idx": [0, 1, 2]}
COPA_EXAMPLES = [{"context": "The man broke his toe. What was the cause of this?",
                  "choices": ["He dropped a hammer on his foot.", "He got a hole in his sock."], "label": 0, "idx": 0},
                 {"context": "I poured water on my sleeping friend. What happened as a result?",
                  "choices": ["My friend awoke.", "My friend snored."], "label": 0, "idx": 1}]
PARALLEL = {"source_sentence": ["Guten Morgen. ", "Danke schön."], "target_sentence": ["Good morning.", "Thank you. "],
            "source_lang": ["de", "de"], "target_lang": ["en", "en"]}

# (repository, configuration family) -> a few rows in its columns (unlabelled rows where the repository has them).
ROWS: dict[tuple[str, str | None], dict[str, list]] = {
    ("nyu-mll/glue", "mnli"): {**PAIRS, "idx": [0, 1, 2]},
    ("nyu-mll/glue", "qqp"): {"question1": ["How do I learn Python?", "What is AI?", "Test pair?"],
                              "question2": ["What is the best way to learn Python?", "How tall is Everest?", "?"],
                              "label": [1, 0, -1], "idx": [0, 1, 2]},
    ("facebook/anli", None): {**{k: v[:2] for k, v in PAIRS.items()}, "uid": ["a", "b"], "reason": ["", ""]},
    ("stanfordnlp/snli", None): PAIRS,  # -1: no annotator consensus
    ("rajpurkar/squad", None): SQUAD_ROWS,
    ("rajpurkar/squad_v2", None): {k: v + [v[0] if k != "answers" else {"text": [], "answer_start": []}]
                                   for k, v in SQUAD_ROWS.items()},
    ("Rowan/hellaswag", None): {"ind": [4, 5], "activity_label": ["Cooking", "Test"], "ctx_a": ["She cracks an egg.", "x"],
                                "ctx_b": ["she", "y"], "ctx": ["She cracks an egg. she", "x y"],
                                "endings": [["whisks it.", "eats the shell.", "sleeps.", "drives off."], ["a", "b", "c", "d"]],
                                "source_id": ["s", "t"], "split": ["train", "test"], "split_type": ["indomain", "indomain"],
                                "label": ["0", ""]},  # "" in the unlabelled test split
    ("tau/commonsense_qa", None): {"id": ["c1", "c2"], "question": ["Where do you keep milk?", "Test question?"],
                                   "question_concept": ["milk", "x"],
                                   "choices": [{"label": list("ABCDE"), "text": ["fridge", "oven", "car", "bed", "sea"]},
                                               {"label": list("ABCDE"), "text": list("vwxyz")}],
                                   "answerKey": ["A", ""]},
    ("lighteval/siqa", None): {"context": ["Tracy lent Alex her pen."], "question": ["What will Alex want to do?"],
                               "answerA": ["keep it"], "answerB": ["write a note"], "answerC": ["sleep"], "label": ["2"]},
    ("facebook/xnli", None): {k: v[:2] for k, v in PAIRS.items()},
    ("google-research-datasets/paws-x", None): {"id": [1, 2], "sentence1": ["Er kam 1990 an.", "Sie ging."],
                                                "sentence2": ["1990 kam er an.", "Sie kam."], "label": [1, 0]},
    ("google/xtreme", "udpos"): {"tokens": [["Das", "ist", "gut", "."]],
                                 "pos_tags": [[UPOS_TAGS.index(t) for t in ("PRON", "AUX", "ADJ", "PUNCT")]]},
    ("google/xtreme", "MLQA"): SQUAD_ROWS,
    ("google/xtreme", "bucc18"): PARALLEL,
    ("google/xtreme", "tatoeba"): PARALLEL,
    ("unimelb-nlp/wikiann", None): {"tokens": [["Angela", "Merkel", "besucht", "Paris"]],
                                    "ner_tags": [[PANX_TAGS.index(t) for t in ("B-PER", "I-PER", "O", "B-LOC")]],
                                    "langs": [["de"] * 4], "spans": [["PER: Angela Merkel", "LOC: Paris"]]},
    ("google/xquad", None): {k: v for k, v in SQUAD_ROWS.items() if k != "title"},
    ("google-research-datasets/tydiqa", None): {**SQUAD_ROWS, "id": ["english-1", "swahili-2"]},
    ("cambridgeltl/xcopa", None): {**{k: v[:2] for k, v in COPA_ROWS.items()}, "label": [0, 0], "changed": [False, True]},
    ("aps/super_glue", None): {**COPA_ROWS, "label": [0, 0, -1]},  # -1 in the unlabelled test split
    ("google-research-datasets/xquad_r", None): SQUAD_ROWS,
}


@dataclass(frozen=True)
class Case:
    """A (split, language) of the task that loads the repository, and what its examples must be."""

    split: str
    lang: str
    check: Callable[[list[dict]], Any]


def equal(expected: list[dict]) -> Callable[[list[dict]], None]:
    def check(examples: list[dict]) -> None:
        assert examples == expected

    return check


def siqa(examples):
    assert examples == [{"context": "Tracy lent Alex her pen. What will Alex want to do?",
                         "choices": ["keep it", "write a note", "sleep"], "label": 1}]


def bucc(examples):
    # Tuning corpus (validation) and the scored one (test), each with its gold pairs, stripped sentences.
    assert [(e["side"], e["text"], e.get("part")) for e in examples[:3]] == [
        ("src", "Guten Morgen.", "tune"), ("tgt", "Good morning.", "tune"), ("gold", "", "tune")]
    assert sum(e["side"] == "gold" for e in examples) == 4 and {e["part"] for e in examples} == {"tune", "eval"}


def lareqa(examples):
    queries = [e for e in examples if e["kind"] == "query"]
    assert [q["text"] for q in queries] == SQUAD_ROWS["question"] and {q["lang"] for q in queries} == {"de"}
    # The answer sentence in every language is relevant: 11 languages, identical rows here.
    assert queries[1]["relevant"] == [f"{x}-0-1" for x in registry.get("lareqa").test_languages]


# (task, repository) -> the case that loads it. Every hub source of the registry needs one.
CASES: dict[tuple[str, str], Case] = {
    ("mnli", "nyu-mll/glue"): Case("dev", "en", equal(PAIR_EXAMPLES)),
    ("anli_plus", "facebook/anli"): Case("dev", "en", equal(PAIR_EXAMPLES * 3)),
    ("anli_plus", "nyu-mll/glue"): Case("train", "en", equal(PAIR_EXAMPLES * 5)),  # R1-R3 + MNLI + SNLI
    ("anli_plus", "stanfordnlp/snli"): Case("train", "en", equal(PAIR_EXAMPLES * 5)),
    ("qqp", "nyu-mll/glue"): Case("train", "en", equal([
        {"text_a": "How do I learn Python?", "text_b": "What is the best way to learn Python?", "label": "1"},
        {"text_a": "What is AI?", "text_b": "How tall is Everest?", "label": "0"}])),
    ("squad_v1", "rajpurkar/squad"): Case("train", "en", equal(SQUAD_EXAMPLES)),
    ("squad_v2", "rajpurkar/squad_v2"): Case("dev", "en", equal(SQUAD_EXAMPLES + [
        {**SQUAD_EXAMPLES[0], "answers": {"text": [], "answer_start": []}}])),
    ("hellaswag", "Rowan/hellaswag"): Case("dev", "en", equal([
        {"context": "She cracks an egg.", "choices": ["she whisks it.", "she eats the shell.", "she sleeps.", "she drives off."],
         "label": 0}])),
    ("commonsenseqa", "tau/commonsense_qa"): Case("train", "en", equal([
        {"context": "Where do you keep milk?", "choices": ["fridge", "oven", "car", "bed", "sea"], "label": 0}])),
    ("socialiqa", "lighteval/siqa"): Case("dev", "en", siqa),
    ("xnli", "facebook/xnli"): Case("test", "sw", equal(PAIR_EXAMPLES)),
    ("pawsx", "google-research-datasets/paws-x"): Case("test", "de", equal([
        {"text_a": "Er kam 1990 an.", "text_b": "1990 kam er an.", "label": "1"},
        {"text_a": "Sie ging.", "text_b": "Sie kam.", "label": "0"}])),
    ("udpos", "google/xtreme"): Case("test", "th", equal([{"tokens": ["Das", "ist", "gut", "."],
                                                            "tags": ["PRON", "AUX", "ADJ", "PUNCT"]}])),
    ("panx", "unimelb-nlp/wikiann"): Case("test", "de", equal([{"tokens": ["Angela", "Merkel", "besucht", "Paris"],
                                                                "tags": ["B-PER", "I-PER", "O", "B-LOC"]}])),
    ("xquad", "rajpurkar/squad"): Case("dev", "en", equal(SQUAD_EXAMPLES)),
    ("xquad", "google/xquad"): Case("test", "ro", equal([{**e, "title": ""} for e in SQUAD_EXAMPLES])),
    ("mlqa", "rajpurkar/squad"): Case("train", "en", equal(SQUAD_EXAMPLES)),
    ("mlqa", "google/xtreme"): Case("test", "hi", equal(SQUAD_EXAMPLES)),
    ("tydiqa", "google-research-datasets/tydiqa"): Case("test", "sw", equal([{**SQUAD_EXAMPLES[1], "id": "swahili-2"}])),
    ("bucc2018", "google/xtreme"): Case("test", "de", bucc),
    ("tatoeba", "google/xtreme"): Case("test", "de", equal([{"source": "Guten Morgen.", "target": "Good morning."},
                                                             {"source": "Danke schön.", "target": "Thank you."}])),
    ("xcopa", "aps/super_glue"): Case("train", "en", equal(COPA_EXAMPLES)),
    ("xcopa", "cambridgeltl/xcopa"): Case("test", "qu", equal(COPA_EXAMPLES)),
    ("lareqa", "google-research-datasets/xquad_r"): Case("test", "de", lareqa),
}


def hub_sources() -> dict[tuple[str, str], list]:
    """(task, repository) -> every Hub entry of the registry that reads it."""
    out: dict[tuple[str, str], list] = {}
    for task in registry.all_tasks():
        refs = getattr(task.loader, "hub_refs", None)
        for hubs in (refs() if refs else {}).values():
            for hub in hubs:
                out.setdefault((task.name, hub.path), []).append(hub)
    return out


def test_every_hub_source_has_a_converter_test():
    sources = hub_sources()
    missing = sorted(set(sources) - set(CASES))
    assert not missing, f"hub sources without a converter test in CASES: {missing}"
    assert not set(CASES) - set(sources), "a case for a hub source the registry no longer has"
    for (task, path), hubs in sources.items():
        # One converter per source: a different converter (another column set) needs its own case.
        assert len({repr(sorted(h.convert.columns.items())) for h in hubs}) == 1, (task, path)
        for hub in hubs:
            assert (path, family(path, hub.name)) in FEATURES, (task, path, hub.name)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from study.synthetic.pretraining import TINY_SIZES, ensure_tokenizer

    return AutoTokenizer.from_pretrained(str(ensure_tokenizer(TINY_SIZES["tiny"])))


def perfect(fmt: str, gold: list) -> list:
    """Predictions that match the gold exactly, in the shape the format predicts."""
    return [(answers or [""])[0] for answers in gold] if fmt == "span_qa" else list(gold)  # "": no answer


@pytest.mark.parametrize("key", sorted(CASES), ids=["-".join(k) for k in sorted(CASES)])
def test_hub_rows_through_loader_format_and_metric(key, tokenizer, monkeypatch):
    task_name, path = key
    case = CASES[key]
    task = registry.get(task_name)
    calls = []

    def serve(repo, split=None, name=None, revision=None, data_dir=None):
        calls.append((repo, name, split, revision, data_dir))
        source = (repo, family(repo, name))
        return datasets.Dataset.from_dict(ROWS[source], features=FEATURES[source])

    monkeypatch.delenv("XSTUDY_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", serve)
    hubs = [h for h in task.loader.hub_refs()[(case.split, case.lang)]]
    assert path in {h.path for h in hubs}
    for hub in hubs:  # the converter's declared columns agree with the real features
        assert feature_problems(FEATURES[(hub.path, family(hub.path, hub.name))], hub.convert, task.labels) == []

    examples = task.load(case.split, case.lang, LoadContext())
    assert calls == [(h.path, h.name, h.split, h.revision, h.data_dir) for h in hubs]  # revision and data_dir passed on
    case.check(examples)

    features = task.format.features(examples, tokenizer, 64, task, train=case.split == "train")
    assert features["input_ids"] and all(len(ids) <= 64 for ids in features["input_ids"] if ids and isinstance(ids[0], int))
    gold = task.format.gold(examples, task)
    assert task.format.count(examples) == len(gold) > 0
    assert task.score(gold, perfect(task.format_name, gold), case.lang)["score"] == pytest.approx(100.0)
