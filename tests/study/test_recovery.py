"""Nothing lost, nothing repeated: a driver killed with SIGKILL mid-study, and the disk a study uses.

One small deterministic study (a step-0 baseline, and one intermediate task through four milestones) runs
three times through the command line, each on its own Ray: once uninterrupted (the reference, while a
thread measures the disk it uses), once until its driver is SIGKILLed mid-study, and once more as
`xstudy resume` of the killed one. The resumed study must equal the reference value for value. A test
without Ray pins down the case a kill makes likely: rows written, their report lost.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from study import results
from study.spec import SpecError, parse_spec
from study.trial import Trial
from helpers import small_spec
from recovery_helpers import OwnRay, folder_bytes

STEPS = [0, 10, 20, 30, 40]
KEEP = 1  # checkpoints_to_keep: the smallest, so that an accumulating checkpoint shows at once
KEY = ["model", "intermediate_task", "seed", "intermediate_steps", "target_task", "language", "split", "metric"]
# What may differ between two runs of one deterministic study: identities, places and clocks.
UNSTABLE = {"trial_id", "node", "recorded_at"}
RESULT_DIRS = {"rows", "metrics", "predictions", "report", "retries", "stopped", "faults"}


def study_spec(storage: Path) -> Path:
    spec = small_spec(
        str(storage), name="det",
        models=[{"name": "tiny", "source": {"builtin": "tiny", "mlm_steps": 60}, "batch_size": 16, "max_length": 48,
                 "steps": STEPS}],
        target_tasks=[{"task": "builtin_pos", "languages": ["en", "xa"]},
                      {"task": "builtin_xnli", "languages": ["xb"]}],
    )
    data = spec.model_dump(mode="json")
    data["study"]["checkpoints_to_keep"] = KEEP
    path = storage / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def expected_files() -> int:
    return 1 + (len(STEPS) - 1)  # the baseline at 0, the intermediate trial at every other milestone


def timeless(metrics: dict) -> dict:
    """A report without its wall-clock columns, which differ between any two runs."""
    return {k: v for k, v in metrics.items() if not k.endswith("_seconds")}


def rows_files(study: Path) -> list[Path]:
    return sorted(p for p in (study / "rows").rglob("*.parquet") if not p.name.startswith(".tmp-"))


def comparable(df: pd.DataFrame) -> pd.DataFrame:
    columns = [c for c in df.columns if c not in UNSTABLE and not c.endswith("_seconds")]
    out = df[columns].sort_values(KEY).reset_index(drop=True)
    assert not out.duplicated(KEY).any(), "each (model, task, seed, steps, target, language, split, metric) once"
    return out


class DiskSampler(threading.Thread):
    """Polls the disk a study uses: its folder, split into results and the rest, and the run's temp folders."""

    def __init__(self, study: Path, ray: OwnRay, period: float = 0.25):
        super().__init__(daemon=True)
        self.study, self.ray, self.period = study, ray, period
        self.samples: list[dict] = []
        self.stop = threading.Event()

    def sample(self) -> dict:
        def is_result(p: Path) -> bool:
            rel = p.relative_to(self.study).parts
            return rel[0] in RESULT_DIRS or rel[0] == "results.parquet"

        checkpoints = {d.name: [folder_bytes(c) for c in d.glob("checkpoint_*")]
                       for d in self.study.glob("xstudy_trial_*")}
        exists = self.study.exists()
        return {
            "milestones": len(rows_files(self.study)) if exists else 0,
            "results": folder_bytes(self.study, lambda p: not is_result(p)) if exists else 0,
            "beside_results": (folder_bytes(self.study, is_result) if exists else 0) + folder_bytes(self.ray.tmp)
            # Ray's trial working dirs and driver artifacts
            + sum(folder_bytes(a) for a in (self.ray.dir / "ray").glob("session_*/artifacts")),
            "tmp": folder_bytes(self.ray.tmp),
            "checkpoints": checkpoints,  # trial folder -> bytes of each checkpoint folder in it
        }

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append(self.sample())
            time.sleep(self.period)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted study, with the disk it used sampled as it ran."""
    storage = tmp_path_factory.mktemp("reference")
    spec = study_spec(storage)
    study = storage / "det"
    ray = OwnRay()
    sampler = DiskSampler(study, ray)
    try:
        sampler.start()
        started = time.time()
        rc = ray.run("run", str(spec), log=storage / "run.log")
        seconds = time.time() - started
        sampler.stop.set()
        sampler.join()
        sampler.samples.append(sampler.sample())
    finally:
        ray.close()
    assert rc == 0, (storage / "run.log").read_text()[-3000:]
    print(f"reference run: {seconds:.1f} s, {len(sampler.samples)} disk samples")
    return study, pd.read_parquet(study / "results.parquet"), sampler.samples


@pytest.mark.slow
def test_killed_driver_resumes_without_losing_or_repeating_a_milestone(reference, tmp_path):
    ref_study, ref_df, _ = reference
    spec = study_spec(tmp_path)
    study = tmp_path / "det"
    ray = OwnRay()
    try:
        driver = ray.start("run", str(spec), log=tmp_path / "run.log")
        deadline = time.time() + 240
        # Kill as soon as two milestones' rows exist, the moment Ray's own experiment snapshot (taken every
        # few seconds) most likely lags behind them.
        while time.time() < deadline and len(rows_files(study)) < 2 and driver.poll() is None:
            time.sleep(0.05)
        assert driver.poll() is None, "the study ended before the kill:\n" + (tmp_path / "run.log").read_text()[-3000:]
        driver.kill()  # SIGKILL: no handler runs, nothing is flushed
        driver.wait(timeout=30)
        ray.kill_all()  # the Ray processes it left behind, so that none writes after this point
        before = {p: (p.stat().st_mtime_ns, pq.read_table(p).column("recorded_at").to_pylist())
                  for p in rows_files(study)}
        assert 2 <= len(before) < expected_files(), f"the kill came too late to test anything: {sorted(before)}"

        rc = ray.run("resume", str(study), log=tmp_path / "resume.log")
        assert rc == 0, (tmp_path / "resume.log").read_text()[-3000:]
    finally:
        ray.close()

    after = rows_files(study)
    assert len(after) == expected_files(), "every milestone's rows, exactly once"
    for path, (mtime, recorded_at) in before.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was written again after the resume"
        assert pq.read_table(path).column("recorded_at").to_pylist() == recorded_at
    pd.testing.assert_frame_equal(comparable(pd.read_parquet(study / "results.parquet")), comparable(ref_df),
                                  check_exact=True)


@pytest.mark.slow
def test_disk_stays_bounded_however_many_milestones(reference):
    study, _, samples = reference
    trials = sorted(study.glob("xstudy_trial_*"))
    assert len(trials) == 2
    kept = {t.name: [folder_bytes(c) for c in t.glob("checkpoint_*")] for t in trials}
    assert all(len(sizes) == KEEP for sizes in kept.values()), f"only the last {KEEP} checkpoint(s) stay: {kept}"
    assert max(len(c) for s in samples for c in s["checkpoints"].values()) <= KEEP + 1, \
        "at most one checkpoint more, while the next one is saved"
    assert samples[-1]["tmp"] == 0, "no temporary checkpoint folder is left behind"
    checkpoint = max(max(sizes) for sizes in kept.values())
    concurrent = 2  # search.max_concurrent_trials
    slack = 2**20  # bytes: Ray's experiment state, result logs and event files (a report adds a few KB)
    # Every trial's kept checkpoints, plus, per running trial, the one being saved and its temporary copy.
    bound = sum(map(sum, kept.values())) + 2 * concurrent * checkpoint + slack
    peak = max(s["beside_results"] for s in samples)
    print(f"checkpoint {checkpoint / 2**20:.2f} MiB, peak beside the results {peak / 2**20:.2f} MiB, "
          f"bound {bound / 2**20:.2f} MiB, results {samples[-1]['results'] / 2**20:.2f} MiB")
    assert peak <= bound, f"{peak} bytes beside the results, more than {bound}"
    assert samples[-1]["beside_results"] <= sum(map(sum, kept.values())) + slack, "what stays: kept checkpoints, logs"

    # Nothing but the results grows with the milestones: from the first moment every trial has a whole
    # checkpoint (a trial's checkpoints all weigh the same, to a few bytes of JSON) to the end, with at least
    # two more milestones in between, each of which would add a checkpoint's bytes if one accumulated.
    def settled(sample) -> bool:
        return all(any(abs(b - kept[t][0]) < 1024 for b in sample["checkpoints"].get(t, [])) for t in kept)

    first = next(i for i, s in enumerate(samples) if settled(s))
    assert samples[first]["milestones"] < expected_files() - 1, "milestones must follow to show anything"
    growth = samples[-1]["beside_results"] - min(s["beside_results"] for s in samples[first:])
    assert growth < checkpoint / 4, f"{growth} more bytes beside the results after the later milestones"


@pytest.fixture
def one_thread():
    """As in a 1-CPU Ray trial; on a busy machine, more threads than cores spin far longer than they compute."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_rows_written_before_a_crash_are_kept_and_the_trunk_replayed_exactly(tmp_path, one_thread):
    """Without Ray: the crash between a milestone's rows and its report, which a killed driver can also cause."""
    config = {"model": "tiny", "intermediate_task": "builtin_nli", "seed": 0,
              "intermediate_lr": 1e-3, "target_lr": 1e-3}
    overrides = {"models": [{"name": "tiny", "source": {"builtin": "tiny", "mlm_steps": 60}, "batch_size": 16,
                             "max_length": 48, "steps": [0, 10, 20, 30]}],
                 "target_tasks": [{"task": "builtin_pos", "languages": ["xa"]}]}
    whole = []
    Trial(small_spec(str(tmp_path / "whole"), **overrides), config, "t").run(lambda m, _: whole.append(m))

    spec = small_spec(str(tmp_path / "crashed"), **overrides)
    study = f"{tmp_path}/crashed/t"

    def crash_at_20(metrics, folder):
        if metrics["intermediate_steps"] == 20:
            raise KeyboardInterrupt  # rows of 20 are written; its checkpoint never reaches Tune
        shutil.copytree(folder, tmp_path / "checkpoint")

    with pytest.raises(KeyboardInterrupt):
        Trial(spec, config, "t").run(crash_at_20)
    written = Path(results.milestone_uri(study, "t", 20))
    mtime = written.stat().st_mtime_ns
    retried = []
    Trial(spec, config, "t").run(lambda m, _: retried.append(m), tmp_path / "checkpoint")

    assert [m["intermediate_steps"] for m in retried] == [20, 30]
    assert timeless(retried[0]) == timeless(whole[1]), "milestone 20 reports what it reported before the crash"
    assert written.stat().st_mtime_ns == mtime, "milestone 20 was not evaluated again"
    # Milestone 30 comes after a replay of the trunk from 10 to 20: it matches the uninterrupted run exactly.
    assert timeless(retried[1]) == timeless(whole[2])
    pd.testing.assert_frame_equal(comparable(results.collect(study)),
                                  comparable(results.collect(f"{tmp_path}/whole/t")), check_exact=True)


def test_checkpoints_to_keep_is_at_least_one(tmp_path):
    data = small_spec(str(tmp_path)).model_dump(mode="json")
    assert data["study"]["checkpoints_to_keep"] == 2
    data["study"]["checkpoints_to_keep"] = 0  # a trial resumes from its latest checkpoint: there must be one
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    assert [path for path, _ in info.value.errors] == ["study.checkpoints_to_keep"]


def test_fault_injection_hook_is_parsed_strictly():
    from study.recovery import parse_faults

    assert parse_faults("raise@20, kill@10:builtin_nli") == [("raise", 20, None), ("kill", 10, "builtin_nli")]
    assert parse_faults("") == []
    with pytest.raises(ValueError, match="ACTION@MILESTONE"):
        parse_faults("explode@10")
