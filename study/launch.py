"""Kept as one module: everything between a spec and its Ray Tune experiment (search space, scheduler, resources,
tuner); `resume` rebuilds exactly what `run` built, so both stay beside the builders they share.

Build one Ray Tune experiment from a spec, run it, and resume it.

The experiment lives at `<storage>/<study name>`: Ray's own state, the result rows (`rows/`), the spec it
was made from (`spec.json`), the scheduler's decisions (`scheduler.json`) and, once the run ends, the
consolidated `results.parquet`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import threading
from typing import Any

import numpy as np

from study import environment, launch_order, memory_plan, outcome, preflight, resources, results, status, storage, trackers
from study.grid import POINT, grid_points, point_of
from study.outcome import Outcome
from study.recovery_callback import RetryRecorder
from study.scheduler import GroupedASHA
from study.spec import Choice, Grid, LogUniform, StudySpec, Uniform
from study.trainable import run_in_tune

# Snapshot the experiment state often: after a killed driver, resume must not re-run finished trials.
os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "5")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "1")
# The experiment snapshot is small and local by default; Tune's warning about its sync time is noise here.
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")

SIGNAL_METRIC = "dev_signal"
TIME_ATTR = "intermediate_steps"


def tune_expression(value: Any) -> Any:
    from ray import tune

    if isinstance(value, Choice):
        return tune.choice(value.choice)
    if isinstance(value, Grid):
        return tune.grid_search(value.grid)
    if isinstance(value, LogUniform):
        return tune.loguniform(*value.loguniform)
    if isinstance(value, Uniform):
        return tune.uniform(*value.uniform)
    return value


class SharedSample:
    """A sampled hyperparameter whose value is a pure function of the configuration, not of the seed.

    Tune's grid and random search draw a `loguniform`/`uniform`/`choice` value afresh for every grid point,
    and the seed is a grid axis: the seeds of one configuration would get different values, become
    different configurations, and ASHA (which judges a configuration on all its seeds) would never judge
    them. Here the value is drawn from a generator seeded by (`search.seed`, the hyperparameter's name, the
    trial's grid point without its seed, its sample index, the grid-searched values): every seed of a
    configuration draws the same value, distinct configurations draw independently, and a resumed study
    draws the same values again. The draw itself is Tune's own (`Domain.sample`).
    A class rather than a closure, so that Tune can store it with the experiment.
    """

    def __init__(self, name: str, value: Choice | LogUniform | Uniform, search_seed: int, grid_names: list[str]):
        self.name = name
        self.value = value
        self.search_seed = search_seed
        self.grid_names = sorted(grid_names)  # the grid-searched hyperparameters, part of a configuration

    def __call__(self, config: dict[str, Any]) -> Any:
        point = {k: v for k, v in config[POINT].items() if k != "seed"}
        grid = {k: config[k] for k in self.grid_names}
        identity = json.dumps({"name": self.name, "point": point, "grid": grid}, sort_keys=True, default=str)
        digest = int.from_bytes(hashlib.sha256(identity.encode()).digest()[:8], "big")
        rng = np.random.default_rng([self.search_seed, digest])
        return tune_expression(self.value).sample(random_state=rng)


def param_space(spec: StudySpec) -> dict[str, Any]:
    """The grid of points and the hyperparameters: grid-searched, shared samples (`SharedSample`), constants."""
    from ray import tune

    space: dict[str, Any] = {POINT: tune.grid_search(launch_order.longest_first(spec, grid_points(spec)))}
    grid_names = [name for name, value in spec.hyperparameters.items() if isinstance(value, Grid)]
    for name, value in spec.hyperparameters.items():
        if isinstance(value, (Choice, LogUniform, Uniform)):
            space[name] = tune.sample_from(SharedSample(name, value, spec.search.seed, grid_names))
        else:
            space[name] = tune_expression(value)
    return space


class OptunaSpace:
    """Optuna's define-by-run space: the grid points in turn, the hyperparameters sampled by TPE.

    Optuna cannot take Tune's grid_search, so trial number n runs point n mod len(points). Seeds are the
    innermost axis of the points, and only a configuration's first seed samples hyperparameters: its other
    seeds repeat them (as constants), so seeds stay repeats of one configuration and ASHA can judge their mean.
    A class rather than a closure, so that Tune can checkpoint the searcher with it.
    """

    def __init__(self, spec: StudySpec):
        self.points = launch_order.longest_first(spec, grid_points(spec))
        self.n_seeds = len(spec.seeds)
        self.hyperparameters = dict(spec.hyperparameters)

    def __len__(self) -> int:
        return len(self.points)

    def __call__(self, trial) -> dict[str, Any]:
        index = trial.number % len(self.points)
        seed_index = index % self.n_seeds
        constants: dict[str, Any] = {POINT: self.points[index]}
        sampled = trial.study.trials[trial.number - seed_index].params if seed_index else None
        for name, value in self.hyperparameters.items():
            if sampled is not None and name in sampled:
                constants[name] = sampled[name]
            elif isinstance(value, (Choice, Grid)):
                trial.suggest_categorical(name, value.choice if isinstance(value, Choice) else value.grid)
            elif isinstance(value, LogUniform):
                trial.suggest_float(name, *value.loguniform, log=True)
            elif isinstance(value, Uniform):
                trial.suggest_float(name, *value.uniform)
            else:
                constants[name] = value
        return constants


def search_algorithm(spec: StudySpec):
    """None (Tune's grid and random sampling), or Optuna's TPE; limited to max_concurrent_trials. Its mode, as
    the scheduler's, is the direction of the signal's metrics (`StudySpec.signal_mode`)."""
    if spec.search.algorithm != "optuna":
        return None
    import optuna
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    searcher = OptunaSearch(space=OptunaSpace(spec), metric=SIGNAL_METRIC, mode=spec.signal_mode(),
                            sampler=optuna.samplers.TPESampler(seed=spec.search.seed))
    if spec.search.max_concurrent_trials:
        searcher = ConcurrencyLimiter(searcher, max_concurrent=spec.search.max_concurrent_trials)
    return searcher


def group_of(config: dict[str, Any]) -> str | None:
    """Trials are ranked only against trials of the same model size (and budget); the baseline has no rungs."""
    point = point_of(config)
    if point.get("intermediate_task") == "none":
        return None
    return f"{point['model']}@{point['budget']}" if "budget" in point else point["model"]


def rungs_for(spec: StudySpec):
    """ASHA's rungs of a group: the size's non-zero milestones before the last one the group trains to."""

    def rungs(group: str) -> list[int]:
        model, _, budget = group.partition("@")
        grid = [s for s in spec.model(model).milestones if s > 0]
        end = int(budget) if budget else grid[-1]
        return [s for s in grid if s < end]

    return rungs


def scheduler(spec: StudySpec):
    from ray.tune.schedulers import FIFOScheduler

    flat = spec.intermediate_training.stop_when_flat
    if not spec.asha.enabled and flat is None:
        return FIFOScheduler()
    return GroupedASHA(
        metric=SIGNAL_METRIC, mode=spec.signal_mode(), time_attr=TIME_ATTR,
        rungs=rungs_for(spec) if spec.asha.enabled else (lambda group: []), group_of=group_of,
        reduction_factor=spec.asha.reduction_factor, min_seeds=len(spec.seeds),
        decisions_uri=storage.join(spec.uri, "scheduler.json"),
        stop_when_flat=flat.model_dump() if flat is not None else None,
        milestones_of=lambda config: list(spec.model(point_of(config)["model"]).milestones),
    )


def init_ray(address: str | None, num_cpus: int | None = None, dashboard: bool = False) -> None:
    import ray

    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"log_to_driver": True, "configure_logging": False}
    # Inside `ray job submit` (and on nodes set up for it) RAY_ADDRESS names the cluster: join it, never start a
    # local Ray beside it (`ray.init` also refuses local settings such as num_cpus for an existing cluster).
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, **kwargs)
    elif dashboard:
        # Ray Train's PlacementGroupCleaner frees the workers of a trial that ASHA stops only through the State
        # API: it needs the dashboard, and finds it by RAY_API_SERVER_ADDRESS, else by looking for a Ray on the
        # machine, which fails when there are several. Ray's processes inherit the variable from here; this
        # process drops it again (docs/ray.md, "Ray Train inside a Tune trial").
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ours = "RAY_API_SERVER_ADDRESS" not in os.environ
        if ours:
            os.environ["RAY_API_SERVER_ADDRESS"] = f"http://127.0.0.1:{port}"
        try:
            ray.init(num_cpus=num_cpus, include_dashboard=True, dashboard_host="127.0.0.1", dashboard_port=port, **kwargs)
        finally:
            if ours:
                os.environ.pop("RAY_API_SERVER_ADDRESS", None)
    else:
        # The dashboard (needed by `ray job submit` and the State API) is bound to localhost only.
        ray.init(num_cpus=num_cpus, include_dashboard=False, dashboard_host="127.0.0.1", **kwargs)


def _uses_train(spec: StudySpec) -> bool:
    return any(resources.uses_train(m) for m in spec.models)


def _trainable(spec: StudySpec):
    from ray import tune

    # A size run through Ray Train reserves its workers in Train's placement group; its Tune trial, a driver, almost nothing.
    request = resources.tune_request(spec)
    trainable = tune.with_parameters(run_in_tune, spec_data=spec.model_dump(mode="json"), env=environment.captured())
    return tune.with_resources(trainable, request)


def build_tuner(spec: StudySpec, verbose: bool = True):
    from ray import tune

    uri = spec.uri
    run_config = tune.RunConfig(
        name=spec.study.name,
        storage_path=storage.normalize(spec.study.storage),
        failure_config=tune.FailureConfig(max_failures=spec.study.max_failures),
        # Older checkpoints are deleted: a trial resumes from its latest, which holds its whole trunk.
        checkpoint_config=tune.CheckpointConfig(num_to_keep=spec.study.checkpoints_to_keep),
        # <study>/retries/<trial>.json: every retry of a crashed trial; then the trackers of study.loggers.
        callbacks=[RetryRecorder(uri), *trackers.callbacks(spec)],
        verbose=1 if verbose else 0,  # 0: no progress table of Ray's; the command line draws its own
    )
    searcher = search_algorithm(spec)
    if searcher is None:
        from ray.tune.search.basic_variant import BasicVariantGenerator

        searcher = BasicVariantGenerator(random_state=spec.search.seed, max_concurrent=spec.search.max_concurrent_trials or 0)
        # Every sample is a point of the grid already (`grid_points`): Tune runs the grid once.
        space, num_samples = param_space(spec), 1
    else:
        space, num_samples = {}, len(OptunaSpace(spec))
    tune_config = tune.TuneConfig(
        scheduler=scheduler(spec),
        search_alg=searcher,
        num_samples=num_samples,
        reuse_actors=True,  # saves the worker start (about 2 s plus imports) per trial
    )
    storage.write_text_atomic(storage.join(uri, "spec.json"), spec.model_dump_json(indent=2))
    return tune.Tuner(_trainable(spec), param_space=space, tune_config=tune_config, run_config=run_config)


class SigtermAsSigint:
    """Cluster schedulers stop jobs with SIGTERM, which Ray ignores; treat it like Ctrl-C, which it handles.

    `received` says whether SIGTERM came (the exit code tells it from Ctrl-C). Signal handlers can only be
    set in the main thread; elsewhere (a notebook's worker thread) this does nothing.
    """

    received: int | None = None

    def _on_sigterm(self, *_: Any) -> None:
        self.received = signal.SIGTERM
        os.kill(os.getpid(), signal.SIGINT)

    def __enter__(self):
        self._old = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGTERM, self._on_sigterm)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)
        return False


class _WithoutTunesRestoreHint(logging.Filter):
    """Ray Tune ends an interrupted run with "Resume experiment with: Tuner.restore(...)", a Python call;
    the command line says `xstudy resume PATH` instead (study.outcome)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tuner.restore(" not in record.getMessage()


logging.getLogger("ray.tune.tune").addFilter(_WithoutTunesRestoreHint())


def fit(tuner, spec: StudySpec, during: contextlib.AbstractContextManager | None = None) -> Outcome:
    """Run the tuner to its end or an interruption, consolidate results.parquet, and say how it ended."""
    with SigtermAsSigint() as signals, (during or contextlib.nullcontext()):
        grid = tuner.fit()
    uri = spec.uri
    return outcome.of_grid(grid, uri, finish(spec), signals.received, failed=status.failed_trials(uri))


def finish(spec: StudySpec) -> str:
    """Consolidate the rows into results.parquet; returns the table's URI."""
    uri = spec.uri
    table = results.collect(uri)
    out = storage.join(uri, "results.parquet")
    import pyarrow as pa

    results.write_table_atomic(pa.Table.from_pandas(table, schema=results.SCHEMA, preserve_index=False), out)
    return out


def anchored(spec: StudySpec) -> StudySpec:
    """The spec with its storage made absolute here: trials run in Ray workers whose working directory is
    their own trial folder, where a relative path ("./results") would mean something else."""
    return spec.model_copy(update={"study": spec.study.model_copy(update={"storage": storage.normalize(spec.study.storage)})})


def run(spec: StudySpec, address: str | None = None, num_cpus: int | None = None, verbose: bool = True,
        during: contextlib.AbstractContextManager | None = None) -> Outcome:
    """Run a study; `verbose` keeps Ray Tune's own progress table, `during` is entered while it runs (a view)."""
    spec = anchored(spec)
    preflight.check_new_study(spec, spec.uri)  # reads only
    preflight.check_storage(spec, spec.uri)  # before Ray starts: nothing runs that could not be kept
    if trackers.problems(spec):
        raise preflight.LaunchError("the study's trackers cannot run:\n  " + "\n  ".join(trackers.problems(spec)))
    try:  # before Ray starts: ASHA's and Optuna's mode is the direction of the signal's metrics (study.metrics)
        spec.signal_mode()
    except ValueError as err:
        raise preflight.LaunchError(f"asha.signal: {err}") from None
    too_big = memory_plan.fit_problems(spec)  # before Ray starts: a size that cannot fit its GPU never launches
    if too_big:
        raise preflight.LaunchError("these sizes cannot fit their GPU's memory:\n  " + "\n  ".join(too_big))
    init_ray(address, num_cpus, dashboard=_uses_train(spec))
    import ray

    cluster = ray.cluster_resources()
    problems = resources.check_resources(spec, cluster)
    if problems:
        raise preflight.LaunchError("these trials cannot fit on this cluster:\n  " + "\n  ".join(problems))
    spec = resources.limit_concurrency(spec, cluster)
    return fit(build_tuner(spec, verbose=verbose), spec, during)


def load_study_spec(path: str) -> StudySpec:
    """The spec stored in a study folder; see study.preflight for what makes one unusable."""
    return preflight.read_study_spec(path)


def resume(path: str, address: str | None = None, num_cpus: int | None = None, verbose: bool = True,
           during: contextlib.AbstractContextManager | None = None) -> Outcome:
    from ray import tune

    spec = load_study_spec(path)
    # The study may have been moved since it was made: its rows go where it is now.
    uri = storage.normalize(path)
    parent, name = storage.parent_and_name(uri)  # a URI keeps its query (endpoint, scheme) on the parent
    spec = spec.model_copy(update={"study": spec.study.model_copy(update={"storage": parent, "name": name})})
    preflight.check_experiment_state(uri, spec, grid_points(spec))  # before Ray starts; nothing is written
    trackers.use_default_stores(spec)  # the restored tracker callbacks open their stores again
    init_ray(address, num_cpus, dashboard=_uses_train(spec))
    if not tune.Tuner.can_restore(uri):
        raise FileNotFoundError(f"{path}: Ray Tune has no experiment state to restore here")
    tuner = tune.Tuner.restore(uri, trainable=_trainable(spec), resume_errored=True)
    # The restored run config is the original run's; its verbosity is this command's (Tuner has no setter).
    internal = getattr(tuner, "_local_tuner", None)
    if internal is not None and getattr(internal, "_run_config", None) is not None:
        internal._run_config.verbose = 1 if verbose else 0
        relocate(internal._run_config, internal._tune_config, uri)
    return fit(tuner, spec, during)


def relocate(run_config, tune_config, uri: str) -> None:
    """Point what Tuner.restore unpickled as it was when the study was made at the study's folder now: the
    retry recorder and the scheduler's `scheduler.json` (whose decisions the scheduler reads back first:
    Tune does not save a scheduler's state)."""
    for callback in run_config.callbacks or []:
        if isinstance(callback, RetryRecorder):
            callback.relocate(uri)
    if isinstance(tune_config.scheduler, GroupedASHA):
        tune_config.scheduler.relocate(storage.join(uri, "scheduler.json"))
