"""The deploy files run a spec that exists and offer the resources its largest trial asks for."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from study.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]


def _largest_trial(spec_path: Path) -> dict[str, float]:
    spec = load_spec(ROOT / spec_path)
    return {
        "cpu": max(m.resources.cpu * m.resources.workers for m in spec.models),
        "gpu": max(m.resources.gpu * m.resources.workers for m in spec.models),
    }


def _spec_of(command: str) -> Path:
    args = shlex.split(command)
    assert args[:2] == ["xstudy", "run"] and "--address" in args, command
    return Path(args[2])


def test_rayjob_runs_a_valid_spec_that_fits_one_worker_pod():
    job = yaml.safe_load((ROOT / "deploy" / "rayjob.yaml").read_text())
    assert job["kind"] == "RayJob"
    spec_path = _spec_of(job["spec"]["entrypoint"])
    need = _largest_trial(spec_path)
    cluster = job["spec"]["rayClusterSpec"]
    assert cluster["headGroupSpec"]["rayStartParams"]["dashboard-host"] == "127.0.0.1"
    (group,) = cluster["workerGroupSpecs"]
    params = group["rayStartParams"]
    limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert float(params["num-gpus"]) >= need["gpu"] and float(params["num-cpus"]) >= need["cpu"]
    assert float(limits["nvidia.com/gpu"]) == float(params["num-gpus"])
    import ray

    assert cluster["rayVersion"] == ray.__version__, "the cluster runs the Ray version the project pins"


def test_cluster_launcher_nodes_fit_the_largest_trial():
    config = yaml.safe_load((ROOT / "deploy" / "ray-cluster.yaml").read_text())
    worker = config["available_node_types"]["gpu_worker"]["resources"]
    for spec_path in ("search_spaces/xlmr_scale.yaml", "search_spaces/mt5_scale.yaml"):
        need = _largest_trial(Path(spec_path))
        assert worker["GPU"] >= need["gpu"] and worker["CPU"] >= need["cpu"], spec_path
    assert config["available_node_types"]["head"]["resources"]["CPU"] == 0
    assert any("--dashboard-host=127.0.0.1" in c for c in config["head_start_ray_commands"])
