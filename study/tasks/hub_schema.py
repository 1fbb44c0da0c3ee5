"""What a hub converter reads, and whether a dataset's features give it that.

Each converter of hub rows into a format's examples (`real_tasks.hub_*`) declares the columns it reads and
their kinds. `kind_of` names a `datasets` feature in the same words, so that the features of a hub
dataset (from `load_dataset_builder(...).info.features`, or of a `Dataset`) can be checked against its
converter before any row is read: `feature_problems` lists every mismatch.

Kinds: "string", "int" (any integer width), "float", "bool", "class_label" (a `ClassLabel`: integers with
names, -1 for an unlabelled row), "list<KIND>", and {field: kind} for a struct (SQuAD's `answers`, whose
fields are lists). A column may accept several kinds, or be optional (`ABSENT` among them).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

Kind = Union[str, dict[str, "Kind"]]

STRING, INT, FLOAT, BOOL, CLASS_LABEL = "string", "int", "float", "bool", "class_label"
ABSENT = "absent"  # among a column's kinds: the column may be missing (e.g. XQuAD has no `title`)
ANSWERS: Kind = {"text": f"list<{STRING}>", "answer_start": f"list<{INT}>"}  # SQuAD-format answers


def list_of(kind: str) -> str:
    return f"list<{kind}>"


@dataclass(frozen=True, eq=False)
class HubConverter:
    """A converter of hub rows to a format's examples, with the columns it reads.

    `columns` maps a column to its kind or a tuple of accepted kinds. `named_labels` are the columns whose
    ClassLabel names become the examples' labels, so those names must be among the task's labels."""

    convert: Callable[[Any, str], list[dict]]
    columns: Mapping[str, Kind | tuple[Kind, ...]] = field(default_factory=dict)
    named_labels: tuple[str, ...] = ()

    def __call__(self, ds: Any, lang: str) -> list[dict]:
        return self.convert(ds, lang)


def reads(named_labels: tuple[str, ...] = (), **columns: Kind | tuple[Kind, ...]) -> Callable[[Callable], HubConverter]:
    """Decorate a converter function with the columns it reads."""
    return lambda fn: HubConverter(fn, columns, named_labels)


_INTS = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
_FLOATS = {"float16", "float32", "float64"}


def kind_of(feature: Any) -> Kind:
    """A `datasets` feature (or its dict form) in the words of `Kind`."""
    import datasets

    if isinstance(feature, dict):
        return {name: kind_of(sub) for name, sub in feature.items()}
    if isinstance(feature, datasets.ClassLabel):
        return CLASS_LABEL
    if isinstance(feature, datasets.Value):
        dtype = feature.dtype
        if dtype in ("string", "large_string"):
            return STRING
        if dtype in _INTS:
            return INT
        if dtype in _FLOATS:
            return FLOAT
        return BOOL if dtype == "bool" else dtype
    inner = getattr(feature, "feature", None)
    if inner is not None:  # List, LargeList, Sequence (`datasets` turns a Sequence of a struct into a struct of lists)
        return list_of(show(kind_of(inner)))
    return type(feature).__name__


def show(kind: Kind | tuple[Kind, ...]) -> str:
    if isinstance(kind, tuple):
        return " or ".join(show(k) for k in kind)
    if isinstance(kind, dict):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in sorted(kind.items())) + "}"
    return kind


def matches(got: Kind, wanted: Kind) -> bool:
    """Whether a feature of kind `got` gives what `wanted` asks for (a struct may have more fields)."""
    if isinstance(wanted, dict):
        return isinstance(got, dict) and all(k in got and matches(got[k], v) for k, v in wanted.items())
    return got == wanted


def class_names(feature: Any) -> list[str]:
    """The names of a ClassLabel, or of the ClassLabel inside a list; [] for other features."""
    feature = getattr(feature, "feature", feature)
    return list(getattr(feature, "names", None) or [])


def feature_problems(features: Mapping[str, Any], converter: HubConverter, labels: Collection[str] = ()) -> list[str]:
    """Every way in which `features` (column -> datasets feature) fail the converter's columns; [] if none."""
    problems = []
    for column, wanted in converter.columns.items():
        options = wanted if isinstance(wanted, tuple) else (wanted,)
        if column not in features:
            if ABSENT not in options:
                problems.append(f"no column {column!r} (the converter reads it as {show(options)}); "
                                f"the columns are {sorted(features)}")
            continue
        got = kind_of(features[column])
        accepted = tuple(o for o in options if o != ABSENT)
        if not any(matches(got, o) for o in accepted):
            problems.append(f"column {column!r} is {show(got)}, the converter reads {show(accepted)}")
        elif column in converter.named_labels and labels:
            unknown = [n for n in class_names(features[column]) if n not in labels]
            if unknown:
                problems.append(f"column {column!r} has class names {unknown} outside the task's labels {list(labels)}")
    return problems
