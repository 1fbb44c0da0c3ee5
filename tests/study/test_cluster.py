"""A study on a real two-node Ray cluster on this machine.

Trials land on both nodes and each row names the node it ran on; a trial whose node is lost moves to the
surviving node and finishes from its last checkpoint, with no milestone lost or written twice.

The cluster is started the way users start one, with `ray start` (a head, then a worker that joins it with
`--address`), not with `ray.cluster_utils.Cluster`: the auth token, the object-store memory, the ports and the
temp folders are then the ones a user has to get right, and the study is driven through the CLI (`xstudy run
SPEC --address HOST:PORT`), as on a real cluster. Each node runs `ray start --block` in a session of its own, as
a child of this test, so the test knows every process it started (the node's process tree, the raylet's
workers included) and stops only those: never `ray stop`, which stops every Ray process on the machine.
docs/ray.md ("Multi-node clusters") records what this needed.

Where trials run is made certain, not left to timing. Tune reuses actors (`reuse_actors=True`): a trial whose
actor is still starting is handed an actor that another trial has just freed, on whatever node that one is, so
on a loaded machine a slow node may never run anything. Two trials with different CPU requests cannot take
each other's actors, and a CPU held by a placement group keeps trials off a node until it is released.

One cluster (a head and a worker, 1 CPU each; 10-30 s to start on a loaded 2-core machine) is shared by the
module: the node-loss test kills the worker, and the last test stops what is left. Each test starts the
nodes it needs that are not running, so any order works.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml

from study import results
from helpers import TEST_MLM_STEPS, small_spec

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
OBJECT_STORE_BYTES = 100 * 1024**2  # per node; Ray's minimum is 75 MiB, and unset each node claims ~30% of RAM
START_TIMEOUT_S = 120
STUDY_TIMEOUT_S = 600

# A driver that holds one CPU of a node with a placement group until it reads a line (or its stdin closes).
HOLD_CPU = """
import sys
import ray
from ray.util.placement_group import placement_group, remove_placement_group
ray.init(address=sys.argv[1], log_to_driver=False, configure_logging=False)
pg = placement_group([{"CPU": 1}], bundle_label_selector=[{"ray.io/node-id": sys.argv[2]}])
ray.get(pg.ready(), timeout=120)
print("held", flush=True)
sys.stdin.readline()
remove_placement_group(pg)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


