"""The `xstudy` command line: validate, run, resume, export, recommend, score."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
data_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Look at a task's data.")
app.add_typer(data_app, name="data")
# soft_wrap: a message is never folded at the console's width (80 columns when output is not a terminal), so a
# path in it stays whole for copying and for anything that reads the output; a terminal still wraps long lines.
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _load(spec_path: Path):
    from study.spec import SpecError, load_spec

    try:
        return load_spec(spec_path)
    except SpecError as exc:
        err.print(f"[bold red]invalid spec[/] {exc.source}: {len(exc.errors)} error(s)")
        for path, rule in exc.errors:
            err.print(f"  [yellow]{path}[/]: {rule}", highlight=False)
        raise typer.Exit(2) from None


def summary_table(spec) -> Table:
    table = Table(title=f"study {spec.study.name} -> {spec.study.storage}")
    for col in ("model", "source", "milestones", "batch", "max len", "precision", "resources/trial"):
        table.add_column(col)
    for m in spec.models:
        src = next(iter(m.source.model_dump(exclude_defaults=True).values()))
        r = m.resources
        table.add_row(m.name, str(src), str(m.milestones), str(m.batch_size), str(m.max_length), m.precision,
                      f"{r.workers} x ({r.cpu:g} CPU, {r.gpu:g} GPU)")
    return table


@app.command()
def validate(spec_path: Annotated[Path, typer.Argument(metavar="SPEC")]) -> None:
    """Check a spec and print a summary; on errors, print each with its field path and exit non-zero."""
    spec = _load(spec_path)
    console.print(summary_table(spec))
    n_trials = len(spec.models) * len(spec.intermediate) * len(spec.seeds) * spec.search.num_samples
    console.print(f"intermediate tasks: {', '.join(spec.intermediate)}")
    console.print(f"target tasks: {', '.join(t.task for t in spec.targets)}")
    console.print(f"seeds: {spec.seeds}; trials before ASHA (x grid hyperparameters): {n_trials}")
    console.print(f"ASHA: {'on, ranking within each model size on ' + spec.asha.signal if spec.asha.enabled else 'off'}")
    console.print("[green]valid[/]")


@app.command()
def plan(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC")],
    device_tflops: Annotated[float, typer.Option(help="sustained TFLOP/s per GPU (default: an H100 at 40% MFU)")] = 400.0,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Trials, milestones, steps, FLOPs and GPU-hours of a study, before anything is spent."""
    import json

    from study.plan import plan as make_plan

    spec = _load(spec_path)
    result = make_plan(spec, device_tflops=device_tflops)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    table = Table(title=f"plan of {spec.study.name} ({result['schedule']} mode; {device_tflops:g} TFLOP/s per GPU)")
    for col in ("model", "parameters (non-embedding)", "milestones", "trials", "intermediate + cooldown steps",
                "target steps", "PFLOPs", "PFLOPs with ASHA", "GPU-hours with ASHA"):
        table.add_column(col, justify="right")
    mode = result["schedule"]
    for name, m in result["models"].items():
        table.add_row(name, f"{m['parameters']:,} ({m['non_embedding_parameters']:,})", str(m["milestones"]),
                      str(m["trials"][mode]), f"{m['intermediate_steps'][mode]:,}",
                      f"{m['phases'][mode]['target']['steps']:,}", f"{m['flops'][mode] / 1e15:.3g}",
                      f"{m['flops'][mode + '_with_asha'] / 1e15:.3g}", f"{m['gpu_hours'][mode + '_with_asha']:.3g}")
    console.print(table)
    s = result["intermediate_steps"]
    console.print(f"intermediate steps, whole grid before ASHA: branch {s['branch']:,}, independent {s['independent']:,} "
                  f"(branching saves {100 * result['branch_saving']:.0f}%)")
    g = result["gpu_hours"]
    console.print(f"GPU-hours: {g[mode]:.3g} for the full grid, {g[mode + '_with_asha']:.3g} with ASHA "
                  "(matmul FLOPs of training; evaluation left out)")
    _print_memory(result["memory"])
    bounds = sorted({task for m in result["models"].values()
                     for task, how in m["token_estimates"].items() if how.startswith("upper bound")})
    if bounds:
        console.print(f"upper bounds: the training splits of {', '.join(bounds)} cannot be read here (data or "
                      "tokenizer missing), so their tokens are counted as batch x max length; `--json` says why")


def _print_memory(memory: dict) -> None:
    """Per size, the estimated peak memory per GPU (study.memory_plan) for the spec's setting and alternatives."""
    from study.memory_plan import GB, TABLE_COLUMNS, table_rows

    for name, entry in memory.items():
        if "error" in entry:
            console.print(f"memory per GPU of {name}: {entry['error']}", highlight=False)
            continue
        table = Table(title=f"memory per GPU of {name}, GB ({entry['parameters']:,} parameters; activations "
                      "without and with gradient checkpointing)")
        for col in TABLE_COLUMNS:
            table.add_column(col, justify="left" if col == "setting" else "right")
        for row in table_rows(entry):
            table.add_row(*row)
        console.print(table)
        capacity, fit = entry["gpu_capacity"], entry["first_that_fits"]
        if capacity is not None:
            verdict = ("fits" if entry["estimate"]["peak"] <= capacity else
                       f"does not fit; first that fits: {fit['label']}" if fit else "does not fit, nor does any alternative")
            console.print(f"{name} on a {capacity / GB:.1f} GB GPU: {verdict}", highlight=False)


