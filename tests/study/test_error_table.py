"""Every kind of bad input, as the user meets it on the command line: one table of cases and their messages.

Each case builds its input in a temporary folder, runs `xstudy run` or `xstudy resume` (in process), and
asserts three things: the exit code is 2, the message names the file, field or line and the rule it broke
(a regular expression over the output), and nothing was written: the folder is exactly as the case left
it (no study folder, no result, no spec.json). The cases that reach the cluster check share one small
local Ray (1 CPU, no GPU) for the whole module.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from study.cli import app

# A pretraining length no test builds: `xstudy run`'s cache report then has no tokenizer to load (it only
# says the model is missing), and nothing here ever trains.
TINY = {"name": "tiny", "source": {"builtin": "tiny", "mlm_steps": 3}, "batch_size": 16, "max_length": 48,
        "steps": [0, 10]}
UPOS_LINE = "{i}\t{word}\t{word}\t{tag}\t_\t_\t0\troot\t_\t_"


def spec_data(tmp: Path, **overrides) -> dict:
    data = {
        "study": {"name": "bad", "storage": str(tmp / "results"), "max_failures": 0},
        "models": [dict(TINY)],
        "intermediate_tasks": ["none", "builtin_nli"],
        "target_tasks": [{"task": "builtin_pos", "languages": ["en", "xa"]}],
        "hyperparameters": {"intermediate_lr": 1e-3, "target_lr": 1e-3},
        "target_training": {"steps": 4},
    }
    data.update(overrides)
    return data


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def run_spec(mutate: Callable[[dict, Path], None] = lambda d, tmp: None) -> Callable[[Path], list[str]]:
    """`xstudy run SPEC` on the small built-in spec after `mutate(data, tmp)` edits it (or writes data files)."""

    def build(tmp: Path) -> list[str]:
        data = spec_data(tmp)
        mutate(data, tmp)
        return ["run", str(write(tmp / "spec.yaml", yaml.safe_dump(data)))]

    return build


def with_model(**changes) -> Callable[[dict, Path], None]:
    return lambda d, tmp: d["models"][0].update(changes)


# ------------------------------------------------------------------------------ release-format data
def real_target(task: dict, files: dict[str, str]) -> Callable[[dict, Path], None]:
    """A study of one real target task, read from release files written under tmp/data."""

    def mutate(d: dict, tmp: Path) -> None:
        d["study"]["data_dir"] = str(tmp / "data")
        d["intermediate_tasks"] = ["none"]
        d["target_tasks"] = [task]
        (tmp / "data").mkdir(exist_ok=True)
        for name, text in files.items():
            write(tmp / "data" / name, text)

    return mutate


def conllu(*sentences: list[tuple[str, str]], cut: int | None = None) -> str:
    """CoNLL-U sentences of (word, UPOS); `cut` leaves only 4 columns on that (1-based) line of the file."""
    lines = []
    for words in sentences:
        lines.append("# text = " + " ".join(w for w, _ in words))
        lines += [UPOS_LINE.format(i=i, word=w, tag=t) for i, (w, t) in enumerate(words, start=1)]
        lines.append("")
    if cut is not None:
        lines[cut - 1] = "\t".join(lines[cut - 1].split("\t")[:4])
    return "\n".join(lines) + "\n"


GOOD_EN = conllu([("The", "DET"), ("house", "NOUN")])
GOOD_DE = conllu([("Das", "DET"), ("Haus", "NOUN")])
ARTICLE = {"context": {"language": "de", "text": "Angela Merkel sprach.", "sentence_spans": [{"start": 0, "end": 21}]},
           "mentions": [{"example_id": "m1", "entity_id": "Q567", "mention_span": {"start": 0, "end": 13}}]}
ENTITY = {"entity_id": "Q567", "description": "Kanzlerin", "description_language": "de"}


def mewslix(test_lines: list[str]) -> dict[str, str]:
    english = {**ARTICLE, "context": {**ARTICLE["context"], "language": "en"}}
    return {"mewslix/wikinews_mentions-dev.jsonl": json.dumps(english) + "\n",
            "mewslix/wikinews_mentions-test.jsonl": "\n".join(test_lines) + "\n",
            "mewslix/candidate_set_entities.jsonl": json.dumps(ENTITY) + "\n"}


# ------------------------------------------------------------------------------------ study folders
def unwritable_parent(tmp: Path) -> None:
    folder = tmp / "readonly"
    folder.mkdir()
    folder.chmod(0o555)


def resume(prepare: Callable[[Path], None]) -> Callable[[Path], list[str]]:
    def build(tmp: Path) -> list[str]:
        (tmp / "study").mkdir()
        prepare(tmp / "study")
        return ["resume", str(tmp / "study")]

    return build


def stored_spec(tmp: Path, **changes) -> dict:
    data = json.loads(json.dumps(spec_data(tmp.parent)))
    data["study"].update(name="study", storage=str(tmp.parent))
    for key, value in changes.items():
        data[key] = value
    return data


def experiment_state(points: list[dict], hyperparameters: dict | None = None) -> str:
    """Ray Tune's experiment state as Ray 2.60 writes it: [trial JSON, runtime metadata JSON] per trial."""
    hps = {"intermediate_lr": 1e-3, "target_lr": 1e-3} if hyperparameters is None else hyperparameters
    trials = [[json.dumps({"trial_id": f"abcde_{i:05d}", "status": "TERMINATED", "config": {"point": p, **hps}}),
               json.dumps({"start_time": 0.0})] for i, p in enumerate(points)]
    return json.dumps({"trial_data": trials, "runner_data": {}, "stats": {}})