@dataclass
class RayNode:
    """One `ray start --block` process, the parent of every process of its node."""

    name: str
    proc: subprocess.Popen
    log: Path
    tmp: Path  # the node's TMPDIR: on a real cluster every machine has its own
    node_id: str = ""

    @property
    def label(self) -> str:
        """The `node` value a trial on this node writes in its rows."""
        return f"{socket.gethostname()}/{self.node_id[:8]}"

    def running(self) -> bool:
        return self.proc.poll() is None

    def processes(self) -> list[psutil.Process]:
        """The node's processes now: `ray start`, the raylet, GCS (head), agents and Ray workers."""
        if self.proc.poll() is not None:
            return []  # reaped: its pid may belong to someone else by now
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def wait_started(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ray start ({self.name}) exited {self.proc.returncode}:\n{self.log.read_text()}")
            raylet = [p for p in self.processes() if p.name() == "raylet"]
            if "Ray runtime started" in self.log.read_text() and raylet:
                self.node_id = next(a.split("=", 1)[1] for a in raylet[0].cmdline() if a.startswith("--node_id="))
                return
            time.sleep(0.1)
        raise TimeoutError(f"ray start ({self.name}) did not start in {START_TIMEOUT_S} s:\n{self.log.read_text()}")


def stop_processes(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait for the given processes to end, SIGKILL the ones still there; returns those that survived that."""
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:
        try:
            p.kill()  # psutil refuses if the pid now belongs to another process
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(alive, timeout=5)
    return alive


class LocalCluster:
    """A head and a worker node, 1 CPU each, started with `ray start` on this machine.

    Everything lives under `base`: each node's Ray temp dir (sessions, logs, sockets, and its own
    `ray_current_cluster` file, so that `/tmp/ray/ray_current_cluster` of other Ray users is never touched)
    and its TMPDIR. Nodes and drivers share one random auth token, passed in the environment, so that the
    user's `~/.ray/auth_token` is neither read nor written.
    """

    def __init__(self, base: Path):
        self.base = base
        self.token = secrets.token_hex(16)
        self.ip = _node_ip()
        self.port = 0
        self.dashboard_port = 0
        self.head: RayNode | None = None
        self.worker: RayNode | None = None
        self.started: list[RayNode] = []

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    def env(self) -> dict[str, str]:
        """The environment of every node and driver: token auth with this cluster's token.

        A Ray worker gets its environment from its node's `ray start`, not from the driver: what trials need
        (XSTUDY_CACHE_DIR, HF_HUB_OFFLINE from conftest) reaches them because the nodes inherit it here.
        """
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN_PATH")}
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token, RAY_USAGE_STATS_ENABLED="0")
        return env

    def _start(self, kind: str, args: list[str]) -> RayNode:
        name = f"{kind}{len(self.started)}"
        tmp = self.base / name / "tmp"
        tmp.mkdir(parents=True)
        log = self.base / f"{name}.log"
        cmd = [
            str(BIN / "ray"), "start", "--block", *args, "--num-cpus=1",
            f"--object-store-memory={OBJECT_STORE_BYTES}", f"--temp-dir={self.base / name}",
            f"--dashboard-agent-listen-port={free_port()}", "--min-worker-port=0", "--max-worker-port=0",
            "--disable-usage-stats",
        ]
        with log.open("w") as out:
            proc = subprocess.Popen(cmd, env={**self.env(), "TMPDIR": str(tmp)}, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        node = RayNode(name, proc, log, tmp)
        self.started.append(node)
        node.wait_started()
        return node

    def ensure_two_nodes(self) -> tuple[RayNode, RayNode]:
        if self.head is None or not self.head.running():
            if self.worker is not None:
                self.stop_node(self.worker)  # a worker of a head that is gone is no use
            self.port, self.dashboard_port = free_port(), free_port()
            # With its dashboard (on localhost), which serves `ray job submit`.
            self.head = self._start("head", [
                "--head", f"--port={self.port}", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
                f"--dashboard-port={self.dashboard_port}", f"--ray-client-server-port={free_port()}",
            ])
        if self.worker is None or not self.worker.running():
            self.worker = self._start("worker", [f"--address={self.address}"])
        return self.head, self.worker

    def processes(self) -> list[psutil.Process]:
        return [p for node in self.started for p in node.processes()]

    def stop_node(self, node: RayNode) -> list[psutil.Process]:
        """Stop a node cleanly: SIGTERM makes `ray start --block` shut down its own processes."""
        procs = node.processes()
        if node.running():
            node.proc.terminate()
        survivors = stop_processes(procs, timeout=30)
        node.proc.wait(timeout=10)  # reap it: it is this process's child
        return survivors

    def lose_node(self, node: RayNode) -> list[psutil.Process]:
        """The node's machine is gone: SIGKILL every process of the node at once."""
        procs = node.processes()
        for p in procs:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        survivors = stop_processes(procs, timeout=10)
        node.proc.wait(timeout=10)
        return survivors

    def stop(self) -> list[psutil.Process]:
        """Stop every node this cluster started (workers first); returns any process that outlived SIGKILL."""
        survivors = []
        for node in sorted(self.started, key=lambda n: n.name.startswith("head")):
            survivors += self.stop_node(node)
        return survivors

    # ------------------------------------------------------------------------------------------ drivers
    def start_study(self, spec_path: Path, log: Path) -> subprocess.Popen:
        """`xstudy run SPEC --address HOST:PORT` as a user runs it, with the cluster's token."""
        with log.open("w") as out:
            return subprocess.Popen([str(BIN / "xstudy"), "run", str(spec_path), "--address", self.address],
                                    env=self.env(), stdout=out, stderr=subprocess.STDOUT)

    def hold_cpu(self, node: RayNode) -> subprocess.Popen:
        """Take the node's CPU with a placement group of another driver; `release` gives it back."""
        holder = subprocess.Popen([sys.executable, "-c", HOLD_CPU, self.address, node.node_id], env=self.env(),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        while not lines or lines[-1] not in ("held\n", ""):  # Ray logs a line or two before; "" is EOF
            lines.append(holder.stdout.readline())
        if lines[-1] != "held\n":
            release(holder)
            raise RuntimeError(f"could not hold a CPU of {node.name}:\n{''.join(lines)}")
        return holder


def release(holder: subprocess.Popen) -> None:
    if holder.returncode is not None:
        return
    try:
        holder.communicate(timeout=30)  # its stdin closes: it removes its placement group and exits
    except subprocess.TimeoutExpired:
        holder.kill()
        holder.communicate()


def _node_ip() -> str:
    from ray.util import get_node_ip_address

    return get_node_ip_address()


def finish(driver: subprocess.Popen, log: Path) -> None:
    try:
        driver.wait(timeout=STUDY_TIMEOUT_S)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert driver.returncode == 0, f"xstudy run failed ({driver.returncode}):\n{log.read_text()[-6000:]}"


@pytest.fixture(scope="module")
def cluster():
    # A short path: Ray's socket paths under it (…/session_<date>_<pid>/sockets/plasma_store) must stay < 108 bytes.
    base = Path(tempfile.mkdtemp(prefix="xc-ray-", dir="/tmp"))
    c = LocalCluster(base)
    try:
        yield c
    finally:
        survivors = c.stop()
        shutil.rmtree(base, ignore_errors=True)
        assert not survivors, f"Ray processes of this test outlived SIGKILL: {survivors}"


def write_spec(folder: Path, name: str, models: list[dict], tasks: list[str]) -> tuple[Path, Path]:
    """The smallest study: tiny models, one target in one language, no ASHA (no trial stops at a rung)."""
    storage = folder / "storage"  # on one machine a local folder is shared storage: every node sees it
    spec = small_spec(
        str(storage), name=name,
        study={"name": name, "storage": str(storage), "max_failures": 2},
        models=[{"source": {"builtin": "tiny", "mlm_steps": TEST_MLM_STEPS}, "batch_size": 16, "max_length": 48, **m}
                for m in models],
        intermediate_tasks=tasks,
        target_tasks=[{"task": "builtin_pos", "languages": ["xa"]}],
        asha={"enabled": False},
        search={"max_concurrent_trials": 2},
    )
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False))
    return path, storage / name


