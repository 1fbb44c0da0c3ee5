"""Experiment trackers, as Ray Tune users have them: `study.loggers: [mlflow, wandb, tensorboard]`.

Each name attaches Ray Tune's own logger callback to the study's experiment:
- `mlflow`: `ray.air.integrations.mlflow.MLflowLoggerCallback`. One MLflow run per trial, in the experiment
  `MLFLOW_EXPERIMENT_NAME` (default: the study's name), with the trial's config as parameters and every
  report as metrics, stepped by report. The tracking URI is `MLFLOW_TRACKING_URI` (a server, or
  `sqlite:///...`), else a file store in the study folder, `<study>/mlruns` (MLflow 3 keeps file stores
  only behind `MLFLOW_ALLOW_FILE_STORE=true`, which is set for that default). A study in cloud storage
  needs `MLFLOW_TRACKING_URI`. Package: `pip install xstudy[mlflow]` (mlflow-skinny).
- `wandb`: `ray.air.integrations.wandb.WandbLoggerCallback`. One W&B run per trial, in the project
  `WANDB_PROJECT` (default: the study's name), grouped by study, with the config and every report.
  Credentials and mode are W&B's own (`WANDB_API_KEY` or `wandb login`; `WANDB_MODE=offline` keeps the
  runs on disk for a later `wandb sync`). Run folders go to `WANDB_DIR`, else `<study>/wandb/` for a local
  study. Package: `pip install xstudy[wandb]`.
- `tensorboard`: `ray.tune.logger.TBXLoggerCallback`: event files in each trial's folder (Ray adds this
  one by default; naming it keeps it even with TUNE_DISABLE_AUTO_CALLBACK_LOGGERS=1).

What each trial reports, and so what the trackers receive, at every milestone: the scores (`dev_signal`,
`dev_mean`, `dev/<task>`, `test/<task>`, `test_mean`, `intermediate_dev`) and the milestone's cost columns
(`intermediate_*` and `cooldown_*` as in the results table; `target_*` and `eval_*` summed over the target
tasks). The results table (`rows/`, `results.parquet`) stays the record the reports and analyses read; the
trackers are views of it.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any


PACKAGES = {"mlflow": ("mlflow", "pip install 'xstudy[mlflow]'"), "wandb": ("wandb", "pip install 'xstudy[wandb]'"),
            "tensorboard": ("tensorboardX", "pip install 'ray[tune]'")}


def missing_packages(loggers: list[str]) -> list[str]:
    """One line per tracker whose package is not installed, with what installs it."""
    out = []
    for name in loggers:
        module, install = PACKAGES[name]
        if importlib.util.find_spec(module) is None:
            out.append(f"study.loggers names {name!r}, but the package {module!r} is not installed: {install}")
    return out


def local_study_folder(spec: Any) -> str | None:
    """The study folder when it is on a local file system; None in cloud storage."""
    uri = spec.uri
    return None if "://" in uri else os.path.abspath(uri)


def mlflow_uri(spec: Any) -> str | None:
    """The MLflow tracking URI: MLFLOW_TRACKING_URI, else a file store in a local study folder; None for a study
    in cloud storage without it (refused before launch)."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    folder = local_study_folder(spec)
    return None if folder is None else "file://" + os.path.join(folder, "mlruns")


def wandb_dir(spec: Any) -> str | None:
    """Where W&B writes its run folders: WANDB_DIR, else a local study folder (W&B then makes `wandb/` in it).

    Without it, Ray's logging actors write into each trial's staging folder, which Ray copies to the storage
    when the trial ends: a trial that ends quickly is copied before W&B has finished its run."""
    return os.environ.get("WANDB_DIR") or local_study_folder(spec)


def problems(spec: Any) -> list[str]:
    """Why the spec's trackers cannot run here: a missing package, no MLflow URI for cloud storage."""
    out = missing_packages(list(spec.study.loggers))
    if "mlflow" in spec.study.loggers and mlflow_uri(spec) is None:
        out.append("study.loggers names 'mlflow' and study.storage is not a local folder: set MLFLOW_TRACKING_URI "
                   "(an MLflow server, or sqlite:///PATH) so that the runs go where every node can reach them")
    return out


def use_default_stores(spec: Any) -> None:
    """Let MLflow 3 open the default file store (it refuses file stores unless told so). Called before a run
    starts or resumes: the callbacks open their stores in this process."""
    if "mlflow" in spec.study.loggers and (mlflow_uri(spec) or "").startswith("file://"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


def callbacks(spec: Any) -> list[Any]:
    """Ray Tune's logger callbacks for `study.loggers`, in that order."""
    use_default_stores(spec)
    out: list[Any] = []
    for name in spec.study.loggers:
        if name == "mlflow":
            from ray.air.integrations.mlflow import MLflowLoggerCallback

            out.append(MLflowLoggerCallback(tracking_uri=mlflow_uri(spec),
                                            experiment_name=os.environ.get("MLFLOW_EXPERIMENT_NAME") or spec.study.name,
                                            tags={"study": spec.study.name}))
        elif name == "wandb":
            where = {"dir": wandb_dir(spec)} if wandb_dir(spec) else {}  # passed on to wandb.init
            out.append(wandb_callback()(project=os.environ.get("WANDB_PROJECT") or spec.study.name,
                                        group=spec.study.name, **where))
        else:
            from ray.tune.logger import TBXLoggerCallback

            out.append(TBXLoggerCallback())
    return out


def wandb_logging_actor() -> type:
    """Ray's W&B logging actor, closing the run's stream before it returns.

    W&B's service process (wandb-core, a child of the actor) writes an offline run's records to its file
    when the run's stream closes, which `finish()` does not wait for. Ray kills the actor, and with it its
    child processes, as soon as `run()` returns; under load that kill came first and left a run file with
    no records at all. `wandb.teardown()` closes the streams and waits for the service to exit.
    """
    from ray.air.integrations.wandb import _WandbLoggingActor

    class FlushedWandbLogging(_WandbLoggingActor):
        def run(self):
            super().run()
            self._wandb.teardown()

    return FlushedWandbLogging


def wandb_callback() -> type:
    """`WandbLoggerCallback` whose logging actors are whole on disk when they end (`wandb_logging_actor`)."""
    from ray.air.integrations.wandb import WandbLoggerCallback

    class FlushedWandbLoggerCallback(WandbLoggerCallback):
        _logger_actor_cls = wandb_logging_actor()

    return FlushedWandbLoggerCallback
