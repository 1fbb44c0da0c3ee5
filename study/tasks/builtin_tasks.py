"""Registry entries for the built-in generated benchmark (study.tasks.builtin)."""

from __future__ import annotations

from study.tasks import builtin
from study.tasks.registry import LoadContext, Task, register

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


for _name, _info in builtin.BUILTIN_TASKS.items():
    register(
        Task(
            name=_name,
            format_name=_info["format"],
            metric=_METRIC[_info["format"]],
            roles=frozenset({_info["role"]}),
            test_languages=tuple(_info["splits"].get("test", ())),
            loader=_loader(_name),
            labels=tuple(_info.get("labels", ())),
            description=_info.get("description", "built-in generated task"),
            splits={split: tuple(langs) for split, langs in _info["splits"].items()},
        )
    )

# The real intermediate tasks and XTREME / XTREME-R targets (their data comes from files or the hub).
from study.tasks import real_tasks  # noqa: E402, F401
