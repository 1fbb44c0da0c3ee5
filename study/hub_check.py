"""`xstudy data check-hub`: does every hub reference of the registry load today, with what its converter reads?

For each distinct (repository, config, revision, data_dir) that a task's `Hub` names, the check runs
`datasets.load_dataset_builder`, which reads the repository's card and file list but no data, and reports:
whether it loads (a repository that is only a loading script does not, under `datasets` 4 and later), the
repository's configs, the builder's splits, and its feature types (`hub_schema.kind_of`). Then, for every
(task, split, language) that reads it: whether the split exists and whether the features give the
converter the columns it reads (`hub_schema.feature_problems`). Where a builder's card carries no features
(a `refs/convert/parquet` revision), they are read from the parquet schema of a streamed split.

It needs the hub: with HF_HUB_OFFLINE or HF_DATASETS_OFFLINE set it refuses (exit code 2). The comparison
itself (`check_builder`) works on any object with a builder's `info` and `config`, which is how it is tested
offline.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from study.tasks import registry
from study.tasks.hub_schema import feature_problems, kind_of, show
from study.tasks.sources import SCRIPT_ERROR, SCRIPT_ONLY, Hub

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
BuilderKey = tuple[str, str | None, str | None, str | None]  # (path, config, revision, data_dir)


@dataclass(frozen=True)
class Reference:
    """One place that reads a hub dataset: a task's split in one language, through its Hub entry."""

    task: str
    split: str
    lang: str
    hub: Hub


@dataclass
class BuilderCheck:
    path: str
    config: str | None
    revision: str | None
    data_dir: str | None
    loads: bool = False
    error: str | None = None
    configs: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    features: dict[str, str] = field(default_factory=dict)
    references: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.loads and all(not r["problems"] for r in self.references)

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items()}
        out["ok"] = self.ok
        return out


def references(tasks: Iterable[str] | None = None) -> dict[BuilderKey, list[Reference]]:
    """Every hub reference of the registry (or of `tasks`), grouped by the builder that serves it."""
    out: dict[BuilderKey, list[Reference]] = {}
    for task in registry.all_tasks():
        if tasks is not None and task.name not in tasks:
            continue
        refs = getattr(task.loader, "hub_refs", None)
        for (split, lang), hubs in (refs() if refs else {}).items():
            for hub in hubs:
                out.setdefault((hub.path, hub.name, hub.revision, hub.data_dir), []).append(Reference(task.name, split, lang, hub))
    return out


def builder_splits(builder: Any) -> list[str]:
    """The split names a builder knows without reading data: its card's splits, else its data files' keys."""
    splits = getattr(builder.info, "splits", None)
    if splits:
        return list(splits)
    data_files = getattr(builder.config, "data_files", None)
    return list(data_files) if data_files else []


def builder_features(builder: Any, split: str | None) -> Any:
    """The builder's features; when its card has none, those of the parquet schema of a streamed split."""
    if builder.info.features is None and split is not None:
        builder.as_streaming_dataset(split=split)  # resolves the data files and reads their schema only
    return builder.info.features


def check_builder(builder: Any, refs: list[Reference], configs: list[str]) -> BuilderCheck:
    """Compare one loaded builder with the references that read it."""
    hub = refs[0].hub
    result = BuilderCheck(hub.path, hub.name, hub.revision, hub.data_dir, loads=True, configs=list(configs))
    result.splits = builder_splits(builder)
    wanted = [r.hub.split for r in refs if r.hub.split in result.splits]
    features = builder_features(builder, wanted[0] if wanted else None)
    result.features = {name: show(kind_of(f)) for name, f in (features or {}).items()}
    for ref in refs:
        problems = []
        if hub.name is not None and configs and hub.name not in configs:
            problems.append(f"no config {hub.name!r} among the repository's {len(configs)} configs")
        if ref.hub.split not in result.splits:
            problems.append(f"no split {ref.hub.split!r}; the builder has {result.splits}")
        if features is None:
            problems.append("the builder has no features to compare (no dataset card features, no split to stream)")
        else:
            problems += feature_problems(features, ref.hub.convert, registry.get(ref.task).labels)
        result.references.append({"task": ref.task, "split": ref.split, "language": ref.lang,
                                  "hub_split": ref.hub.split, "problems": problems})
    return result


