"""study.tasks.hub_schema: `datasets` features named as kinds, and every way features can fail a converter."""

from __future__ import annotations

import datasets

from study.tasks.hub_schema import (
    ABSENT, ANSWERS, CLASS_LABEL, INT, STRING, class_names, feature_problems, kind_of, list_of, matches, reads, show,
)
from study.tasks.readers import UPOS_TAGS

V, CL, L = datasets.Value, datasets.ClassLabel, datasets.List
STR = V("string")


def test_kind_of_names_every_integer_width_and_nested_features_alike():
    assert [kind_of(V(d)) for d in ("int8", "uint16", "int64")] == [INT, INT, INT]
    assert [kind_of(V(d)) for d in ("string", "large_string", "float16", "float64", "bool")] == [
        STRING, STRING, "float", "float", "bool"]
    assert kind_of(V("timestamp[s]")) == "timestamp[s]", "an unknown dtype keeps its own name, so a problem names it"
    assert kind_of(CL(names=["a", "b"])) == CLASS_LABEL
    assert kind_of(L(L(V("int32")))) == "list<list<int>>"
    assert kind_of(datasets.Sequence(CL(names=["x"]))) == list_of(CLASS_LABEL)
    # SQuAD's answers, as the cards declare them, are exactly what the ANSWERS kind asks for.
    answers = {"text": L(STR), "answer_start": L(V("int32"))}
    assert kind_of(answers) == ANSWERS and matches(kind_of(answers), ANSWERS)


def test_a_struct_may_have_more_fields_but_not_fewer_or_other_kinds():
    assert matches({**ANSWERS, "extra": STRING}, ANSWERS)
    assert not matches({"text": list_of(STRING)}, ANSWERS)
    assert not matches({"text": list_of(STRING), "answer_start": list_of(STRING)}, ANSWERS)
    assert not matches(list_of(STRING), ANSWERS) and not matches(ANSWERS, STRING)
    assert show((CLASS_LABEL, INT)) == "class_label or int"
    assert show({"b": INT, "a": list_of(STRING)}) == "{a: list<string>, b: int}"


def test_class_names_of_a_label_a_list_of_labels_and_other_features():
    assert class_names(CL(names=["no", "yes"])) == ["no", "yes"]
    assert class_names(L(CL(names=["B-PER", "O"]))) == ["B-PER", "O"]
    assert class_names(STR) == [] and class_names(L(STR)) == []


def test_feature_problems_name_what_the_converter_misses():
    from study.tasks.real_tasks import hub_tags

    tags = hub_tags("pos_tags")
    good = datasets.Features({"tokens": L(STR), "pos_tags": L(CL(names=list(UPOS_TAGS)))})
    assert feature_problems(good, tags, UPOS_TAGS) == []
    assert feature_problems(datasets.Features({"tokens": L(STR), "pos_tags": L(STR)}), tags, UPOS_TAGS) == [
        "column 'pos_tags' is list<string>, the converter reads list<class_label>"]
    other = datasets.Features({"tokens": L(STR), "pos_tags": L(CL(names=["NOUN", "NN"]))})
    assert feature_problems(other, tags, UPOS_TAGS) == [
        "column 'pos_tags' has class names ['NN'] outside the task's labels " + str(list(UPOS_TAGS))]
    assert feature_problems(datasets.Features({"words": L(STR)}), tags, UPOS_TAGS)[0].startswith("no column 'tokens'")


def test_optional_and_alternative_columns_and_one_problem_per_column():
    @reads(named_labels=("label",), text=STRING, label=(CLASS_LABEL, INT), idx=(INT, ABSENT))
    def convert(ds, lang):
        return list(ds)

    assert convert.columns["idx"] == (INT, ABSENT) and convert.named_labels == ("label",)
    assert convert([{"text": "x"}], "en") == [{"text": "x"}], "the decorated function still converts"
    assert feature_problems({"text": STR, "label": V("int64")}, convert, ("a",)) == [], "idx may be absent"
    # An int label has no class names to check; a ClassLabel's names are checked only when labels are given.
    assert feature_problems({"text": STR, "label": CL(names=["z"])}, convert) == []
    problems = feature_problems({"text": V("int32"), "label": STR, "idx": STR}, convert, ("a",))
    assert problems == ["column 'text' is int, the converter reads string",
                        "column 'label' is string, the converter reads class_label or int",
                        "column 'idx' is string, the converter reads int"]
    missing = feature_problems({"label": V("int8")}, convert)
    assert missing == ["no column 'text' (the converter reads it as string); the columns are ['label']"]