@app.command()
def run(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC")],
    address: Annotated[str | None, typer.Option(help="Ray cluster address, e.g. 'auto'; default a local Ray")] = None,
    num_cpus: Annotated[int | None, typer.Option(help="CPUs of the local Ray instance")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Ray Tune's own trial table instead of xstudy's view")] = False,
) -> None:
    """Run a study: one Ray Tune experiment over the spec's grid.

    Exits 0 when every trial finished, 1 when some errored (each is listed), and 130 or 143 when
    interrupted by SIGINT or SIGTERM (`xstudy resume PATH` continues it)."""
    spec = _load(spec_path)
    from study import launch
    from study.inspect_data import check_study_data

    # Every split the study needs is read before any compute: a bad file stops it here, not hours in.
    problems = check_study_data(spec)
    if problems:
        err.print(f"[bold red]the study's data has {len(problems)} problem(s)[/]")
        for p in problems:
            err.print(f"  {p}", highlight=False)
        raise typer.Exit(2)
    _say_prepared(spec, spec_path)
    from study.preflight import LaunchError

    try:
        ended = launch.run(spec, address=address, num_cpus=num_cpus, verbose=verbose,
                           during=_view(launch.anchored(spec).uri, verbose))
    except LaunchError as exc:  # storage or cluster refused before any trial ran
        err.print(f"[bold red]cannot run[/]: {exc}", highlight=False)
        raise typer.Exit(2) from None
    _say_outcome(ended)


def _view(uri: str, verbose: bool):
    """xstudy's own view of the running study, unless Ray Tune's table was asked for."""
    from study.run_view import RunView

    return None if verbose else RunView(uri, console)


def _say_outcome(ended) -> None:
    console.print(f"results table: {ended.table}", highlight=False)
    for line in ended.lines():
        (err if ended.exit_code else console).print(line, highlight=False)
    raise typer.Exit(ended.exit_code)


def _say_prepared(spec, spec_path: Path) -> None:
    """Say whether this machine's cache holds what the trials read; with XSTUDY_REQUIRE_PREPARED, refuse if not."""
    from study.cache import REQUIRE_PREPARED_ENV, cache_root, require_prepared
    from study.prepare import missing

    try:
        lacking = missing(spec)
    except Exception as exc:  # noqa: BLE001 - the check only informs; the trials report the real error
        console.print(f"cache: could not check ({type(exc).__name__}: {exc})", highlight=False)
        return
    if not lacking:
        console.print(f"cache: prepared ({cache_root()})", highlight=False)
        return
    models = sum(1 for i in lacking if i.kind == "model")
    what = f"{models} model(s) and {len(lacking) - models} tokenized data item(s) not in the cache ({cache_root()})"
    if require_prepared():
        err.print(f"[bold red]not prepared[/]: {what}, and {REQUIRE_PREPARED_ENV} is set", highlight=False)
        for item in lacking[:10]:
            err.print(f"  {item.kind} {item.what} (model {item.model})", highlight=False)
        err.print(f"run: xstudy prepare {spec_path}", highlight=False)
        raise typer.Exit(2)
    console.print(f"cache: {what}; the trials will make them (`xstudy prepare {spec_path}` does it once)",
                  highlight=False)


@app.command()
def prepare(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Download and tokenize, once, every model and data split the study's trials read, into the cache."""
    spec = _load(spec_path)
    from study import prepare as preparing
    from study.cache import cache_root
    from study.tasks.readers import DataError

    from study.console_progress import bar

    def show(item) -> None:
        progress.advance(1, f"{item.kind} {item.what} ({item.model})")
        if not as_json and item.status != preparing.CACHED:
            console.print(f"{item.status} {item.kind} {item.what} (model {item.model}, {item.seconds:.1f} s)",
                          highlight=False)

    try:
        with bar("preparing", len(spec.models) * (1 + len(preparing.data_needs(spec)))) as progress:
            items = preparing.prepare(spec, report=show)
    except (DataError, FileNotFoundError, OSError) as exc:
        err.print(f"[bold red]cannot prepare[/]: {exc}", highlight=False)
        raise typer.Exit(2) from None
    result = preparing.summary(items)
    if as_json:
        import json

        print(json.dumps(result, indent=2))
        return
    for kind, counts in result["counts"].items():
        console.print(f"{kind}: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())), highlight=False)
    console.print(f"cache: {cache_root()} (set XSTUDY_REQUIRE_PREPARED=1 to keep trials from making anything)",
                  highlight=False)


@app.command()
def resume(
    path: Annotated[str, typer.Argument(help="the study folder or URI (<storage>/<name>)")],
    address: Annotated[str | None, typer.Option(help="Ray cluster address, e.g. 'auto'; default a local Ray")] = None,
    num_cpus: Annotated[int | None, typer.Option(help="CPUs of the local Ray instance")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Ray Tune's own trial table instead of xstudy's view")] = False,
) -> None:
    """Continue an interrupted study from its last checkpoints (exit codes as for `run`)."""
    from study import launch, storage
    from study.preflight import LaunchError

    try:
        ended = launch.resume(path, address=address, num_cpus=num_cpus, verbose=verbose,
                              during=_view(storage.normalize(path), verbose))
    except (FileNotFoundError, LaunchError) as exc:  # no study there, or not one this version can resume
        err.print(f"[bold red]cannot resume[/]: {exc}", highlight=False)
        raise typer.Exit(2) from None
    _say_outcome(ended)


@app.command()
def export(
    path: Annotated[str, typer.Argument(help="the study folder or URI (<storage>/<name>)")],
    out: Annotated[str | None, typer.Option(help="write the report here (a local folder or a URI) instead of PATH/report/")] = None,
) -> None:
    """Write the results table and Pareto plots under PATH/report/ or --out (works while a study runs)."""
    from study import export as exporter
    from study.console_progress import bar

    try:
        with bar("exporting", len(exporter.STAGES)) as progress:
            written = exporter.export(path, out=out, on_stage=lambda stage: progress.advance(1, stage))
    except FileNotFoundError as exc:
        err.print(f"[bold red]cannot export[/]: {exc}")
        raise typer.Exit(2) from None
    for kind, where in written.items():
        console.print(f"{kind}: {where}")


@app.command()
def recommend(
    path: Annotated[str, typer.Argument(help="the study folder or URI (<storage>/<name>)")],
    budget_gpu_hours: Annotated[float | None, typer.Option(help="GPU-hours of intermediate training per size (default: train until within --within points of the plateau gain)", min=0.0)] = None,
    within: Annotated[float, typer.Option(help="points of the plateau gain that are close enough", min=0.0)] = 0.5,
    target: Annotated[str, typer.Option(help="'overall' or one target task")] = "overall",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Per model size: the intermediate task and step count to train, from the fitted curves, with the
    predicted score's interval and whether it is an extrapolation (works while a study runs)."""
    from study.curves_view import recommend_command

    raise typer.Exit(recommend_command(path, budget_gpu_hours, within, target, as_json))


@app.command()
def status(
    path: Annotated[str, typer.Argument(help="the study folder or URI (<storage>/<name>)")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="redraw in place until the study ends (Ctrl-C to stop)")] = False,
    interval: Annotated[float, typer.Option(help="seconds between two redraws with --watch", min=0.1)] = 2.0,
) -> None:
    """A study's progress: trials by state and size, milestones done, what each running trial is doing now,
    the estimated time to finish, best so far, time spent."""
    from study.status_view import status_command

    if watch and as_json:
        err.print("[bold red]--watch redraws the tables; --json prints the status once[/]: give one of them")
        raise typer.Exit(2)
    raise typer.Exit(status_command(path, as_json, watch=watch, interval=interval))


@app.command()
def score(
    pred_dir: Annotated[Path, typer.Argument(metavar="PRED_DIR")],
    label_dir: Annotated[Path, typer.Argument(metavar="LABEL_DIR")],
    benchmark: Annotated[str, typer.Option(
        help="xtreme, xtreme-r, or none: every registered task with a folder of label files (built-in or your "
             "own tasks), on the languages of those files")] = "xtreme",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Score predictions in the XTREME submission layout (TASK/test-LANG.tsv|json) like the official scorer."""
    from study.scoring import score_command

    raise typer.Exit(score_command(pred_dir, label_dir, benchmark, as_json))


@data_app.command("inspect")
def data_inspect(
    task: Annotated[str, typer.Argument(help="a registered task, e.g. xnli")],
    languages: Annotated[str | None, typer.Option(help="comma-separated languages, e.g. de,fr")] = None,
    data_dir: Annotated[str | None, typer.Option(help="release-format files (default: the spec's, else XSTUDY_DATA_DIR)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    spec: Annotated[str | None, typer.Option(help="a study spec: exit 1 only when a split it needs is missing")] = None,
) -> None:
    """Split sizes per language (counted as the metric counts), missing splits, and the first examples."""
    from study.inspect_data import inspect_command

    langs = [x.strip() for x in languages.split(",") if x.strip()] if languages else None
    raise typer.Exit(inspect_command(task, langs, data_dir, as_json, spec))


@data_app.command("check-hub")
def data_check_hub(
    task: Annotated[list[str] | None, typer.Option(help="check only this task's references (repeatable)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Whether every hub dataset the tasks name loads today, with the splits and columns their converters read."""
    from study.hub_check import check_hub_command

    raise typer.Exit(check_hub_command(task or None, as_json))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
