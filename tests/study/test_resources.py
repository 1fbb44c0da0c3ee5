"""study.resources: what a trial asks Ray for, how many trials run at once, and what is refused before launch.
Pure functions of the spec and a cluster's resources: no Ray here."""

from __future__ import annotations

from helpers import small_spec

from study import resources


def _model(name: str, workers: int, **extra) -> dict:
    return {"name": name, "source": {"builtin": "tiny", "mlm_steps": 60}, "batch_size": 16, "max_length": 48,
            "steps": [0, 10, 20], "resources": {"cpu": 0.5, "workers": workers}, "parallelism": "ddp", **extra}


def _spec(**models):
    return small_spec("/tmp/unused", models=[_model("w1", 1), _model("w2", 2)], intermediate_tasks=["builtin_nli"],
                      target_tasks=[{"task": "builtin_pos", "languages": ["xa"]}], **models)


def _point(model: str) -> dict:
    return {"model": model, "intermediate_task": "builtin_nli", "seed": 0}


def test_a_train_run_trial_reserves_its_workers_once():
    """A Train-run size's Tune trial reserves no CPU: its workers are reserved by Train, all at once."""
    spec = _spec()
    request = resources.tune_request(spec)
    assert request({"point": _point("w2")}) == resources.driver_resources() == {
        "cpu": 0, "gpu": 0, "memory": resources.DRIVER_MEMORY}
    assert resources.resources_of(spec)({"point": _point("w2")}) == {"cpu": 1.0, "gpu": 0.0}, "what check_resources refuses by"
    # A size without workers or parallelism stays one process and reserves its own share.
    one = small_spec("/tmp/unused", models=[{**_model("p", 1), "parallelism": None}])
    assert not resources.uses_train(one.models[0]) and resources.uses_train(spec.models[0])
    assert resources.tune_request(one)({"point": _point("p")}) == {"cpu": 0.5, "gpu": 0.0}
    # A small size's trial may take a fraction of a GPU; a Train-run size's workers x their share.
    halves = spec.model_copy(update={"models": [m.model_copy(update={"resources": m.resources.model_copy(update={"gpu": 0.5})})
                                                for m in spec.models]})
    assert resources.resources_of(halves)({"point": _point("w1")}) == {"cpu": 0.5, "gpu": 0.5}
    assert resources.resources_of(halves)({"point": _point("w2")}) == {"cpu": 1.0, "gpu": 1.0}
    assert resources.resources_of(halves)(_point("w2")) == {"cpu": 1.0, "gpu": 1.0}, "a flat config too"


def test_the_trials_at_once_are_what_fits_of_one_size_then_the_spec_s_limit():
    spec = _spec()  # search.max_concurrent_trials: 2
    # w1 needs 0.5 CPU: 2 fit on 1 CPU, then the spec's 2.
    assert resources.concurrency_limit(spec, {"CPU": 1.0}) == 2
    free = spec.model_copy(update={"search": spec.search.model_copy(update={"max_concurrent_trials": None})})
    assert resources.concurrency_limit(free, {"CPU": 3.0}) == 6
    assert resources.concurrency_limit(free, {"CPU": 0.2}) == 1, "at least one"
    limited = resources.limit_concurrency(free, {"CPU": 3.0})
    assert limited.search.max_concurrent_trials == 6 and free.search.max_concurrent_trials is None
    assert resources.limit_concurrency(spec, {"CPU": 1.0}) is spec, "unchanged: the same spec"
    single = small_spec("/tmp/unused", search={"max_concurrent_trials": 3})
    assert resources.concurrency_limit(single, {"CPU": 1.0}) == 3, "no Train-run size: the spec's own limit"


def test_a_size_that_needs_more_than_the_cluster_is_refused_by_name():
    spec = _spec()
    assert resources.check_resources(spec, {"CPU": 2.0}) == []
    problems = resources.check_resources(spec, {"CPU": 0.75})
    assert problems == ["models[1] (w2): a trial needs 1 CPU (2 worker(s) x 0.5), the cluster has 0.75"]
    gpus = spec.model_copy(update={"models": [spec.models[0].model_copy(update={"resources": spec.models[0].resources.model_copy(update={"gpu": 1.0})})]})
    assert resources.check_resources(gpus, {"CPU": 4.0}) == ["models[0] (w1): a trial needs 1 GPU (1 worker(s) x 1), the cluster has 0"]
