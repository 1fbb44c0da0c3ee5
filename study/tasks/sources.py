"""Where a real task's examples come from: release files under a data directory, or the Hugging Face hub.

Precedence, per dataset: when a data directory is set (`LoadContext.data_dir`, from the spec's
`study.data_dir`, else the environment variable `XSTUDY_DATA_DIR`) and it holds one of the dataset's
folders (for example `DATA_DIR/xnli/`), the dataset is read from those release files only, and a file
missing there is an error that names the folder and the file pattern. Otherwise the dataset is loaded
from the hub with `datasets.load_dataset` (ids and configs live in each task's registry entry); offline
and not cached, that is an error that names the task and both ways to provide the data. Files are never
silently mixed with hub data for one dataset, so a typo in a file name cannot fall back to other data.

The hub as `datasets` 4 and later reads it: a repository that still has its loading script (`NAME.py`) at
its root is refused ("Dataset scripts are no longer supported"), with no fall-back to the hub's parquet
copy. The registry therefore names repositories with data files, or a converted copy by its `revision`
(`refs/convert/parquet`) and `data_dir`; a script-only repository is an error that names it and what to
use instead (`SCRIPT_ONLY`: another repository, or the release files by their names).

Inside a dataset folder, files are found by name anywhere below it (recursive glob), so both the unpacked
release archives and flatter copies work.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from study.tasks.readers import DataError, MissingData

DATA_DIR_ENV = "XSTUDY_DATA_DIR"
# Bump when a reader or hub conversion changes what it returns, so tokenized caches are rebuilt.
READERS_VERSION = 1

Reader = Callable[[list[Path], str], list[dict]]  # (matched files, language) -> examples
Converter = Callable[[Any, str], list[dict]]  # (datasets.Dataset, language) -> examples


def data_dir(ctx: Any) -> Path | None:
    """The data directory of a LoadContext, else of XSTUDY_DATA_DIR; None when neither is set."""
    value = getattr(ctx, "data_dir", None) or os.environ.get(DATA_DIR_ENV)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        source = "LoadContext.data_dir (study.data_dir)" if getattr(ctx, "data_dir", None) else DATA_DIR_ENV
        raise DataError(f"the data directory does not exist ({source})", path=path,
                        expected="a folder holding one sub-folder per dataset")
    return path


@dataclass(frozen=True)
class Local:
    """Release files of one dataset: `pattern` searched below any of `folders` (globs under the data dir)."""

    folders: tuple[str, ...]
    pattern: str
    read: Reader
    many: bool = False  # several matches are concatenated in path order (UD: every treebank of a language)
    dirs: bool = False  # a match may be a folder (a PAN-X archive unpacked under the archive's own name)
    companions: Callable[[Path], list[Path]] | None = None  # files read beside a match (for fingerprints)

    def roots(self, base: Path) -> list[Path]:
        # resolve(): on case-insensitive file systems "mnli" and "MNLI" are one folder, not two.
        return sorted({p.resolve() for folder in self.folders for p in base.glob(folder) if p.is_dir()})

    def find(self, base: Path) -> list[Path]:
        found = {p for root in self.roots(base) for p in root.rglob(self.pattern) if p.is_file() or (self.dirs and p.is_dir())}
        return sorted(found)


@dataclass(frozen=True)
class Hub:
    """A hub dataset: `datasets.load_dataset(path, name, split=split, revision=revision, data_dir=data_dir)`,
    then `convert` to examples. `revision` is a branch, tag or commit (e.g. the hub's parquet conversion,
    `refs/convert/parquet`); `data_dir` a folder of the repository that holds one configuration's files."""

    path: str
    name: str | None
    split: str
    convert: Converter
    revision: str | None = None
    data_dir: str | None = None

    def describe(self) -> str:
        extra = "".join(f" {k} {v!r}" for k, v in (("revision", self.revision), ("data_dir", self.data_dir)) if v)
        return f"{self.path!r} config {self.name!r} split {self.split!r}{extra}"

    def load_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `datasets.load_dataset` / `load_dataset_builder` besides the path."""
        kwargs: dict[str, Any] = {"name": self.name}
        if self.revision:
            kwargs["revision"] = self.revision
        if self.data_dir:
            kwargs["data_dir"] = self.data_dir
        return kwargs


# Repositories that are only a loading script, which `datasets` 4 and later no longer runs, and what to use
# instead. The loader names these in its error; the registry itself never points at them.
SCRIPT_ONLY: dict[str, str] = {
    "facebook/mlqa": "'google/xtreme' with configs 'MLQA.{lang}.{lang}' (validation and test splits), or the "
                     "release files MLQA_V1/{dev,test}/{dev,test}-context-LANG-question-LANG.json",
    "allenai/social_i_qa": "'lighteval/siqa' (the same rows: train 33,410, validation 1,954), or the release files "
                           "socialiqa-train-dev/{train,dev}.jsonl with {train,dev}-labels.lst",
    "allenai/cosmos_qa": "the release files train.csv and valid.csv under DATA_DIR/cosmosqa/ (no converted copy "
                         "of Cosmos QA is on the hub)",
    "aps/super_glue": "revision 'refs/convert/parquet' with data_dir 'copa' (the hub's parquet conversion), or the "
                      "COPA release files train.jsonl and val.jsonl under DATA_DIR/copa/",
}
SCRIPT_ERROR = "Dataset scripts are no longer supported"


def script_only_error(hub: Hub, local: str, err: Exception) -> DataError:
    """The error for a repository that is a loading script: names it and what to use instead."""
    instead = SCRIPT_ONLY.get(hub.path) or (
        f"a repository with data files (parquet, json, csv), this repository's parquet conversion "
        f"(revision 'refs/convert/parquet', with data_dir set to the configuration's folder), or the release "
        f"files ({local})")
    return DataError(f"{hub.describe()} is a dataset loading script on the Hugging Face hub, which datasets>=4 no "
                     f"longer runs ({str(err)[:200]})", expected=f"instead: {instead}")


@dataclass(frozen=True)
class Part:
    """One file (or hub split) that contributes examples; `fields` are added to each of its examples."""

    local: tuple[Local, ...]
    hub: Hub | None
    lang: str
    fields: tuple[tuple[str, Any], ...] = ()
    no_hub: str = ""  # why a part has no hub copy, said in the error when its files are missing


Plan = Callable[[str, str], list[Part]]  # (split, language) -> the parts to read
Combine = Callable[[list[list[dict]], str, str], list[dict]]  # (examples of each part, split, language)


class DataSource:
    """A task's loader: `source(split, lang, ctx) -> examples`, with its hub ids and files inspectable.

    `splits` maps each split ("train", "dev", "test") to the languages that have it.
    """

    def __init__(self, task: str, splits: Mapping[str, Sequence[str]], plan: Plan, combine: Combine | None = None):
        self.task = task
        self.splits = {k: tuple(v) for k, v in splits.items()}
        self.plan = plan
        self.combine = combine

    def __repr__(self) -> str:
        return f"DataSource({self.task!r}, splits={ {k: len(v) for k, v in self.splits.items()} })"

    def check(self, split: str, lang: str) -> None:
        if split not in self.splits:
            raise DataError(f"task {self.task} has no {split!r} split", expected=f"one of {sorted(self.splits)}")
        if lang not in self.splits[split]:
            raise DataError(f"task {self.task} has no {split!r} split in language {lang!r}",
                            expected=f"one of {list(self.splits[split])}")

    def parts(self, split: str, lang: str) -> list[Part]:
        self.check(split, lang)
        return self.plan(split, lang)

    def __call__(self, split: str, lang: str, ctx: Any) -> list[dict]:
        where = f"task {self.task}, split {split}, language {lang}"
        try:
            loaded = [self._load(part, ctx) for part in self.parts(split, lang)]
            examples = self.combine(loaded, split, lang) if self.combine else [ex for part in loaded for ex in part]
        except DataError as err:
            raise err.within(where) from None
        if not examples:
            raise DataError("no examples", context=where, expected="at least one example")
        return examples

    # ----------------------------------------------------------------------------------- resolution
    def resolve(self, part: Part, ctx: Any) -> tuple[str, Any]:
        """("local", (Local, [files])) or ("hub", Hub), following the module's precedence."""
        base = data_dir(ctx)
        if base is not None and part.local:
            present = [local for local in part.local if local.roots(base)]
            for local in present:
                files = local.find(base)
                if files:
                    if len(files) > 1 and not local.many:
                        raise DataError(f"{len(files)} files match {local.pattern!r}: {[str(f) for f in files]}",
                                        path=base, expected="exactly one file of that name in the dataset's folder")
                    return "local", (local, files)
            if present:
                roots = sorted({str(r) for local in present for r in local.roots(base)})
                names = " or ".join(repr(local.pattern) for local in part.local)
                raise MissingData(f"file missing: no {names} in this folder or below it", path=", ".join(roots),
                                expected="the split's release file, under its release name (see the task's description)")
        if part.hub is None:
            folders = "; ".join(f"{'|'.join(l.folders)}/**/{l.pattern}" for l in part.local)
            raise MissingData(
                "no local release files and no hub copy of this data" + (f" ({part.no_hub})" if part.no_hub else ""),
                expected=f"release files under the data directory ({folders}); set study.data_dir in the spec "
                         f"or {DATA_DIR_ENV}" + ("" if base is None else f" (now {base})"))
        return "hub", part.hub

    def _load(self, part: Part, ctx: Any) -> list[dict]:
        kind, what = self.resolve(part, ctx)
        if kind == "local":
            local, files = what
            examples = local.read(files, part.lang)
        else:
            examples = self._load_hub(part, what, ctx)
        if part.fields:
            extra = dict(part.fields)
            examples = [{**ex, **extra} for ex in examples]
        return examples

    def _load_hub(self, part: Part, hub: Hub, ctx: Any) -> list[dict]:
        import datasets

        local = "; ".join(f"{'|'.join(l.folders)}/**/{l.pattern}" for l in part.local) or "none known"
        try:
            ds = datasets.load_dataset(hub.path, split=hub.split, **hub.load_kwargs())
        except Exception as err:  # noqa: BLE001 - every hub failure gets the same actionable message
            if SCRIPT_ERROR in str(err):
                raise script_only_error(hub, local, err) from None
            offline = any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
            raise MissingData(
                f"cannot load {hub.describe()} from the Hugging Face hub{' (offline mode is on)' if offline else ''}: "
                f"{type(err).__name__}: {str(err)[:300]}",
                expected=f"either the release files under a data directory ({local}; set study.data_dir in the "
                         f"spec or {DATA_DIR_ENV}), or the dataset in the local datasets cache / hub access "
                         f"(unset HF_HUB_OFFLINE and HF_DATASETS_OFFLINE once to download it)") from None
        return hub.convert(ds, part.lang)

    # -------------------------------------------------------------------------------- introspection
    def fingerprint(self, split: str, lang: str, ctx: Any) -> list:
        """What identifies the raw data: each local file's path, size and mtime (companions included),
        or the hub id, config and split; plus the readers' version."""
        out: list = [READERS_VERSION]
        for part in self.parts(split, lang):
            kind, what = self.resolve(part, ctx)
            if kind == "hub":
                out.append(["hub", what.path, what.name, what.split, part.lang, list(part.fields)]
                           + ([what.revision, what.data_dir] if what.revision or what.data_dir else []))
                continue
            local, files = what
            paths = list(files)
            for f in files:
                paths += local.companions(f) if local.companions else []
            stats = []
            for p in paths:
                st = p.stat() if p.exists() else None
                stats.append([str(p.resolve()), st.st_size if st else None, st.st_mtime_ns if st else None])
            out.append(["local", part.lang, list(part.fields), stats])
        return out

    def hub_refs(self) -> dict[tuple[str, str], list[Hub]]:
        """Every (split, language) -> the hub datasets it would load (empty where there is no hub copy)."""
        return {(split, lang): [p.hub for p in self.plan(split, lang) if p.hub is not None]
                for split, langs in self.splits.items() for lang in langs}
