"""The registry of named tasks: one record per task, with everything about it.

A `Task` entry holds where the data comes from (its loader), its languages and splits, its format and its
metric, the metric keys that make its score, its display name and the extension of its submission files.
Everything else about a task follows from its format (`study.tasks.base.Format`: features, head, loss,
predictions, submission files, chance level). Adding a task is one entry (built-in ones in
`builtin_tasks`, real ones in `real_tasks`, a user's anywhere before `register`) and, at most, one reader
for a new file format; nothing branches on task names. `xstudy score` scores a task that the official
scorer does not know with its format's submission reader and its entry's metric (`study.scoring`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from study import metrics
from study.tasks.base import Format
from study.tasks.classification import Classification
from study.tasks.multiple_choice import MultipleChoice
from study.tasks.retrieval import Retrieval
from study.tasks.span_qa import SpanQA
from study.tasks.tagging import Tagging

# The formats of the built-in tasks; study.tasks registers the ones only real tasks use (ranking, bitext mining).
FORMATS: dict[str, Format] = {f.name: f for f in (Classification(), MultipleChoice(), SpanQA(), Tagging(), Retrieval())}


def register_format(fmt: Format) -> Format:
    """Add a format (for example a retrieval variant with its own scoring) to the ones tasks can name."""
    if fmt.name in FORMATS:
        raise ValueError(f"format {fmt.name!r} is registered twice")
    FORMATS[fmt.name] = fmt
    return fmt


@dataclass(frozen=True)
class LoadContext:
    """Where a loader looks: the data directory for release files, the seed of the built-in benchmark."""

    data_dir: str | None = None
    builtin_seed: int = 0


Loader = Callable[[str, str, LoadContext], list[dict]]


# ------------------------------------------------------------------------------------ metric families
# The families tasks name (`Task.metric`), each with the registered metrics it reports and so their direction:
# one registry, in study.metrics. Add one with `metrics.register_family`.
METRIC_FAMILIES = metrics.METRIC_FAMILIES

QA_SCORE_KEYS: tuple[str, ...] = ("exact_match", "f1")  # a QA task's score: (EM + F1) / 2, or F1 alone


def family_score_keys(metric: str) -> tuple[str, ...]:
    """The metric keys that make a task's score by default, per family (a task's default `score_keys`), as
    the official scorer names them."""
    return METRIC_FAMILIES[metric].score_keys


def task_score(values: Mapping[str, float], keys: tuple[str, ...]) -> float:
    """The official per-language task score from the values of the `keys` that make it: QA averages EM and
    F1; other tasks have one metric."""
    if tuple(keys) == QA_SCORE_KEYS:
        return (values["exact_match"] + values["f1"]) / 2
    (key,) = keys
    return values[key]


@dataclass(frozen=True)
class Task:
    name: str
    format_name: str
    metric: str  # a key of METRIC_FAMILIES
    roles: frozenset[str]  # {"intermediate"}, {"target"} or both
    test_languages: tuple[str, ...]
    loader: Loader = field(repr=False, compare=False)
    labels: tuple[str, ...] = ()
    train_language: str = "en"
    doc_stride: int = 128  # span QA: tokens shared by consecutive windows of a long context
    allow_no_answer: bool = False  # span QA: SQuAD v2.0's unanswerable questions
    description: str = ""
    # split ("train", "dev", "test") -> the languages that have it; None where the loader does not say.
    splits: Mapping[str, tuple[str, ...]] | None = field(default=None, compare=False, repr=False)
    # Tasks (of the same format) whose English training data a target fine-tunes on first, in this order,
    # with the same head, before its own: XTREME-R trains XCOPA on SocialIQA, then on COPA.
    train_first: tuple[str, ...] = ()
    # The registered task whose English training set this one fine-tunes on, where it is another task's ("":
    # its own train split). XTREME fine-tunes XQuAD and MLQA on SQuAD v1.1: both name `squad_v1`, read one
    # tokenized training set, and a study that targets both fine-tunes once per milestone (study.trial).
    train_data: str = ""
    # How tables name it ("": its name; the benchmark tasks carry their official names, e.g. "WikiANN-NER").
    display_name: str = ""
    # The metric keys that make its score, as the official scorer names them: ("exact_match", "f1") for QA,
    # whose score is (EM + F1) / 2 (F1 alone under the "f1_only" convention). (): its metric family's keys.
    score_keys: tuple[str, ...] = ()
    # The extension of its submission files, `TASK/test-LANG.EXT` ("": its format's).
    suffix: str = ""

    @property
    def training_set(self) -> str:
        """The task whose train split this task fine-tunes on."""
        return self.train_data or self.name

    @property
    def format(self) -> Format:
        return FORMATS[self.format_name]

    def load(self, split: str, lang: str, ctx: LoadContext) -> list[dict]:
        return self.loader(split, lang, ctx)

    def score(self, gold: list, predicted: list, lang: str) -> dict[str, float]:
        values = METRIC_FAMILIES[self.metric](gold, predicted, lang)
        return {**values, "score": task_score(values, self.score_keys or family_score_keys(self.metric))}


_REGISTRY: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add a task; returns its entry as registered, with the defaults filled in: display name (its name),
    score keys (its metric family's) and submission suffix (its format's)."""
    if task.name in _REGISTRY:
        raise ValueError(f"task {task.name!r} is registered twice")
    if task.format_name not in FORMATS:
        raise ValueError(f"task {task.name!r}: unknown format {task.format_name!r}; known: {sorted(FORMATS)}")
    if task.metric not in METRIC_FAMILIES:
        raise ValueError(f"task {task.name!r}: unknown metric {task.metric!r}; known: {sorted(METRIC_FAMILIES)}")
    if task.train_data:
        data = _REGISTRY.get(task.train_data)
        if data is None or data.format_name != task.format_name:
            raise ValueError(f"task {task.name!r}: train_data {task.train_data!r} must be a task registered before it, "
                             f"of the same format ({task.format_name})")
    task = replace(task, display_name=task.display_name or task.name,
                   score_keys=tuple(task.score_keys) or family_score_keys(task.metric),
                   suffix=task.suffix or FORMATS[task.format_name].suffix)
    if len(task.score_keys) != 1 and task.score_keys != QA_SCORE_KEYS:
        raise ValueError(f"task {task.name!r}: score_keys {task.score_keys} must be one metric key or {QA_SCORE_KEYS}")
    _REGISTRY[task.name] = task
    return task


_MISSING = object()


def fine_tune_key(task: Task, steps: int) -> tuple:
    """What makes two targets' fine-tuned models one: the training sets they train on, in order, the format
    and its labels (so, the head), and the steps. Targets with equal keys share one fine-tuned model per
    milestone, as XTREME evaluates XQuAD and MLQA from one SQuAD v1.1 model; each keeps its own rows."""
    sets = tuple(get(name).training_set for name in (*task.train_first, task.name))
    return sets, task.format_name, task.labels, steps


def get(name: str, default: Any = _MISSING) -> Task:
    if name in _REGISTRY:
        return _REGISTRY[name]
    if default is _MISSING:
        raise KeyError(f"unknown task {name!r}; known: {sorted(_REGISTRY)}")
    return default


def names(role: str | None = None) -> list[str]:
    return sorted(n for n, t in _REGISTRY.items() if role is None or role in t.roles)


def all_tasks() -> Sequence[Task]:
    return list(_REGISTRY.values())
