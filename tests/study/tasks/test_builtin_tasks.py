"""study.tasks.builtin_tasks: every task of the generated benchmark is registered with its format's metric
family, its splits and languages, and loads the benchmark of the context's seed."""

from __future__ import annotations

from study.synthetic.benchmark import BUILTIN_TASKS
from study.tasks import builtin_tasks, registry
from study.tasks.registry import LoadContext

METRICS = {"classification": "accuracy", "multiple_choice": "accuracy", "span_qa": "squad",
           "tagging": "seqeval_f1", "retrieval": "retrieval_accuracy"}


def test_every_builtin_task_is_registered_as_the_benchmark_describes_it():
    assert [t.name for t in builtin_tasks.TASKS] == list(BUILTIN_TASKS)
    for name, info in BUILTIN_TASKS.items():
        task = registry.get(name)
        # The registered entry is the record with its defaults filled in (study.tasks.registry.register).
        assert task.name in {t.name for t in builtin_tasks.TASKS}
        assert (task.display_name, task.suffix) == (name, task.format.suffix) and task.score_keys
        assert (task.format_name, task.metric, task.roles) == (info["format"], METRICS[info["format"]],
                                                                frozenset({info["role"]}))
        assert task.test_languages == tuple(info["splits"].get("test", ()))
        assert dict(task.splits) == {s: tuple(langs) for s, langs in info["splits"].items()}
        assert task.labels == tuple(info.get("labels", ())) and task.train_language == "en"
    targets = [n for n, info in BUILTIN_TASKS.items() if info["role"] == "target"]
    assert targets and all(len(registry.get(n).test_languages) > 1 for n in targets), "targets test transfer"


def test_the_loader_follows_the_seed_and_its_gold_scores_100():
    task = registry.get("builtin_xnli")
    first = task.load("test", "xa", LoadContext(builtin_seed=0))
    assert first == task.load("test", "xa", LoadContext(builtin_seed=0))
    assert first != task.load("test", "xa", LoadContext(builtin_seed=1))
    assert {ex["label"] for ex in first} == set(task.labels)
    gold = task.format.gold(first, task)
    assert task.score(gold, gold, "xa") == {"accuracy": 100.0, "score": 100.0}