def tune_reports(study: Path, trial_id: str) -> list[dict]:
    """What the trial reported to Tune, in order (the driver's result.json in the trial's folder)."""
    (folder,) = study.glob(f"*_{trial_id}_*")
    return [json.loads(line) for line in (folder / "result.json").read_text().splitlines() if line.strip()]


def test_trials_run_on_both_nodes_and_rows_name_their_node(cluster, tmp_path):
    head, worker = cluster.ensure_two_nodes()
    # Two baselines asking for 1 and 0.75 CPU: no node has room for both, and neither can take the other's
    # actor, so one runs on each node.
    spec_path, study = write_spec(tmp_path, "spread", [{"name": "tiny", "steps": [0], "resources": {"cpu": 1}},
                                                       {"name": "tiny_lean", "steps": [0], "resources": {"cpu": 0.75}}],
                                  ["none"])
    log = tmp_path / "driver.log"
    finish(cluster.start_study(spec_path, log), log)

    df = pd.read_parquet(study / "results.parquet")
    assert sorted(df.model.unique()) == ["tiny", "tiny_lean"] and set(df.intermediate_steps) == {0}
    node_of = df.groupby("model").node.unique().map(list).to_dict()
    assert sorted(node_of.values()) == sorted([[head.label], [worker.label]]), (node_of, head.label, worker.label)
    assert head.label != worker.label and head.label.startswith(socket.gethostname() + "/")
    for trial_id, nodes in df.groupby("trial_id").node.unique().items():
        assert [r["node"] for r in tune_reports(study, trial_id)] == list(nodes), "Tune's results name the node too"


def wait_for_checkpointed_milestone(driver: subprocess.Popen, study: Path, node: RayNode, milestone: int) -> str:
    """The trial that ran `milestone` on `node`, once its report of it has returned.

    A trial writes the milestone's rows, stages its checkpoint under TMPDIR (`xstudy-ckpt-*`) and reports it;
    `tune.report` persists the checkpoint to storage and returns only after the driver has registered it and
    asked for more (Tune's synchronous reporting), and then the staging folder is removed. So once the
    checkpoint is in storage and the node's TMPDIR holds no staging folder, the driver would restore the trial
    from this milestone, and the trial is training towards the next one.
    """
    seen: dict[str, str] = {}
    deadline = time.monotonic() + STUDY_TIMEOUT_S
    while driver.poll() is None and time.monotonic() < deadline:
        rows = study / "rows"
        for trial_id in [d.name for d in rows.iterdir()] if rows.is_dir() else []:
            if trial_id not in seen:
                path = Path(results.milestone_uri(str(study), trial_id, milestone))
                if not path.exists():
                    continue
                seen[trial_id] = pd.read_parquet(path, columns=["node"]).node.iloc[0]
            if (seen[trial_id] == node.label and list(study.glob(f"*_{trial_id}_*/checkpoint_000000"))
                    and not list(node.tmp.glob("xstudy-ckpt-*"))):
                return trial_id
        time.sleep(0.05)
    raise AssertionError(f"no trial reported milestone {milestone} on {node.label} (driver exit: {driver.poll()})")


