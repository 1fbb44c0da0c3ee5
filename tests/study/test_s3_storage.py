"""A study on S3: `xstudy run` to an S3 URI, interrupted, `xstudy resume` of that URI, `xstudy status` and
`xstudy export` of it, against a real S3-compatible server (moto) on loopback.

The URI carries pyarrow's S3 options as a query, which Ray Tune's `storage_path` and our storage helpers both
accept: `s3://BUCKET/PREFIX?endpoint_override=127.0.0.1:PORT&scheme=http`. Credentials and region come from
the standard AWS environment variables, which the study's subprocesses and Ray's workers inherit.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.fs as pafs
import pytest
import yaml
from typer.testing import CliRunner

from helpers import small_spec
from study import results, storage
from study.cli import app

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
XSTUDY = [sys.executable, "-m", "study.cli"]
BUCKET = "xstudy-test"
STEPS = [0, 10, 20, 30]
FIRST_TRIAL = len(STEPS) - 1  # milestone files an intermediate trial writes (the baselines write step 0)
ALL_MILESTONES = sorted([*STEPS[1:], *STEPS[1:], 0, 0])  # 2 seeds x (builtin_nli at 10, 20, 30; the baseline at 0)
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """moto's S3 server on 127.0.0.1 with one bucket; yields the base URI of the studies in it."""
    import logging

    pytest.importorskip("moto.server")
    import boto3
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in AWS_ENV}
    os.environ.update(AWS_ENV)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}").create_bucket(Bucket=BUCKET)
        yield f"s3://{BUCKET}/studies?endpoint_override=127.0.0.1:{port}&scheme=http"
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _files(uri: str) -> list[str]:
    """Every file under a URI, as paths relative to it."""
    fs, root = storage.filesystem(uri)
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    return sorted(i.path[len(root) + 1:] for i in infos if i.type == pafs.FileType.File)


def _row_files(uri: str) -> list[str]:
    return [f for f in _files(uri) if f.startswith("rows/") and f.endswith(".parquet")]


def _recorded(uri: str) -> dict[tuple[str, int], str]:
    """(trial, milestone) -> when its rows were written: a milestone run again is written again."""
    df = results.collect(uri)
    return {(t, int(m)): str(r) for (t, m), r in df.groupby(["trial_id", "intermediate_steps"]).recorded_at.first().items()}


def _trial_reports(uri: str) -> dict[str, list[int]]:
    """Ray Tune's result.json of each trial (in the bucket): the milestones it reported."""
    fs, root = storage.filesystem(uri)
    out = {}
    for name in _files(uri):
        if name.count("/") == 1 and name.endswith("/result.json"):
            with fs.open_input_stream(f"{root}/{name}") as f:
                lines = f.read().decode().splitlines()
            out[name.split("/")[0]] = [json.loads(line)["intermediate_steps"] for line in lines if line.strip()]
    return out