def study_folder(spec: dict | str, state: str | None) -> Callable[[Path], None]:
    def prepare(folder: Path) -> None:
        write(folder / "spec.json", spec if isinstance(spec, str) else json.dumps(stored_spec(folder, **spec)))
        if state is not None:
            write(folder / "experiment_state-2026-01-01_00-00-00.json", state)

    return prepare


POINT = {"model": "tiny", "intermediate_task": "builtin_nli", "seed": 0}


# ---------------------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], list[str]]  # writes the bad input under tmp, returns the CLI's arguments
    message: str  # a regular expression the output must match (whitespace runs read as one space)
    ray: bool = False  # the check asks the cluster, so the case runs against the module's small Ray
    marks: tuple = ()


ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0
CASES = [
    # the spec (validated before anything else, with its field path)
    Case("spec: typo'd key", run_spec(with_model(batchsize=8)),
         r"models\[0\]\.batchsize: unknown key \(not part of the spec schema"),
    Case("spec: wrong type", run_spec(with_model(max_length="long")),
         r"models\[0\]\.max_length: Input should be a valid integer"),
    Case("spec: empty step grid", run_spec(with_model(steps=[])), r"models\[0\]\.steps: the step grid is empty"),
    Case("spec: unsorted step grid", run_spec(with_model(steps=[20, 10])),
         r"models\[0\]\.steps: step milestones must be strictly increasing, got \[20, 10\]"),
    Case("spec: unknown task", run_spec(lambda d, tmp: d["intermediate_tasks"].append("mnli_typo")),
         r"intermediate_tasks\[2\]: unknown task 'mnli_typo'; known: \["),
    Case("spec: unknown language", run_spec(lambda d, tmp: d["target_tasks"][0].update(languages=["zz"])),
         r"target_tasks\[0\]\.languages: builtin_pos has no language 'zz'"),
    Case("spec: unknown model", run_spec(with_model(source={"builtin": "huge"})),
         r"models\[0\]\.source\.builtin: unknown built-in size 'huge'; known: \["),
    Case("spec: max_length too short for span QA",
         run_spec(lambda d, tmp: (d["intermediate_tasks"].append("builtin_squad"), d["models"][0].update(max_length=24))),
         r"models\[0\]\.max_length: 24 is too short for task\(s\) \['builtin_squad'\]: 32 tokens at least"),
    Case("spec: duplicate model name", run_spec(lambda d, tmp: d["models"].append(dict(TINY))),
         r"\(top level\): models: duplicate model name\(s\) \['tiny'\]"),
    Case("spec: a task of the other benchmark",
         run_spec(lambda d, tmp: d.update(benchmark="xtreme", target_tasks=[{"task": "xcopa", "languages": ["et"]}])),
         r"target_tasks\[0\]: 'xcopa' is a task of benchmark 'xtreme-r', not of 'xtreme', so the overall score would "
         r"be neither benchmark's"),
    Case("spec: warmup as long as the budget",
         run_spec(lambda d, tmp: d.update(intermediate_training={"schedule": "independent", "warmup_steps": 10})),
         r"intermediate_training\.warmup_steps 10 is at least models\[0\] \(tiny\)'s step budget\(s\) \[10\]: an "
         r"independent run to such a budget would end before its warmup does and never decay"),
    Case("spec: not YAML", lambda tmp: ["run", str(write(tmp / "spec.yaml", "study:\n  name: x\n models: [\n"))],
         r"spec\.yaml: 1 error\(s\) line 3, column 2: not valid YAML"),
    # the cluster (asked once Ray is up, before the tuner is built)
    Case("resources: more CPUs than the cluster", run_spec(with_model(resources={"cpu": 4})),
         r"cannot run: these trials cannot fit on this cluster: models\[0\] \(tiny\): a trial needs 4 CPU "
         r"\(1 worker\(s\) x 4\), the cluster has 2", ray=True),
    Case("resources: a GPU the cluster lacks", run_spec(with_model(resources={"gpu": 1})),
         r"models\[0\] \(tiny\): a trial needs 1 GPU \(1 worker\(s\) x 1\), the cluster has 0", ray=True),
    Case("resources: workers x CPUs", run_spec(with_model(resources={"cpu": 1, "workers": 3})),
         r"models\[0\] \(tiny\): a trial needs 3 CPU \(3 worker\(s\) x 1\), the cluster has 2", ray=True),
    # the data (every split read before any compute)
    Case("data: file missing", run_spec(real_target({"task": "tatoeba", "languages": ["de"]},
                                                    {"tatoeba/README": "the language files are missing\n"})),
         r"task tatoeba, split test, language de: \S+/data/tatoeba: file missing: no 'tatoeba\.deu-eng\.deu'"),
    Case("data: Tatoeba line counts differ",
         run_spec(real_target({"task": "tatoeba", "languages": ["de"]},
                              {"tatoeba/tatoeba.deu-eng.deu": "Hallo.\nDanke.\n",
                               "tatoeba/tatoeba.deu-eng.eng": "Hello.\n"})),
         r"tatoeba\.deu-eng\.deu:2: 2 lines, but \S+tatoeba\.deu-eng\.eng has 1 \(expected: line-aligned files: "
         r"the same number of lines in both\)"),
    Case("data: bad JSON line", run_spec(real_target({"task": "mewslix", "languages": ["de"]},
                                                     mewslix([json.dumps(ARTICLE), '{"context": {"language": "de",']))),
         r"wikinews_mentions-test\.jsonl:2: not valid JSON: Expecting property name enclosed in double quotes "
         r"\(column 31\) \(expected: one JSON object per line"),
    Case("data: CoNLL-U line with missing columns",
         run_spec(real_target({"task": "udpos", "languages": ["de"]}, {
             "udpos/en_ewt-ud-train.conllu": GOOD_EN, "udpos/en_ewt-ud-dev.conllu": GOOD_EN,
             "udpos/de_gsd-ud-test.conllu": conllu([("Das", "DET"), ("Haus", "NOUN")], cut=3)})),
         r"de_gsd-ud-test\.conllu:3: 4 tab-separated columns \(expected: CoNLL-U: 10 tab-separated columns"),
    Case("data: label outside the label set",
         run_spec(real_target({"task": "udpos", "languages": ["de"]}, {
             "udpos/en_ewt-ud-train.conllu": conllu([("The", "DET"), ("houses", "NOUNS")]),
             "udpos/en_ewt-ud-dev.conllu": GOOD_EN, "udpos/de_gsd-ud-test.conllu": GOOD_DE})),
         r"en_ewt-ud-train\.conllu:3: label 'NOUNS' in 'UPOS' is not in the task's label set \(expected: one of \["),
    # the storage (probed before Ray starts)
    Case("storage: a path under a regular file",
         run_spec(lambda d, tmp: (write(tmp / "afile", "x"),
                                  d["study"].update(storage=str(tmp / "afile" / "results")))),
         r"cannot run: study\.storage \(\S+/afile/results\): cannot write the study folder \S+/afile/results/bad: "
         r"\S+/afile is a file, not a folder; nothing was started"),
    Case("storage: a read-only folder",
         run_spec(lambda d, tmp: (unwritable_parent(tmp),
                                  d["study"].update(storage=str(tmp / "readonly" / "results")))),
         r"study\.storage \(\S+/readonly/results\): cannot write the study folder \S+: the folder \S+/readonly is "
         r"not writable \(Permission denied\)",
         marks=(pytest.mark.skipif(ROOT_USER, reason="root writes into read-only folders"),)),
    Case("storage: a folder that already holds a study",
         run_spec(lambda d, tmp: (write(tmp / "earlier" / "bad" / "spec.json", "{}"),
                                  write(tmp / "earlier" / "bad" / "rows" / "t1" / "10.parquet", "rows"),
                                  d["study"].update(storage=str(tmp / "earlier")))),
         r"cannot run: study\.name \(bad\): \S+/earlier/bad already holds a study \(rows, spec\.json\); continue it "
         r"with `xstudy resume \S+/earlier/bad`, or give this one another study\.name or study\.storage; nothing "
         r"was started"),
    # resume (checked before Ray starts)
    Case("resume: a folder without a study", resume(lambda folder: None),
         r"cannot resume: \S+/study: no study here \(expected \S+/study/spec\.json, written by `xstudy run`\)"),
    Case("resume: spec.json is not JSON", resume(study_folder("{ not json", None)),
         r"cannot resume: \S+/study/spec\.json: not the spec of a study \(not valid JSON: "),
    Case("resume: spec.json fails the schema", resume(study_folder({"models": [{**TINY, "batchsize": 8}]}, None)),
         r"\S+/study/spec\.json: the spec this study was made from does not validate against this version of "
         r"xstudy \(1 error\(s\)\).* models\[0\]\.batchsize: unknown key"),
    Case("resume: spec.json without Ray's experiment state", resume(study_folder({}, None)),
         r"spec\.json is here, but no Ray Tune experiment state \(experiment_state-\*\.json\): the study never "
         r"started its trials"),
    Case("resume: Ray's trials are not spec.json's grid",
         resume(study_folder({}, experiment_state([POINT, {**POINT, "model": "huge"}]))),
         r"spec\.json does not describe the trials in Ray Tune's experiment state experiment_state-\S+\.json .* "
         r"trial abcde_00001: its grid point \{'model': 'huge', 'intermediate_task': 'builtin_nli', 'seed': 0\} "
         r"is not in spec\.json's grid"),
    Case("resume: Ray's trials have other hyperparameters",
         resume(study_folder({}, experiment_state([POINT], {"intermediate_lr": 1e-3}))),
         r"trial abcde_00000: hyperparameters \['intermediate_lr'\], but spec\.json has \['intermediate_lr', "
         r"'target_lr'\]"),
    Case("resume: Ray's experiment state is corrupt", resume(study_folder({}, '{"trial_data": ')),
         r"experiment_state-\S+\.json: Ray Tune's experiment state cannot be read \(JSONDecodeError"),
]


