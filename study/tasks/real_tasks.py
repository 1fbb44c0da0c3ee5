"""Kept as one module: the catalogue of real tasks, one entry and one plan per dataset over shared hub converters
and part helpers; it is data, with no logic to split off.

Registry entries for the real tasks: the study's English intermediate tasks and the XTREME / XTREME-R targets.

Each entry names its format, metric, labels and languages, its display name and (for the XTREME / XTREME-R
targets) the official metric keys of its score, and its loader is a `DataSource` that holds both ways to get
the data (see `sources.py` for the precedence): release files under a data directory, searched by their
release names below the dataset's folder, and the hub id / config / split.

Splits are "train" and "dev" (English, for fine-tuning and model selection) and "test" (each evaluation
language); a few datasets also release dev sets in other languages, which are listed too.

Decisions worth knowing (also in each task's description):
- One task per dataset, with the XTREME-R languages where XTREME-R extends a task (udpos, panx, xquad,
  tatoeba): they include all of XTREME's. A spec chooses languages with a target's `languages:`; the
  official scorer reads only the languages of the benchmark it is asked for.
- XNLI trains on MNLI; XQuAD and MLQA train on SQuAD v1.1 (XQuAD selects on SQuAD v1.1 dev, MLQA on its
  own English dev); TyDiQA-GoldP trains on the English part of its train file and, having no separate
  dev set, selects on the English part of its dev file, which XTREME uses as the test set.
- XCOPA: XTREME-R trains on SocialIQA, then on English COPA. Here `xcopa`'s own training data is COPA
  (train, 400 questions; dev: COPA's 100 validation questions) and `train_first=("socialiqa",)` tells the
  trial to fine-tune on SocialIQA first with the same multiple-choice head.
- ANLI+ is one NLI head over ANLI R1-R3 + MNLI + SNLI training data, concatenated, so that a uniformly
  shuffled stream samples each dataset in proportion to its size; its dev set is ANLI R1-R3 dev.
- BUCC, Tatoeba, LAReQA and Mewsli-X are scored without training (mean-pooled layer, see the formats).
- CCG supertags come from local files only (CCGbank is licensed), in jiant's format, with jiant's 1,363
  classes numbered by its `tags_to_id.json`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from study.tasks import readers as R
from study.tasks.bitext_mining import BitextMining
from study.tasks.hub_schema import ABSENT, ANSWERS, CLASS_LABEL, INT, STRING, HubConverter, class_names, list_of, reads
from study.tasks.languages import LANGUAGES, TATOEBA_CODES, XTREME_R_TASK_LANGUAGES, XTREME_TASK_LANGUAGES
from study.tasks.ranking import Ranking
from study.tasks.registry import QA_SCORE_KEYS, Task
from study.tasks.sources import SCRIPT_ONLY, DataSource, Hub, Local, Part

FORMATS = (Ranking(), BitextMining())  # formats only real tasks use; registered by study.tasks


INTERMEDIATE = frozenset({"intermediate"})
TARGET = frozenset({"target"})
EN = ("en",)
CCG_CLASSES = 1363  # jiant's CCG task: tags_to_id.json numbers 1,363 supertags


def _langs(task: str) -> tuple[str, ...]:
    """A target's languages: XTREME-R's list where it has the task (a superset of XTREME's), else XTREME's."""
    return XTREME_R_TASK_LANGUAGES.get(task) or XTREME_TASK_LANGUAGES[task]


# --------------------------------------------------------------------------------------- readers
def one(read: Callable[..., list[dict]], *args: Any, **kwargs: Any) -> Callable[[list[Path], str], list[dict]]:
    """A single-file reader as a source reader: read(file, *args)."""
    return lambda files, lang: read(files[0], *args, **kwargs)


def every(read: Callable[..., list[dict]], *args: Any) -> Callable[[list[Path], str], list[dict]]:
    """Several files (UD treebanks of one language) read and concatenated in path order."""
    return lambda files, lang: [ex for f in files for ex in read(f, *args)]


def _siblings(*suffixes: str) -> Callable[[Path], list[Path]]:
    return lambda path: [path.with_name(path.name.rsplit(".", 1)[0] + s) for s in suffixes]


# ------------------------------------------------------------------------------ hub conversions
# Each converter declares the columns it reads (study.tasks.hub_schema): the converter tests build rows with
# the real repositories' features, and `xstudy data check-hub` compares them with what the hub serves.
def _class_names(ds: Any, column: str) -> list[str]:
    return class_names(ds.features[column])


def hub_nli(a: str = "premise", b: str = "hypothesis") -> HubConverter:
    def convert(ds: Any, lang: str) -> list[dict]:
        names = _class_names(ds, "label")
        # -1 marks pairs without a gold label (SNLI without consensus, GLUE test sets).
        return [{"text_a": r[a], "text_b": r[b], "label": names[r["label"]]} for r in ds if r["label"] >= 0]

    return HubConverter(convert, {a: STRING, b: STRING, "label": CLASS_LABEL}, named_labels=("label",))


def hub_binary_pairs(a: str, b: str) -> HubConverter:
    # QQP and PAWS-X labels are the strings "0"/"1" of their release files: the class index, whatever its name
    # (GLUE names QQP's classes not_duplicate / duplicate).
    def convert(ds: Any, lang: str) -> list[dict]:
        return [{"text_a": r[a], "text_b": r[b], "label": str(r["label"])} for r in ds if r["label"] >= 0]

    return HubConverter(convert, {a: STRING, b: STRING, "label": (CLASS_LABEL, INT)})


def hub_squad(prefix: str | None = None) -> HubConverter:
    def convert(ds: Any, lang: str) -> list[dict]:
        return [{"id": r["id"], "title": r.get("title") or "", "context": r["context"], "question": r["question"],
                 "answers": {"text": list(r["answers"]["text"]), "answer_start": list(r["answers"]["answer_start"])}}
                for r in ds if prefix is None or r["id"].startswith(prefix)]

    return HubConverter(convert, {"id": STRING, "title": (STRING, ABSENT), "context": STRING, "question": STRING,
                                  "answers": ANSWERS})


def hub_tags(column: str) -> HubConverter:
    def convert(ds: Any, lang: str) -> list[dict]:
        names = _class_names(ds, column)
        return [{"tokens": list(r["tokens"]), "tags": [names[t] for t in r[column]]} for r in ds]

    return HubConverter(convert, {"tokens": list_of(STRING), column: list_of(CLASS_LABEL)}, named_labels=(column,))


@reads(premise=STRING, choice1=STRING, choice2=STRING, question=STRING, label=(CLASS_LABEL, INT), idx=(INT, ABSENT))
def hub_copa(ds: Any, lang: str) -> list[dict]:
    # SuperGLUE's COPA labels are ClassLabel(choice1, choice2), -1 in its unlabelled test split; XCOPA's are ints.
    return [{"context": f"{r['premise']} {R.COPA_QUESTIONS[r['question']]}", "choices": [r["choice1"], r["choice2"]],
             "label": int(r["label"]), "idx": int(r.get("idx", i))} for i, r in enumerate(ds) if r["label"] >= 0]


@reads(ctx_a=STRING, ctx_b=STRING, endings=list_of(STRING), label=(STRING, INT))
def hub_hellaswag(ds: Any, lang: str) -> list[dict]:
    # The label is the ending's index as a string, "" in the unlabelled test split.
    return [{"context": r["ctx_a"], "choices": [f"{r['ctx_b']} {e}".strip() for e in r["endings"]], "label": int(r["label"])}
            for r in ds if str(r["label"]).strip()]


@reads(question=STRING, choices={"label": list_of(STRING), "text": list_of(STRING)}, answerKey=STRING)
def hub_commonsenseqa(ds: Any, lang: str) -> list[dict]:
    # answerKey is a choice's letter, "" in the unlabelled test split.
    return [{"context": r["question"], "choices": list(r["choices"]["text"]),
             "label": list(r["choices"]["label"]).index(r["answerKey"])} for r in ds if r["answerKey"]]


@reads(context=STRING, question=STRING, answerA=STRING, answerB=STRING, answerC=STRING, label=(STRING, INT))
def hub_socialiqa(ds: Any, lang: str) -> list[dict]:
    # The label is the right answer's number, 1 to 3, as a string.
    return [{"context": f"{r['context']} {r['question']}", "choices": [r["answerA"], r["answerB"], r["answerC"]],
             "label": int(r["label"]) - 1} for r in ds]


@reads(source_sentence=STRING, target_sentence=STRING)
def hub_tatoeba(ds: Any, lang: str) -> list[dict]:
    return [{"source": r["source_sentence"].strip(), "target": r["target_sentence"].strip()} for r in ds]


@reads(source_sentence=STRING, target_sentence=STRING)
def hub_bucc(ds: Any, lang: str) -> list[dict]:
    """The hub copy of BUCC holds only the gold pairs, not the full corpora, so mining on it is easier
    than the official task; use the release files for comparable numbers."""
    rows: list[dict] = []
    for i, r in enumerate(ds):
        src_id, tgt_id = f"{lang}-{i:09d}", f"en-{i:09d}"
        rows.append({"side": "src", "id": src_id, "text": r["source_sentence"].strip(), "target_id": ""})
        rows.append({"side": "tgt", "id": tgt_id, "text": r["target_sentence"].strip(), "target_id": ""})
        rows.append({"side": "gold", "id": src_id, "text": "", "target_id": tgt_id})
    return rows


@reads(id=STRING, context=STRING, question=STRING, answers=ANSWERS)
def hub_xquad_r(ds: Any, lang: str) -> list[dict]:
    """XQuAD-R rows on the hub come without sentence breaks; contexts are split at sentence-final punctuation."""
    contexts: dict[str, int] = {}
    rows: list[dict] = []
    for r in ds:
        if r["context"] not in contexts:
            p = contexts[r["context"]] = len(contexts)
            for s, (start, end) in enumerate(R.sentence_spans(r["context"])):
                rows.append({"kind": "candidate", "id": f"{lang}-{p}-{s}", "text": r["context"][start:end].strip(),
                             "lang": lang, "relevant": []})
        spans = R.sentence_spans(r["context"])
        start = r["answers"]["answer_start"][0]
        s = next((i for i, (a, b) in enumerate(spans) if a <= start < b), len(spans) - 1)
        rows.append({"kind": "query", "id": r["id"], "text": r["question"], "lang": lang,
                     "relevant": [f"{lang}-{contexts[r['context']]}-{s}"]})
    return rows


# ------------------------------------------------------------------------------- dataset parts
MNLI_DIRS = ("mnli", "MNLI", "glue/MNLI")
ANLI_DIRS = ("anli", "ANLI", "anli_v1.0")
SQUAD1_DIRS = ("squad", "SQuAD", "squad_v1", "squad1.1")
SQUAD2_DIRS = ("squad_v2", "squad2.0", "squad", "SQuAD")
XNLI_DIRS = ("xnli", "XNLI", "XNLI-1.0", "XNLI-MT-1.0")
COPA_DIRS = ("copa", "COPA")
SOCIALIQA_DIRS = ("socialiqa", "social_i_qa", "socialiqa-train-dev")
SQUAD_HUB_SPLIT = {"train": "train", "dev": "validation"}
COSMOSQA_NO_HUB = (f"'allenai/cosmos_qa' on the hub is a dataset loading script, which datasets>=4 no longer runs; "
                   f"use {SCRIPT_ONLY['allenai/cosmos_qa']}")
# UD 2.5 treebanks without a dev file: Kazakh KTB (train and test), Thai PUD, Tagalog TRG and Yoruba YTB (test
# only); google/xtreme's udpos configs of these languages have the same splits.
UDPOS_NO_DEV = ("kk", "th", "tl", "yo")


def mnli_part(split: str) -> Part:
    file = {"train": "train.tsv", "dev": "dev_matched.tsv"}[split]
    hub = Hub("nyu-mll/glue", "mnli", {"train": "train", "dev": "validation_matched"}[split], hub_nli())
    return Part((Local(MNLI_DIRS, file, one(R.read_glue_mnli_tsv)),), hub, "en")


def anli_part(round_: int, split: str) -> Part:
    local = [Local(ANLI_DIRS, f"R{round_}/{split}.jsonl", one(R.read_anli_jsonl))]
    if split == "dev":
        local.append(Local(ANLI_DIRS, f"ANLI_analysis_r{round_}_dev.csv", one(R.read_anli_csv)))
    return Part(tuple(local), Hub("facebook/anli", None, f"{split}_r{round_}", hub_nli()), "en")


def snli_part(split: str) -> Part:
    file = {"train": "snli_1.0_train.jsonl", "dev": "snli_1.0_dev.jsonl"}[split]
    return Part((Local(("snli", "SNLI", "snli_1.0"), file, one(R.read_snli_jsonl)),),
                Hub("stanfordnlp/snli", None, SQUAD_HUB_SPLIT[split], hub_nli()), "en")


def squad_part(version: int, split: str) -> Part:
    v = "1.1" if version == 1 else "2.0"
    file = f"{'train' if split == 'train' else 'dev'}-v{v}.json"
    dirs = SQUAD1_DIRS if version == 1 else SQUAD2_DIRS
    hub = Hub("rajpurkar/squad" if version == 1 else "rajpurkar/squad_v2", None, SQUAD_HUB_SPLIT[split], hub_squad())
    return Part((Local(dirs, file, one(R.read_squad_json, allow_no_answer=version == 2)),), hub, "en")


def socialiqa_part(split: str) -> Part:
    local = Local(SOCIALIQA_DIRS, f"{split}.jsonl", one(R.read_socialiqa), companions=_siblings("-labels.lst"))
    # allenai/social_i_qa is a loading script; lighteval/siqa holds the same rows as parquet.
    return Part((local,), Hub("lighteval/siqa", None, SQUAD_HUB_SPLIT[split], hub_socialiqa), "en")


def copa_part(split: str) -> Part:
    file = {"train": "train.jsonl", "dev": "val.jsonl"}[split]
    # aps/super_glue keeps its loading script on the main branch; the hub's parquet conversion of it holds
    # COPA under copa/{train,validation,test}/, with the script's features (label: ClassLabel choice1/choice2).
    hub = Hub("aps/super_glue", None, SQUAD_HUB_SPLIT[split], hub_copa, revision="refs/convert/parquet", data_dir="copa")
    return Part((Local(COPA_DIRS, file, one(R.read_copa_jsonl)),), hub, "en")


def _ccg_read(files: list[Path], lang: str) -> list[dict]:
    """jiant's CCG files; supertag ids from `tags_to_id.json` beside them, else numbered by frequency in
    `ccg.train` (most frequent first), so that train and dev agree."""
    folder = files[0].parent
    tag_files = sorted(folder.glob("*tags_to_id.json"))
    if tag_files:
        ids = R.ccg_tag_ids(tag_files[0])
        bad = [t for t, i in ids.items() if not 0 <= int(i) < CCG_CLASSES]
        if bad:
            raise R.DataError(f"supertag ids outside 0..{CCG_CLASSES - 1} (first: {bad[0]!r})", path=tag_files[0],
                              expected=f"at most {CCG_CLASSES} supertag classes, as jiant's CCG task")
    else:
        train = folder / "ccg.train"
        counts = Counter(tag for ex in R.read_ccg(train, {}) for tag in ex["tags"])
        ranked = sorted(counts, key=lambda t: (-counts[t], t))[:CCG_CLASSES]
        ids = {tag: str(i) for i, tag in enumerate(ranked)}
    return R.read_ccg(files[0], ids)


def lareqa_pool(loaded: list[list[dict]], split: str, lang: str) -> list[dict]:
    """LAReQA's language-agnostic setting: the queries of one language against the candidate sentences of
    all 11; a question's relevant candidates are its answer sentence in every language."""
    rows = [r for part in loaded for r in part]
    answers: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        if r["kind"] == "query":
            answers[r["id"]].extend(r["relevant"])
    return [{**r, "relevant": answers[r["id"]]} for r in rows if r["kind"] == "query" and r["lang"] == lang] + [
        r for r in rows if r["kind"] == "candidate"]


# ----------------------------------------------------------------------------------------- tasks
TASKS: list[Task] = []  # in registration order (a task's train_data before it); registered by study.tasks


def _task(name: str, fmt: str, metric: str, roles: frozenset[str], splits: dict[str, Sequence[str]],
          plan: Callable[[str, str], list[Part]], description: str, *, labels: Sequence[str] = (),
          test: Sequence[str] = (), combine=None, **extra: Any) -> Task:
    source = DataSource(name, splits, plan, combine)
    task = Task(name=name, format_name=fmt, metric=metric, roles=roles, test_languages=tuple(test),
                loader=source, labels=tuple(labels), description=description, splits=source.splits, **extra)
    TASKS.append(task)
    return task


TRAIN_DEV = {"train": EN, "dev": EN}

# ---- intermediate tasks (English)
_task("mnli", "classification", "accuracy", INTERMEDIATE, TRAIN_DEV, lambda s, l: [mnli_part(s)],
      "MNLI (GLUE): premise/hypothesis entailment; dev = dev_matched. Hub nyu-mll/glue mnli; files MNLI/*.tsv.",
      labels=R.NLI_LABELS,
      display_name="MNLI")

_task("anli_plus", "classification", "accuracy", INTERMEDIATE, TRAIN_DEV,
      lambda s, l: [anli_part(r, s) for r in (1, 2, 3)] + ([mnli_part("train"), snli_part("train")] if s == "train" else []),
      "ANLI+: ANLI R1-R3 + MNLI + SNLI training data under one NLI head (concatenated: proportional sampling); "
      "dev = ANLI R1-R3 dev. Hub facebook/anli, nyu-mll/glue mnli, stanfordnlp/snli; files anli/R*/{train,dev}.jsonl "
      "(or ANLI_analysis_r*_dev.csv), MNLI/train.tsv, snli_1.0_train.jsonl.",
      labels=R.NLI_LABELS,
      display_name="ANLI+")

_task("qqp", "classification", "accuracy", INTERMEDIATE, TRAIN_DEV,
      lambda s, l: [Part((Local(("qqp", "QQP", "glue/QQP"), {"train": "train.tsv", "dev": "dev.tsv"}[s], one(R.read_glue_qqp_tsv)),),
                         Hub("nyu-mll/glue", "qqp", SQUAD_HUB_SPLIT[s], hub_binary_pairs("question1", "question2")), "en")],
      "QQP (GLUE): are two Quora questions duplicates (1) or not (0). Hub nyu-mll/glue qqp; files QQP/*.tsv.",
      labels=("0", "1"),
      display_name="QQP")

_task("squad_v1", "span_qa", "squad", INTERMEDIATE, TRAIN_DEV, lambda s, l: [squad_part(1, s)],
      "SQuAD v1.1 extractive QA. Hub rajpurkar/squad; files {train,dev}-v1.1.json.",
      display_name="SQuAD v1.1")

_task("squad_v2", "span_qa", "squad_v2", INTERMEDIATE, TRAIN_DEV, lambda s, l: [squad_part(2, s)],
      "SQuAD v2.0: extractive QA with unanswerable questions. Hub rajpurkar/squad_v2; files {train,dev}-v2.0.json.",
      allow_no_answer=True,
      display_name="SQuAD v2.0")

_task("hellaswag", "multiple_choice", "accuracy", INTERMEDIATE, TRAIN_DEV,
      lambda s, l: [Part((Local(("hellaswag", "HellaSwag"), f"hellaswag_{'train' if s == 'train' else 'val'}.jsonl",
                                one(R.read_hellaswag_jsonl)),),
                         Hub("Rowan/hellaswag", None, SQUAD_HUB_SPLIT[s], hub_hellaswag), "en")],
      "HellaSwag: pick the ending (4) of an activity description; dev = val. Hub Rowan/hellaswag; files "
      "hellaswag_{train,val}.jsonl.",
      display_name="HellaSwag")

_task("commonsenseqa", "multiple_choice", "accuracy", INTERMEDIATE, TRAIN_DEV,
      lambda s, l: [Part((Local(("commonsenseqa", "commonsense_qa", "CommonsenseQA"), f"{s}_rand_split.jsonl",
                                one(R.read_commonsenseqa_jsonl)),),
                         Hub("tau/commonsense_qa", None, SQUAD_HUB_SPLIT[s], hub_commonsenseqa), "en")],
      "CommonsenseQA: 5-way commonsense questions. Hub tau/commonsense_qa; files {train,dev}_rand_split.jsonl.",
      display_name="CommonsenseQA")

_task("cosmosqa", "multiple_choice", "accuracy", INTERMEDIATE, TRAIN_DEV,
      lambda s, l: [Part((Local(("cosmosqa", "cosmos_qa", "CosmosQA"), {"train": "train.csv", "dev": "valid.csv"}[s],
                                one(R.read_cosmosqa_csv)),), None, "en", no_hub=COSMOSQA_NO_HUB)],
      "Cosmos QA: 4-way reading comprehension needing commonsense; dev = valid. Files only: train.csv and "
      "valid.csv (allenai/cosmos_qa on the hub is a loading script, which datasets>=4 no longer runs).",
      display_name="Cosmos QA")

_task("socialiqa", "multiple_choice", "accuracy", INTERMEDIATE, TRAIN_DEV, lambda s, l: [socialiqa_part(s)],
      "SocialIQA: 3-way questions about social situations (also XCOPA's first training stage). Hub "
      "lighteval/siqa; files {train,dev}.jsonl with {train,dev}-labels.lst.",
      display_name="SocialIQA")

_task("ccg", "tagging", "token_accuracy", INTERMEDIATE, TRAIN_DEV,
      lambda s, l: [Part((Local(("ccg", "CCG"), f"ccg.{s}", _ccg_read,
                                companions=lambda p: sorted(p.parent.glob("*tags_to_id.json")) + [p.parent / "ccg.train"]),),
                         None, "en")],
      "CCG supertagging (CCGbank, licensed: local files only), jiant's format: ccg.{train,dev} lines "
      "'words<TAB>tags' and tags_to_id.json; scored by token accuracy.",
      labels=tuple(str(i) for i in range(CCG_CLASSES)),
      display_name="CCG")


# ---- XTREME / XTREME-R targets
def xnli_plan(split: str, lang: str) -> list[Part]:
    if split == "train":
        # XNLI trains on MNLI: XNLI-MT's English copy, else GLUE's MNLI files, else the hub's.
        local = (Local(XNLI_DIRS, "multinli.train.en.tsv", one(R.read_xnli_mt_tsv)),) + mnli_part("train").local
        return [Part(local, Hub("facebook/xnli", "en", "train", hub_nli()), "en")]
    file = f"xnli.{split}.tsv"
    return [Part((Local(XNLI_DIRS, file, lambda files, lg: R.read_xnli_tsv(files[0], lg)),),
                 Hub("facebook/xnli", lang, SQUAD_HUB_SPLIT.get(split, split), hub_nli()), lang)]


_task("xnli", "classification", "accuracy", TARGET,
      {"train": EN, "dev": _langs("xnli"), "test": _langs("xnli")}, xnli_plan,
      "XNLI: NLI in 15 languages, trained on MNLI. Hub facebook/xnli; files XNLI-1.0/xnli.{dev,test}.tsv and "
      "XNLI-MT-1.0/multinli/multinli.train.en.tsv (or MNLI/train.tsv).",
      labels=R.NLI_LABELS, test=_langs("xnli"),
      display_name="XNLI", score_keys=("accuracy",))


def pawsx_plan(split: str, lang: str) -> list[Part]:
    file = {"train": "train.tsv", "dev": "dev_2k.tsv", "test": "test_2k.tsv"}[split]
    return [Part((Local(("pawsx", "paws-x", "PAWS-X", "x-final"), f"{lang}/{file}", one(R.read_pawsx_tsv)),),
                 Hub("google-research-datasets/paws-x", lang, SQUAD_HUB_SPLIT.get(split, split),
                     hub_binary_pairs("sentence1", "sentence2")), lang)]


_task("pawsx", "classification", "accuracy", TARGET,
      {"train": EN, "dev": _langs("pawsx"), "test": _langs("pawsx")}, pawsx_plan,
      "PAWS-X: paraphrase (1) or not (0), trained on English PAWS. Hub google-research-datasets/paws-x; files "
      "x-final/LANG/{train,dev_2k,test_2k}.tsv.",
      labels=("0", "1"), test=_langs("pawsx"),
      display_name="PAWS-X", score_keys=("accuracy",))


def udpos_plan(split: str, lang: str) -> list[Part]:
    # XTREME's hub copy covers its own 33 languages; the 5 XTREME-R additions (UD 2.7) come from files.
    hub = None
    if lang in XTREME_TASK_LANGUAGES["udpos"]:
        hub = Hub("google/xtreme", f"udpos.{LANGUAGES[lang].name}", SQUAD_HUB_SPLIT.get(split, split), hub_tags("pos_tags"))
    local = Local(("udpos", "ud", "ud-treebanks-v2.5", "ud-treebanks-v2.7", "universal_dependencies"),
                  f"{lang}_*-ud-{split}.conllu", every(R.read_conllu), many=True)
    return [Part((local,), hub, lang)]


_task("udpos", "tagging", "seqeval_f1", TARGET,
      {"train": EN, "dev": tuple(x for x in _langs("udpos") if x not in UDPOS_NO_DEV), "test": _langs("udpos")},
      udpos_plan,
      "UD-POS: UPOS tags (UD 2.5, + UD 2.7 for XTREME-R's lt pl uk wo ro), every treebank of a language "
      "concatenated as XTREME does; trained on English. Hub google/xtreme udpos.LANGUAGE (XTREME's 33); files "
      "LANG_*-ud-{train,dev,test}.conllu; kk, th, tl and yo have no dev split (test-only treebanks, and kk's "
      "train and test). Scored with seqeval F1 like the official scorer.",
      labels=R.UPOS_TAGS, test=_langs("udpos"),
      display_name="UD-POS", score_keys=("f1",))


def panx_plan(split: str, lang: str) -> list[Part]:
    dirs = ("panx", "PAN-X", "panx_dataset", "wikiann", "panx_*")
    archive = Local(dirs, f"{lang}.tar.gz", lambda files, lg: R.read_panx(files[0], split, lg), dirs=True)
    plain = Local(dirs, f"{lang}/{split}", lambda files, lg: R.read_panx(files[0], split, lg))
    return [Part((archive, plain), Hub("unimelb-nlp/wikiann", lang, SQUAD_HUB_SPLIT.get(split, split), hub_tags("ner_tags")), lang)]


_task("panx", "tagging", "seqeval_f1", TARGET, {"train": EN, "dev": _langs("panx"), "test": _langs("panx")},
      panx_plan,
      "PAN-X / WikiANN NER (PER, ORG, LOC in IOB2), trained on English. Hub unimelb-nlp/wikiann; files "
      "LANG.tar.gz (members train, dev, test) or LANG/{train,dev,test}.",
      labels=R.PANX_TAGS, test=_langs("panx"),
      display_name="WikiANN-NER", score_keys=("f1",))


def xquad_plan(split: str, lang: str) -> list[Part]:
    if split != "test":
        return [squad_part(1, split)]
    return [Part((Local(("xquad", "XQuAD"), f"xquad.{lang}.json", one(R.read_squad_json)),),
                 Hub("google/xquad", f"xquad.{lang}", "validation", hub_squad()), lang)]


_task("xquad", "span_qa", "squad", TARGET, {"train": EN, "dev": EN, "test": _langs("xquad")}, xquad_plan,
      "XQuAD: SQuAD v1.1 dev translated into 11 languages (+ ro in XTREME-R); trained and selected on SQuAD "
      "v1.1. Hub google/xquad xquad.LANG; files xquad.LANG.json.",
      test=_langs("xquad"), train_data="squad_v1",
      display_name="XQuAD", score_keys=QA_SCORE_KEYS)


def mlqa_plan(split: str, lang: str) -> list[Part]:
    if split == "train":
        return [squad_part(1, "train")]
    return [Part((Local(("mlqa", "MLQA", "MLQA_V1"), f"{split}-context-{lang}-question-{lang}.json", one(R.read_squad_json)),),
                 Hub("google/xtreme", f"MLQA.{lang}.{lang}", SQUAD_HUB_SPLIT.get(split, split), hub_squad()), lang)]


_task("mlqa", "span_qa", "mlqa", TARGET, {"train": EN, "dev": _langs("mlqa"), "test": _langs("mlqa")}, mlqa_plan,
      "MLQA: extractive QA, context and question in the same language; trained on SQuAD v1.1, selected on "
      "MLQA's English dev; MLQA's language-aware answer normalisation. Hub google/xtreme MLQA.LANG.LANG; files "
      "MLQA_V1/{dev,test}/{dev,test}-context-LANG-question-LANG.json.",
      test=_langs("mlqa"), train_data="squad_v1",
      display_name="MLQA", score_keys=QA_SCORE_KEYS)


def tydiqa_plan(split: str, lang: str) -> list[Part]:
    # TyDiQA-GoldP's ids start with the language's English name ("finnish-..."); one file holds all languages.
    prefix = f"{LANGUAGES[lang].name.lower()}-"
    release = "train" if split == "train" else "dev"
    keep = lambda qid: qid.startswith(prefix)  # noqa: E731
    return [Part((Local(("tydiqa", "tydiqa_goldp", "tydiqa-goldp", "TyDiQA"), f"tydiqa-goldp-v1.1-{release}.json",
                        one(R.read_squad_json, keep=keep)),),
                 Hub("google-research-datasets/tydiqa", "secondary_task", SQUAD_HUB_SPLIT[release], hub_squad(prefix)), lang)]


_task("tydiqa", "span_qa", "squad", TARGET, {"train": EN, "dev": EN, "test": _langs("tydiqa")}, tydiqa_plan,
      "TyDiQA-GoldP: gold-passage QA; trained on the English part of the train file; test = the GoldP dev file "
      "per language (as XTREME), dev = its English part. Hub google-research-datasets/tydiqa secondary_task; "
      "files tydiqa-goldp-v1.1-{train,dev}.json.",
      test=_langs("tydiqa"),
      display_name="TyDiQA-GoldP", score_keys=QA_SCORE_KEYS)


def bucc_plan(split: str, lang: str) -> list[Part]:
    dirs = ("bucc2018", "bucc", "BUCC")

    def part(release: str, prepared: str, hub_split: str, role: str) -> Part:
        companions = _siblings(".en", ".gold")
        local = tuple(Local(dirs, f"{lang}-en.{name}.{lang}", lambda files, lg: R.read_bucc(files[0], lg), companions=companions)
                      for name in (release, prepared))
        return Part(local, Hub("google/xtreme", f"bucc18.{lang}", hub_split, hub_bucc), lang, (("part", role),))

    tune = part("sample", "dev", "validation", "tune")
    return [tune] if split == "dev" else [tune, part("training", "test", "test", "eval")]


_task("bucc2018", "bitext_mining", "bucc_f1", TARGET, {"dev": _langs("bucc2018"), "test": _langs("bucc2018")},
      bucc_plan,
      "BUCC 2018: mine translation pairs (xx-en) by margin scoring, threshold tuned on the 'sample' corpus (dev), "
      "scored on the 'training' corpus (XTREME's test). No training. Files LANG-en.{sample,training}.{LANG,en,gold} "
      "(or XTREME's LANG-en.{dev,test}.*); hub google/xtreme bucc18.LANG holds only the gold pairs.",
      test=_langs("bucc2018"),
      display_name="BUCC", score_keys=("f1",))


def tatoeba_plan(split: str, lang: str) -> list[Part]:
    code = TATOEBA_CODES[lang]
    hub = Hub("google/xtreme", f"tatoeba.{code}", "validation", hub_tatoeba) if lang in XTREME_TASK_LANGUAGES["tatoeba"] else None
    read = lambda files, lg: R.read_tatoeba(files[0], files[0].with_name(f"tatoeba.{code}-eng.eng"))  # noqa: E731
    local = Local(("tatoeba", "Tatoeba"), f"tatoeba.{code}-eng.{code}", read,
                  companions=lambda p: [p.with_name(f"tatoeba.{code}-eng.eng")])
    return [Part((local,), hub, lang)]


_task("tatoeba", "retrieval", "retrieval_accuracy", TARGET, {"test": _langs("tatoeba")}, tatoeba_plan,
      "Tatoeba (LASER): for each xx sentence, is its nearest English sentence its translation (top-1 accuracy). "
      "No training. Files tatoeba.XXX-eng.{XXX,eng} (ISO 639-3); hub google/xtreme tatoeba.XXX (XTREME's 36).",
      test=_langs("tatoeba"),
      display_name="Tatoeba", score_keys=("accuracy",))


def xcopa_plan(split: str, lang: str) -> list[Part]:
    if lang == "en":
        return [copa_part(split)]
    file = {"dev": f"val.{lang}.jsonl", "test": f"test.{lang}.jsonl"}[split]
    return [Part((Local(("xcopa", "XCOPA"), file, one(R.read_copa_jsonl)),),
                 Hub("cambridgeltl/xcopa", lang, SQUAD_HUB_SPLIT.get(split, split), hub_copa), lang)]


_task("xcopa", "multiple_choice", "accuracy", TARGET,
      {"train": EN, "dev": EN + _langs("xcopa"), "test": _langs("xcopa")}, xcopa_plan,
      "XCOPA: causal commonsense (2 choices) in 11 languages. English training as XTREME-R: SocialIQA first "
      "(train_first), then COPA (this task's train; dev = COPA validation). Hub cambridgeltl/xcopa and "
      "aps/super_glue's parquet conversion (revision refs/convert/parquet, data_dir copa); files "
      "xcopa/LANG/{val,test}.LANG.jsonl and copa/{train,val}.jsonl.",
      test=_langs("xcopa"), train_first=("socialiqa",),
      display_name="XCOPA", score_keys=("accuracy",))


def mewslix_plan(split: str, lang: str) -> list[Part]:
    dirs = ("mewslix", "mewsli-x", "mewsli_x")
    mentions = Local(dirs, f"wikinews_mentions-{split}.jsonl", lambda files, lg: R.read_mewslix_mentions(files[0], lg))
    entities = Local(dirs, "candidate_set_entities.jsonl", one(R.read_mewslix_entities))
    return [Part((mentions,), None, lang), Part((entities,), None, lang)]


_task("mewslix", "ranking", "mrr@20", TARGET, {"dev": _langs("mewslix"), "test": _langs("mewslix")}, mewslix_plan,
      "Mewsli-X: link a WikiNews mention (its sentence) to its WikiData entity among ~1M candidate descriptions; "
      "scored like the official 'map@20' (MRR@20). No training here (XTREME-R trains a dual encoder). Files only "
      "(no hub copy): wikinews_mentions-{dev,test}.jsonl and candidate_set_entities.jsonl from get-mewsli-x.sh.",
      test=_langs("mewslix"),
      display_name="Mewsli-X", score_keys=("map@20",))


def lareqa_plan(split: str, lang: str) -> list[Part]:
    dirs = ("lareqa", "LAReQA", "xquad-r", "xquad_r")
    return [Part((Local(dirs, f"{x}.json", lambda files, lg: R.read_xquad_r(files[0], lg)),),
                 Hub("google-research-datasets/xquad_r", x, "validation", hub_xquad_r), x)
            for x in _langs("lareqa")]


_task("lareqa", "ranking", "map@20", TARGET, {"test": _langs("lareqa")}, lareqa_plan,
      "LAReQA (XQuAD-R): retrieve a question's answer sentence from the pooled sentences of all 11 languages; "
      "relevant = the answer sentence in every language; mAP@20. No training here (XTREME-R fine-tunes on SQuAD). "
      "Hub google-research-datasets/xquad_r (no sentence breaks: split at final punctuation); files xquad-r/LANG.json.",
      test=_langs("lareqa"), combine=lareqa_pool,
      display_name="LAReQA", score_keys=("map@20",))
