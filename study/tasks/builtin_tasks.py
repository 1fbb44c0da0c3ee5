"""Registry entries for the built-in generated benchmark (study.synthetic.benchmark)."""

from __future__ import annotations

from study.synthetic import benchmark as builtin
from study.tasks.registry import LoadContext, Task

# The metric family of each built-in format: the same families real tasks of that format use.
_METRIC = {
    "classification": "accuracy",
    "multiple_choice": "accuracy",
    "span_qa": "squad",
    "tagging": "seqeval_f1",
    "retrieval": "retrieval_accuracy",
}


def _loader(name: str):
    def load(split: str, lang: str, ctx: LoadContext) -> list[dict]:
        return builtin.benchmark(ctx.builtin_seed).examples(name, split, lang)

    return load


TASKS = [  # registered by study.tasks, before the real tasks
    Task(
        name=name,
        format_name=info["format"],
        metric=_METRIC[info["format"]],
        roles=frozenset({info["role"]}),
        test_languages=tuple(info["splits"].get("test", ())),
        loader=_loader(name),
        labels=tuple(info.get("labels", ())),
        description=info.get("description", "built-in generated task"),
        splits={split: tuple(langs) for split, langs in info["splits"].items()},
    )
    for name, info in builtin.BUILTIN_TASKS.items()
]