def failed(refs: list[Reference], err: Exception) -> BuilderCheck:
    hub = refs[0].hub
    message = f"{type(err).__name__}: {str(err)[:400]}"
    if SCRIPT_ERROR in str(err):
        message = f"a dataset loading script, which datasets>=4 no longer runs; use {SCRIPT_ONLY.get(hub.path, 'another repository or the release files')}"
    result = BuilderCheck(hub.path, hub.name, hub.revision, hub.data_dir, loads=False, error=message)
    result.references = [{"task": r.task, "split": r.split, "language": r.lang, "hub_split": r.hub.split,
                           "problems": [f"does not load: {message}"]} for r in refs]
    return result


def check_references(refs: list[Reference], load_builder: Callable[..., Any] | None = None,
                     config_names: Callable[..., list[str]] | None = None) -> BuilderCheck:
    """Load the one builder that `refs` read (`datasets` functions unless given) and compare it with them."""
    import datasets

    hub = refs[0].hub
    extra = {k: v for k, v in hub.load_kwargs().items() if k != "name"}
    try:
        configs = list((config_names or datasets.get_dataset_config_names)(hub.path, **extra))
        builder = (load_builder or datasets.load_dataset_builder)(hub.path, **hub.load_kwargs())
        return check_builder(builder, refs, configs)
    except Exception as err:  # noqa: BLE001 - every failure is reported with the builder it concerns
        return failed(refs, err)


def check_hub(tasks: Iterable[str] | None = None, load_builder: Callable[..., Any] | None = None,
              config_names: Callable[..., list[str]] | None = None,
              progress: Callable[[BuilderCheck], None] | None = None) -> list[BuilderCheck]:
    """Check every builder the registry's hub references (of `tasks`, else all) need."""
    out = []
    for refs in references(tasks).values():
        out.append(check_references(refs, load_builder, config_names))
        if progress is not None:
            progress(out[-1])
    return out


def offline() -> str | None:
    """The variable that puts the hub offline, if one does."""
    return next((v for v in OFFLINE_VARIABLES if os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")), None)


def check_hub_command(tasks: list[str] | None, as_json: bool) -> int:
    """Print the check (JSON with `as_json`): 0 every reference loads with its converter's columns, 1 some do
    not, 2 offline or an unknown task."""
    from rich.console import Console
    from rich.text import Text

    err = Console(stderr=True, soft_wrap=True)
    unknown = [t for t in tasks or [] if registry.get(t, None) is None]
    if unknown:
        err.print(Text(f"error: unknown task(s) {unknown}; known: {', '.join(registry.names())}", style="red"), soft_wrap=True)
        return 2
    variable = offline()
    if variable:
        err.print(Text(f"error: {variable} is set, so the hub cannot be checked; run without it "
                       f"(e.g. `{variable}=0 xstudy data check-hub`)", style="red"), soft_wrap=True)
        return 2
    console = Console(soft_wrap=True)

    def show_one(result: BuilderCheck) -> None:
        if as_json:
            return
        head = f"{'ok  ' if result.ok else 'FAIL'} {result.path} {result.config or ''}".rstrip()
        if result.revision or result.data_dir:
            head += f" (revision {result.revision}, data_dir {result.data_dir})"
        console.print(Text(head, style="green" if result.ok else "red"), soft_wrap=True)
        if result.loads:
            console.print(Text(f"     splits {result.splits}; features {result.features}", style="dim"), soft_wrap=True)
        for ref in result.references:
            for problem in ref["problems"]:
                console.print(Text(f"     {ref['task']} {ref['split']} {ref['language']}: {problem}"), soft_wrap=True)

    results = check_hub(tasks, progress=show_one)
    bad = [r for r in results if not r.ok]
    if as_json:
        sys.stdout.write(json.dumps({"builders": [r.to_json() for r in results], "ok": not bad}, indent=2) + "\n")
    else:
        console.print(f"{len(results) - len(bad)} of {len(results)} hub builders load with the columns their converters read")
    return 1 if bad else 0
