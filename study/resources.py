"""What a trial asks Ray for, and how many trials may run at once: the study's resource policy in one place.

- A single-process size's trial reserves its own `resources.cpu` and `resources.gpu` (`resources_of`).
- A size run through Ray Train (`uses_train`: several workers, or a parallelism set explicitly) runs its
  Tune trial as a driver that reserves no CPU or GPU, only `DRIVER_MEMORY`; its workers reserve theirs
  through Train's placement group, all at once (`tune_request`, docs/ray.md).
- Such drivers would all start at once and wait for workers, so `concurrency_limit` caps the trials that run
  together at what fits on the cluster.
- `check_resources` refuses, before anything starts, a size whose trial needs more than the whole cluster.

`study.launch` applies the policy; `study.memory_plan` and `study.trainable` ask `uses_train`. The functions
take the spec and a cluster's resources (Ray's `cluster_resources()` keys, "CPU" and "GPU"), so they are
tested without Ray.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from study.grid import point_of
from study.spec import ModelSpec, StudySpec

DRIVER_MEMORY = 256 * 1024**2  # bytes: what a driver trial reserves (a request cannot be empty, and no CPU)

Request = Callable[[dict[str, Any]], dict[str, float]]  # a trial's config -> Tune's resource request


def uses_train(model: ModelSpec) -> bool:
    """Whether a size's trials run as a Ray Train job (several workers, or a parallelism set explicitly)."""
    return model.resources.workers > 1 or model.parallelism is not None


def resources_of(spec: StudySpec) -> Request:
    """A trial's whole need, by its config: cpu and gpu per worker times the workers."""

    def request(config: dict[str, Any]) -> dict[str, float]:
        r = spec.model(point_of(config)["model"]).resources
        return {"cpu": r.cpu * r.workers, "gpu": r.gpu * r.workers}

    return request


def driver_resources() -> dict[str, float]:
    """What the Tune trial of a Train-run size reserves: no CPU or GPU (its workers reserve those)."""
    return {"cpu": 0, "gpu": 0, "memory": DRIVER_MEMORY}


def tune_request(spec: StudySpec, single_process: Request | None = None) -> Request:
    """The per-config resource request for `tune.with_resources`: the driver's for Train-run sizes, else
    `single_process(config)` (by default `resources_of`: a trial's own cpu and gpu)."""
    own = single_process or resources_of(spec)

    def request(config: dict[str, Any]) -> dict[str, float]:
        if uses_train(spec.model(point_of(config)["model"])):
            return driver_resources()
        return own(config)

    return request


def check_resources(spec: StudySpec, cluster: Mapping[str, float]) -> list[str]:
    """Model sizes whose trial asks for more than the whole cluster has: refused before launch."""
    problems = []
    for i, m in enumerate(spec.models):
        need = resources_of(spec)({"model": m.name})
        for key, amount in need.items():
            if amount > cluster.get(key.upper(), 0) + 1e-9:
                problems.append(
                    f"models[{i}] ({m.name}): a trial needs {amount:g} {key.upper()} "
                    f"({m.resources.workers} worker(s) x {getattr(m.resources, key):g}), the cluster has "
                    f"{cluster.get(key.upper(), 0):g}"
                )
    return problems


def concurrency_limit(spec: StudySpec, cluster: Mapping[str, float]) -> int | None:
    """How many trials may run at once, when some size runs through Ray Train (None: no limit needed).

    A Train-run trial's driver reserves almost nothing, so Tune alone would start every trial at once and
    most would wait for workers. The limit is the most trials of any one size that fit on the cluster
    together; `search.max_concurrent_trials` lowers it further.
    """
    if not any(uses_train(m) for m in spec.models):
        return spec.search.max_concurrent_trials
    fits = []
    for m in spec.models:
        r = m.resources
        n = [cluster.get(key, 0.0) / (need * r.workers) for key, need in (("CPU", r.cpu), ("GPU", r.gpu)) if need > 0]
        fits.append(max(1, int(min(n) + 1e-9)) if n else 1)
    limit = max(fits)
    if spec.search.max_concurrent_trials:
        limit = min(limit, spec.search.max_concurrent_trials)
    return limit


def limit_concurrency(spec: StudySpec, cluster: Mapping[str, float]) -> StudySpec:
    """The spec with `search.max_concurrent_trials` set to `concurrency_limit` (the same spec if unchanged)."""
    limit = concurrency_limit(spec, cluster)
    if limit == spec.search.max_concurrent_trials:
        return spec
    return spec.model_copy(update={"search": spec.search.model_copy(update={"max_concurrent_trials": limit})})