def test_a_trial_whose_node_is_lost_finishes_on_the_other_node_from_its_checkpoint(cluster, tmp_path):
    head, worker = cluster.ensure_two_nodes()
    spec_path, study = write_spec(tmp_path, "lost", [{"name": "tiny", "steps": [0, 10, 20]}], ["builtin_nli"])
    log = tmp_path / "driver.log"
    holder = cluster.hold_cpu(head)  # until the worker is lost, trials can only run on the worker
    driver = None
    try:
        driver = cluster.start_study(spec_path, log)
        victim = wait_for_checkpointed_milestone(driver, study, worker, milestone=10)
        assert not Path(results.milestone_uri(str(study), victim, 20)).exists(), "the trial is still running"
        worker_procs = worker.processes()
        survivors = cluster.lose_node(worker)
        lost_at = time.monotonic()
        assert not survivors and not any(p.is_running() for p in worker_procs)
    finally:
        release(holder)  # the head takes over (and should anything above fail, the study can still end)
        if driver is not None:
            finish(driver, log)
    print(f"the study finished {time.monotonic() - lost_at:.1f} s after the worker node was lost")

    df = pd.read_parquet(study / "results.parquet")
    milestones = df.groupby("intermediate_task").intermediate_steps.unique().map(sorted).to_dict()
    assert milestones == {"none": [0], "builtin_nli": [10, 20]}, milestones
    key = ["trial_id", "intermediate_steps", "target_task", "language", "split", "metric"]
    assert not df.duplicated(key).any(), "a milestone's rows were written twice"
    sizes = df[df.trial_id == victim].groupby("intermediate_steps").size()
    assert sizes[10] == sizes[20], f"both milestones have all their rows: {sizes.to_dict()}"
    moved = df[df.trial_id == victim].groupby("intermediate_steps").node.unique().map(list).to_dict()
    assert moved == {10: [worker.label], 20: [head.label]}, moved

    # Tune's own record: milestone 10 reported once, on the worker; restored from its checkpoint (not from
    # scratch), the trial went on at iteration 2 and reported milestone 20 on the head.
    reports = [(r["intermediate_steps"], r["training_iteration"], r["node"]) for r in tune_reports(study, victim)]
    assert reports == [(10, 1, worker.label), (20, 2, head.label)], reports
    retries = study / "retries" / f"{victim}.json"  # written by study.recovery_callback, where present
    if retries.exists():
        assert [r["restarted_from"] for r in json.loads(retries.read_text())] == [10]


def test_address_auto_and_ray_job_submit_run_a_study(cluster, tmp_path):
    """`xstudy run SPEC --address auto` on a node where RAY_ADDRESS names the cluster, and
    `ray job submit -- xstudy run SPEC` through the head's job server: both run the study on the cluster."""
    cluster.ensure_two_nodes()
    models = [{"name": "tiny", "steps": [0]}]
    spec_path, study = write_spec(tmp_path, "auto", models, ["none"])
    log = tmp_path / "auto.log"
    with log.open("w") as out:
        driver = subprocess.Popen([str(BIN / "xstudy"), "run", str(spec_path), "--address", "auto"],
                                  env={**cluster.env(), "RAY_ADDRESS": cluster.address}, stdout=out, stderr=subprocess.STDOUT)
    finish(driver, log)
    df = pd.read_parquet(study / "results.parquet")
    assert set(df.intermediate_steps) == {0} and df.node.iloc[0] in {cluster.head.label, cluster.worker.label}

    spec_path, study = write_spec(tmp_path, "job", models, ["none"])
    job = subprocess.run(
        [str(BIN / "ray"), "job", "submit", "--address", f"http://127.0.0.1:{cluster.dashboard_port}", "--",
         str(BIN / "xstudy"), "run", str(spec_path)],
        env=cluster.env(), capture_output=True, text=True, timeout=STUDY_TIMEOUT_S)
    assert job.returncode == 0 and "succeeded" in job.stdout, job.stdout[-4000:] + job.stderr[-2000:]
    assert "results table:" in job.stdout, "the job's output is xstudy's"
    df = pd.read_parquet(study / "results.parquet")
    assert set(df.intermediate_steps) == {0} and len(df) > 0


def test_stopping_the_cluster_ends_all_its_processes(cluster):
    if cluster.head is None:
        cluster.ensure_two_nodes()
    procs = cluster.processes()
    assert procs, "the cluster has processes to stop"
    assert not cluster.stop(), "every process stopped"
    assert not any(p.is_running() for p in procs)
    with socket.socket() as s:
        assert s.connect_ex((cluster.ip, cluster.port)) != 0, "the head's GCS port is closed"