def snapshot(folder: Path) -> list[tuple[str, int, int]]:
    return sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*"))


def refused(case: Case, tmp_path: Path) -> None:
    args = case.build(tmp_path)
    before = snapshot(tmp_path)
    # Wide columns: rich would otherwise fold long paths in the middle, and the message would not match.
    result = CliRunner().invoke(app, args, env={"COLUMNS": "2000"})
    output = " ".join(result.output.split())
    assert result.exit_code == 2, output
    assert re.search(case.message, output), f"{case.name}: {case.message!r} not in:\n{output}"
    assert snapshot(tmp_path) == before, "a refused command must write nothing"
    assert not (tmp_path / "results").exists()
    assert not result.exception or isinstance(result.exception, SystemExit), "an error, not a traceback"


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=c.marks) for c in CASES])
def test_bad_input_is_refused_with_its_rule_and_nothing_written(case, tmp_path, request):
    if case.ray:
        request.getfixturevalue("local_ray")  # the session's Ray: 2 CPUs, no GPU
    refused(case, tmp_path)


def test_a_read_only_folder_as_root_sees_it(tmp_path, monkeypatch):
    """Root writes into read-only folders, so the refusal a user gets from the OS is injected here."""
    import tempfile

    mkstemp = tempfile.mkstemp

    def refuse_in_readonly(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).name == "readonly":
            raise PermissionError(13, "Permission denied")
        return mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refuse_in_readonly)
    refused(next(c for c in CASES if c.name == "storage: a read-only folder"), tmp_path)


def test_the_table_covers_every_kind_of_bad_input():
    kinds = {c.name.split(":")[0] for c in CASES}
    assert kinds == {"spec", "resources", "data", "storage", "resume"}
    assert len({c.name for c in CASES}) == len(CASES)