@pytest.fixture(scope="module")
def study(s3, tmp_path_factory):
    """`xstudy run` to S3, stopped with SIGTERM once the first trial has finished and the second has written
    its first milestone, then `xstudy resume URI`.

    One trial at a time, longest first: the two intermediate trials (seeds 0 and 1), then the two baselines.
    The second starts only once Ray Tune has recorded the first as finished, so the first must never run
    again; the second is cut short and must go on from its checkpoint."""
    work = tmp_path_factory.mktemp("s3study")
    spec = small_spec(
        s3, name="s3study", search={"max_concurrent_trials": 1},
        models=[{"name": "tiny", "source": {"builtin": "tiny", "mlm_steps": 60}, "batch_size": 16,
                 "max_length": 48, "steps": STEPS}],
        intermediate_tasks=["none", "builtin_nli"], seeds=[0, 1],
        target_tasks=[{"task": "builtin_pos", "languages": ["xa"]}],
        target_training={"steps": 5, "batch_size": 16, "eval_batch_size": 128},
    )
    spec_file = work / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec.model_dump(mode="json")))
    uri = storage.join(s3, "s3study")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    # cwd is a scratch folder: a URI mistaken for a local path would show up there as a folder "s3:".
    log = (work / "run.log").open("w")  # a file, not a pipe: a full pipe would block the run
    proc = subprocess.Popen([*XSTUDY, "run", str(spec_file), "--num-cpus", "2"], cwd=work, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None and len(_row_files(uri)) < FIRST_TRIAL + 1:
            time.sleep(0.3)
        assert proc.poll() is None, f"the run ended early: {(work / 'run.log').read_text()[-3000:]}"
        assert len(_row_files(uri)) >= FIRST_TRIAL + 1, "the study never wrote the first trial and one more milestone"
        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    interrupted = _recorded(uri)
    import ray

    # In this process (one Python start less than a subprocess), on a Ray of its own started here: the
    # credentials above are in this process's environment, and Ray's workers take them from the Ray's start.
    ray.shutdown()
    try:
        resumed = CliRunner().invoke(app, ["resume", uri, "--num-cpus", "2"])
    finally:
        ray.shutdown()
    assert resumed.exit_code == 0, resumed.output[-3000:]
    return {"uri": uri, "work": work, "interrupted": interrupted, "resumed": resumed.output,
            "returncode": returncode, "run_log": (work / "run.log").read_text(),
            "seconds": time.monotonic() - started}


def test_storage_join_keeps_the_query_at_the_end():
    base = "s3://b/p?endpoint_override=127.0.0.1:9000&scheme=http"
    assert storage.join(base, "rows") == "s3://b/p/rows?endpoint_override=127.0.0.1:9000&scheme=http"
    assert storage.join("s3://b/p/?endpoint_override=127.0.0.1:9000&scheme=http", "/a/", "b.json") == "s3://b/p/a/b.json?endpoint_override=127.0.0.1:9000&scheme=http"
    assert storage.normalize("s3://b/p/?x=1") == "s3://b/p?x=1"
    assert storage.parent_and_name("s3://b/p/name?x=1") == ("s3://b/p?x=1", "name")
    assert storage.parent_and_name("/a/b/c") == ("/a/b", "c")
    assert storage.join("/tmp/x", "rows") == "/tmp/x/rows"


def test_sigterm_stops_the_run_with_its_exit_code_and_how_to_resume(study):
    """What a cluster scheduler sees: 128 + SIGTERM, and the command that continues the study."""
    assert study["returncode"] == 128 + signal.SIGTERM, study["run_log"][-3000:]
    log = " ".join(study["run_log"].split())
    assert "interrupted (SIGTERM):" in log and f"continue with: xstudy resume '{study['uri']}'" in log
    assert "Tuner.restore(" not in log, "Ray Tune's own hint (a Python call) is not shown"


def test_ray_state_and_our_files_are_in_the_bucket(study):
    files = _files(study["uri"])
    # Ray Tune's own state, so that `resume` works from any machine that can reach the bucket ...
    assert "tuner.pkl" in files and any(f.startswith("experiment_state-") for f in files)
    assert any("/checkpoint_" in f for f in files), "trial checkpoints went to S3"
    # ... and ours: the spec, every milestone's rows, the consolidated table, the predictions.
    assert "spec.json" in files and "results.parquet" in files
    assert sorted(f for f in files if f.startswith("rows/") and f.endswith(".parquet"))
    assert any(f.startswith("predictions/") for f in files)
    assert not any(p.name.startswith("s3") for p in study["work"].iterdir()), "nothing was written to a local 's3:' folder"


def test_resume_of_the_uri_finishes_without_rerunning(study):
    before, after = study["interrupted"], _recorded(study["uri"])
    assert len(before) < len(ALL_MILESTONES), f"the interruption came too late: {sorted(before)}"
    assert sorted(m for _, m in after) == ALL_MILESTONES
    by_trial = {t: sorted(m for u, m in before if u == t) for t, _ in before}
    finished = [t for t, ms in by_trial.items() if ms == STEPS[1:]]
    assert finished, f"no trial had finished before the interruption: {by_trial}"
    assert all(after[key] == before[key] for key in before if key[0] in finished), "the finished trial did not run again"
    reports = _trial_reports(study["uri"])  # Ray's own record, as synced to the bucket
    assert sorted(m for ms in reports.values() for m in ms) == ALL_MILESTONES, f"every milestone reported once: {reports}"
    fs, root = storage.filesystem(storage.join(study["uri"], "results.parquet"))
    df = pd.read_parquet(root, filesystem=fs)
    assert sorted(df.intermediate_steps.unique()) == STEPS
    assert df.groupby(["trial_id", "intermediate_steps", "split", "language", "metric"]).size().max() == 1
    assert "results table: s3://" in " ".join(study["resumed"].split())


def test_status_reads_the_uri(study):
    result = CliRunner().invoke(app, ["status", study["uri"], "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["study"] == "s3study"
    assert status["trials_by_state"]["finished"] == 4 and status["trials_by_state"]["errored"] == 0


def test_export_of_the_uri_writes_into_the_bucket_or_a_local_folder(study, tmp_path):
    result = CliRunner().invoke(app, ["export", study["uri"]])
    assert result.exit_code == 0, result.output
    report = _files(storage.join(study["uri"], "report"))
    assert {"results.parquet", "results.csv", "pareto.png", "report.html"} <= set(report)
    assert not any(name.startswith(".tmp-") for name in report)

    local = tmp_path / "report"
    result = CliRunner().invoke(app, ["export", study["uri"], "--out", str(local)])
    assert result.exit_code == 0, result.output
    assert (local / "pareto.png").stat().st_size > 0 and (local / "report.html").is_file()
    df = pd.read_csv(local / "results.csv")
    assert set(df.intermediate_steps) == set(STEPS) and set(df.language) >= {"en", "xa"}
