"""Kept as one module: the fit and everything read off it (plateaus, crossovers, bands, the held-back-milestone
check) share the `Curve` type and the family rules, which the docstring (about 40 lines) defines.

Fitted duration curves: score and gain against intermediate steps, with intervals, plateaus and crossovers.

Pure functions over the results table (`study.results.SCHEMA`). For each (model size, intermediate task,
target task or `overall`) the zero-shot test score, and its gain over the step-0 baseline of the same size
and seed, are fitted against the intermediate steps s.

Family. With at least `MIN_SATURATING` distinct milestones (step 0 included) the curve is the saturating
power law `a - b * (s + s0)^(-c)`: `a` is the plateau, `c > 0` how fast it is approached and `s0` shifts the
origin so that step 0 is finite. It is the `pow3` family of Domhan et al. (2015), the best single family in
their comparison of learning-curve extrapolations, and the form of the data term of Hoffmann et al. (2022)
(loss = E + B / D^beta): a power law in the data seen that flattens to an irreducible value. With fewer
milestones a 3- or 4-parameter curve has no residual to judge it by, so a simpler family is used and the
`family` column says so: 3 milestones `log-linear` (a + b ln(1 + s/s0), no plateau), 2 `linear`, fewer none.
A curve that does not change at all is `constant`.

Fitting (scipy.optimize). For fixed (s0, c) the parameters a and b are linear, so the sum of squares is
profiled over (s0, c) (variable projection): a log grid refined by a finer grid around its best cell for
the shape, and scipy.optimize.minimize_scalar (bounded) from the best grid cell for each seed's c. A grid start makes the fit deterministic and
immune to the local optima a plain curve_fit falls into on 4-5 points. Bounds keep a fit finite on bad data:
c in [0.05, 3], a within 100 points of the measured values, s0 between 1% of the first positive milestone and
10 x the last one. Each seed's (a, b, c) is fitted on its own points with s0 taken from the *other* seeds'
points (leave-one-seed-out; a single series uses its own): the shape's estimation error then differs from
seed to seed and shows in the spread over seeds, instead of shifting every seed's plateau the same way (with
one shared s0 the 95% plateau interval covered the true plateau in only ~88% of synthetic draws).

Uncertainty. With 2 or more seeds, every number (plateau, predicted score at any step count) is computed per
seed, and its interval is the Student-t interval over the seeds (`analysis.gains.mean_ci`, the interval
machinery of the gains): each seed's fit carries both its seed's variation (initialisation, data order) and
the evaluation noise of its own points, so the spread of the per-seed values holds both. With one seed the
interval is the fit's own: the delta method on the fit's covariance sigma^2 (J'J)^-1 (scaled by the residual variance, i.e.
the evaluation noise around the curve) with a t quantile on the residual degrees of freedom; it says nothing
about other seeds, and the `interval` column says which kind a row has. A synthetic recovery test
(tests/analysis/test_curves.py) checks the 95% plateau interval covers the true plateau in 90-98% of draws.

Every value past the last measured milestone is an extrapolation and flagged as one; the plateau always is.
The fit against cost: within one curve the cost grows in proportion to the steps (one model, batch and
sequence length), so the curve against FLOPs or GPU-hours is the curve against steps with the axis rescaled
by the measured cost per step (least squares through the origin); GPU-hours are NaN where not measured.

Nothing here raises on bad data: a curve that cannot be fitted gets a row whose `reason` says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from analysis import aggregate
from analysis.aggregate import MILESTONE
from analysis.gains import CONFIDENCE, _paired, mean_ci, welch_interval

OVERALL = "overall"
SATURATING, LOG_LINEAR, LINEAR, CONSTANT, NONE = "saturating", "log-linear", "linear", "constant", "none"
FAMILY_FORMS = {
    SATURATING: "a - b*(s+s0)^-c", LOG_LINEAR: "a + b*ln(1+s/s0)", LINEAR: "a + b*s", CONSTANT: "a", NONE: "",
}
MIN_SATURATING = 4  # distinct milestones (step 0 included) a saturating fit needs: 3 per-seed parameters + 1
QUANTITIES = ("score", "gain")
GPU_SECONDS = "intermediate_accelerator_seconds"
FLOPS = "intermediate_flops"
FLAT_RANGE = 1e-9  # points: a curve whose values span less than this has no shape to fit
_C_BOUNDS = (0.05, 3.0)
_SEARCH_FACTOR = 1000.0  # steps-to-X% are searched up to this multiple of the last milestone


class CurveError(ValueError):
    """A curve that cannot be fitted; the message is the row's `reason`."""


# ------------------------------------------------------------------------------------------- families
def evaluate(family: str, steps, params, s0: float) -> np.ndarray:
    """The family's value at `steps` (broadcast) for one parameter vector."""
    s = np.asarray(steps, dtype=float)
    p = np.asarray(params, dtype=float)
    if family == SATURATING:
        return p[0] - p[1] * np.power(s + s0, -p[2])
    if family == LOG_LINEAR:
        return p[0] + p[1] * np.log1p(s / s0)
    if family == LINEAR:
        return p[0] + p[1] * s
    if family == CONSTANT:
        return np.full_like(s, p[0])
    raise ValueError(f"unknown family {family!r}")


def family_for(n_milestones: int, span: float) -> str:
    if n_milestones < 2:
        return NONE
    if span < FLAT_RANGE:
        return CONSTANT
    if n_milestones >= MIN_SATURATING:
        return SATURATING
    return LOG_LINEAR if n_milestones == 3 else LINEAR


@dataclass
class SeedFit:
    params: np.ndarray
    cov: np.ndarray  # the parameters' covariance, scaled by the residual variance (NaN without residual dof)
    dof: int
    residuals: np.ndarray
    s0: float | None = None  # the seed's own origin shift (None: the curve's)


@dataclass
class Curve:
    """A fitted curve: one parameter vector per seed (or one for a single series), sharing `family`, `s0`."""

    family: str
    s0: float
    fits: list[SeedFit]
    milestones: np.ndarray  # distinct measured step counts
    n_seeds_total: int
    note: str = ""
    confidence: float = CONFIDENCE
    _grid: dict = field(default_factory=dict, repr=False)

    @property
    def n_seeds(self) -> int:
        return len(self.fits)

    @property
    def interval(self) -> str:
        if self.n_seeds >= 2:
            return f"t over {self.n_seeds} seeds"
        fit = self.fits[0]
        return f"fit residuals (1 seed, {fit.dof} dof)" if fit.dof > 0 else "none (1 seed, no residual)"

    def per_seed(self, steps) -> np.ndarray:
        """(n_seeds, len(steps)) values of each seed's curve."""
        return np.stack([evaluate(self.family, steps, f.params, self._s0(f)) for f in self.fits])

    def _s0(self, fit: SeedFit) -> float:
        return self.s0 if fit.s0 is None else fit.s0

    def mean(self, steps) -> np.ndarray:
        return self.per_seed(np.atleast_1d(np.asarray(steps, dtype=float))).mean(axis=0)

    def predict(self, steps, confidence: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, low, high) of the curve at `steps` (the expected score of a new seed's mean, see module doc)."""
        steps = np.atleast_1d(np.asarray(steps, dtype=float))
        return self._interval(lambda p, s0: evaluate(self.family, steps, p, s0), confidence)

    def plateau(self, confidence: float | None = None) -> tuple[float, float, float]:
        """(plateau, low, high): the value as s -> infinity; NaN for families without one."""
        if self.family == SATURATING:
            return tuple(float(v[0]) for v in self._interval(lambda p, s0: np.array([p[0]]), confidence))
        if self.family == CONSTANT:
            return tuple(float(v[0]) for v in self._interval(lambda p, s0: np.array([p[0]]), confidence))
        return (float("nan"),) * 3

    def _interval(self, fn, confidence):
        confidence = confidence or self.confidence
        values = np.stack([np.asarray(fn(f.params, self._s0(f)), dtype=float) for f in self.fits])  # (seeds, points)
        if self.n_seeds >= 2:
            out = [mean_ci(values[:, j], confidence) for j in range(values.shape[1])]
            return tuple(np.array([o[i] for o in out]) for i in range(3))
        fit = self.fits[0]
        mean = values[0]
        if fit.dof <= 0 or not np.all(np.isfinite(fit.cov)):
            return mean, np.full_like(mean, np.nan), np.full_like(mean, np.nan)
        jac = _jacobian(lambda p: fn(p, self._s0(fit)), fit.params)  # (points, k)
        se = np.sqrt(np.maximum(np.einsum("ik,kl,il->i", jac, fit.cov, jac), 0.0))
        half = stats.t.ppf((1 + confidence) / 2, fit.dof) * se
        return mean, mean - half, mean + half

    def steps_to_fraction(self, fraction: float) -> float:
        """Steps at which the mean curve has gained `fraction` of its way from step 0 to the plateau; NaN
        without a plateau or beyond `_SEARCH_FACTOR` x the last milestone."""
        plateau = self.plateau()[0]
        if self.family != SATURATING or not np.isfinite(plateau):
            return float("nan")
        grid = self._search_grid()
        values = self.mean(grid)
        start = values[0]
        total = plateau - start
        if abs(total) < FLAT_RANGE:
            return 0.0
        reached = (values - start) / total >= fraction
        if not reached.any():
            return float("nan")
        i = int(np.argmax(reached))
        if i == 0:
            return 0.0
        # Linear interpolation between the two grid points around the crossing.
        x0, x1 = grid[i - 1], grid[i]
        y0, y1 = (values[i - 1] - start) / total, (values[i] - start) / total
        return float(x0 + (fraction - y0) * (x1 - x0) / (y1 - y0)) if y1 != y0 else float(x1)

    def steps_within(self, points: float) -> float:
        """Fewest steps where the mean curve is within `points` of its plateau (NaN without a plateau)."""
        plateau = self.plateau()[0]
        if self.family == CONSTANT:
            return 0.0
        if self.family != SATURATING or not np.isfinite(plateau):
            return float("nan")
        grid = self._search_grid()
        close = np.abs(plateau - self.mean(grid)) <= points
        return float(grid[int(np.argmax(close))]) if close.any() else float("nan")

    def slope(self, steps) -> np.ndarray:
        """d(mean curve)/ds at `steps` (points per step), by central differences (forward at 0)."""
        steps = np.atleast_1d(np.asarray(steps, dtype=float))
        h = np.maximum(steps * 1e-3, 1e-3)
        low = np.maximum(steps - h, 0.0)
        return (self.mean(steps + h) - self.mean(low)) / (steps + h - low)

    def _search_grid(self) -> np.ndarray:
        if "grid" not in self._grid:
            last = float(self.milestones.max()) if self.milestones.size else 1.0
            self._grid["grid"] = np.concatenate([[0.0], np.geomspace(max(last, 1.0) * 1e-3, max(last, 1.0) * _SEARCH_FACTOR, 4000)])
        return self._grid["grid"]


def _jacobian(fn, params: np.ndarray) -> np.ndarray:
    params = np.asarray(params, dtype=float)
    base = np.asarray(fn(params), dtype=float)
    jac = np.empty((base.size, params.size))
    for k in range(params.size):
        h = 1e-6 * max(abs(params[k]), 1e-3)
        step = params.copy()
        step[k] += h
        jac[:, k] = (np.asarray(fn(step), dtype=float) - base) / h
    return jac


def _linear_fit(x: np.ndarray, y: np.ndarray, design) -> SeedFit:
    X = design(x)
    params, *_ = np.linalg.lstsq(X, y, rcond=None)
    residuals = y - X @ params
    dof = len(y) - X.shape[1]
    if dof > 0:
        sigma2 = float(residuals @ residuals) / dof
        cov = sigma2 * np.linalg.pinv(X.T @ X)
    else:
        cov = np.full((X.shape[1], X.shape[1]), np.nan)
    return SeedFit(params, cov, dof, residuals)


def _bounds(y: np.ndarray):
    lo, hi = float(np.min(y)), float(np.max(y))
    return lo - 100.0, hi + 100.0


def _profile(s: np.ndarray, y: np.ndarray, s0, c) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For fixed (s0, c), a and b are linear: their least-squares values and the SSE, element-wise over the
    broadcast shapes of s0 and c (variable projection: the non-linear search is over (s0, c) only)."""
    s0 = np.asarray(s0, dtype=float)[..., None]
    c = np.asarray(c, dtype=float)[..., None]
    x = np.power(s + s0, -c)  # (..., n)
    xm, ym = x.mean(axis=-1, keepdims=True), y.mean()
    sxx = np.sum((x - xm) ** 2, axis=-1)
    sxy = np.sum((x - xm) * (y - ym), axis=-1)
    syy = float(np.sum((y - ym) ** 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(sxx > 0, sxy / sxx, 0.0)
        sse = np.where(sxx > 0, syy - sxy**2 / sxx, syy)
    a = ym - slope * xm[..., 0]
    lo, hi = _bounds(y)
    sse = np.where((a < lo) | (a > hi), np.inf, sse)  # a plateau 100 points beyond the data is not a fit
    return a, -slope, sse


_C_GRID = np.geomspace(*_C_BOUNDS, 90)


def _shape(s: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """s0 of the saturating family (and the pooled (a, b, c) as a start), from the points given (all seeds'
    together): the SSE profiled over a log grid of (s0, c), refined on a finer grid around its best cell."""
    positive = s[s > 0]
    first, last = float(positive.min()), float(s.max())
    s0_bounds = (first * 0.01, last * 10.0)
    s0_grid = np.geomspace(*s0_bounds, 40)
    a, b, sse = _profile(s, y, s0_grid[:, None], _C_GRID[None, :])
    if not np.isfinite(sse).any():
        raise CurveError("the saturating fit found no plateau within 100 points of the data")
    i, j = np.unravel_index(int(np.argmin(sse)), sse.shape)
    # Refine on a finer grid between the best cell's neighbours (vectorised: a local optimiser costs more
    # here than the 625 closed-form fits do).
    s0_fine = np.geomspace(s0_grid[max(i - 1, 0)], s0_grid[min(i + 1, len(s0_grid) - 1)], 25)
    c_fine = np.geomspace(_C_GRID[max(j - 1, 0)], _C_GRID[min(j + 1, len(_C_GRID) - 1)], 25)
    _, _, fine = _profile(s, y, s0_fine[:, None], c_fine[None, :])
    k, m = np.unravel_index(int(np.argmin(fine)), fine.shape)
    s0, c = float(s0_fine[k]), float(c_fine[m])
    a1, b1, _ = _profile(s, y, s0, c)
    return s0, np.array([float(a1), float(b1), c])


def _saturating_fit(s: np.ndarray, y: np.ndarray, s0: float, p0=None) -> SeedFit:
    """(a, b, c) with s0 fixed: the SSE profiled over c on a grid, refined by scipy.optimize.minimize_scalar
    (bounded) between the best cell's neighbours; the covariance is sigma^2 (J'J)^-1 at the optimum."""
    _, _, sse = _profile(s, y, s0, _C_GRID)
    if not np.isfinite(sse).any():
        raise CurveError("the saturating fit found no plateau within 100 points of the data")
    j = int(np.argmin(sse))
    lo, hi = _C_GRID[max(j - 1, 0)], _C_GRID[min(j + 1, len(_C_GRID) - 1)]
    best = optimize.minimize_scalar(lambda c: float(np.nan_to_num(_profile(s, y, s0, c)[2], nan=1e300, posinf=1e300)),
                                    bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
    c = float(best.x) if best.fun <= sse[j] else float(_C_GRID[j])
    a, b, _ = _profile(s, y, s0, c)
    params = np.array([float(a), float(b), c])
    x = np.power(s + s0, -c)
    residuals = y - (params[0] - params[1] * x)
    dof = len(y) - 3
    jac = np.column_stack([np.ones_like(s), -x, params[1] * x * np.log(s + s0)])
    if dof > 0:
        sigma2 = float(residuals @ residuals) / dof
        cov = sigma2 * np.linalg.pinv(jac.T @ jac)
    else:
        cov = np.full((3, 3), np.nan)
    return SeedFit(params, cov, dof, residuals)


def fit_curve(steps, values, seeds=None, confidence: float = CONFIDENCE) -> Curve:
    """Fit one curve to points (steps, values), one series per seed.

    Raises `CurveError` (its message is the reason) when no curve can be fitted: no finite values, fewer than
    2 distinct milestones, or a fit that does not converge.
    """
    s = np.asarray(steps, dtype=float)
    y = np.asarray(values, dtype=float)
    seed = np.zeros(len(s)) if seeds is None else np.asarray(seeds)
    keep = np.isfinite(s) & np.isfinite(y) & (s >= 0)
    if not keep.any():
        raise CurveError("no finite score (NaN values or no rows)")
    s, y, seed = s[keep], y[keep], seed[keep]
    milestones = np.unique(s)
    n_seeds_total = len(np.unique(seed))
    family = family_for(len(milestones), float(np.ptp(y)))
    if family == NONE:
        raise CurveError(f"too few milestones ({len(milestones)}): a curve needs at least 2 step counts")
    if family == CONSTANT:
        fits = [SeedFit(np.array([y[seed == k].mean()]), np.zeros((1, 1)), 0, y[seed == k] - y[seed == k].mean())
                for k in np.unique(seed)]
        return Curve(family, 1.0, fits, milestones, n_seeds_total, "flat: every milestone scores the same", confidence)

    s0 = float(milestones[milestones > 0].min())
    start = None
    if family == SATURATING:
        s0, start = _shape(s, y)
    # A seed is fitted on its own when it has enough milestones for a residual; others are left out.
    needed = {SATURATING: MIN_SATURATING, LOG_LINEAR: 3, LINEAR: 2}[family]
    usable = [k for k in np.unique(seed) if len(np.unique(s[seed == k])) >= needed]
    fits, skipped = [], n_seeds_total - len(usable)
    for k in usable:
        sk, yk = s[seed == k], y[seed == k]
        s0k = s0
        if family == SATURATING and len(usable) >= 2:
            # The shape from the other seeds: its estimation error then differs from seed to seed and shows
            # in the spread over seeds, instead of shifting every seed's plateau the same way.
            others = np.isin(seed, [j for j in usable if j != k])
            try:
                s0k = _shape(s[others], y[others])[0]
            except CurveError:
                s0k = s0
        try:
            fits.append(_fit_family(family, sk, yk, s0k, start))
        except (RuntimeError, ValueError):
            skipped += 1
            continue
        fits[-1].s0 = s0k
    note = f"{skipped} seed(s) left out (too few milestones or no convergence)" if skipped else ""
    if not fits:
        # No seed alone has the milestones: fit all points as one series (its interval is the fit's own).
        try:
            fits = [_fit_family(family, s, y, s0, start)]
        except (RuntimeError, ValueError) as exc:
            raise CurveError(f"the {family} fit did not converge ({exc})") from None
        note = "seeds pooled into one series (no seed has enough milestones alone)"
    return Curve(family, s0, fits, milestones, n_seeds_total, note, confidence)


def _fit_family(family: str, s: np.ndarray, y: np.ndarray, s0: float, start) -> SeedFit:
    if family == SATURATING:
        return _saturating_fit(s, y, s0, start)
    if family == LOG_LINEAR:
        return _linear_fit(s, y, lambda x: np.column_stack([np.ones_like(x), np.log1p(x / s0)]))
    return _linear_fit(s, y, lambda x: np.column_stack([np.ones_like(x), x]))


# ------------------------------------------------------------------------------------ from the table
POINT_KEYS = ["model", "intermediate_task", "target_task", "seed", MILESTONE]
CURVE_KEYS = ["model", "intermediate_task", "target_task"]


def curve_points(df: pd.DataFrame, convention: aggregate.Convention | None = None) -> pd.DataFrame:
    """The points curves are fitted through: per (model, intermediate task, target task or `overall`, seed,
    step count), the zero-shot test `score` and its `gain` over the step-0 baseline of the same model and
    seed (0-100 points), `model_params`, the cost `intermediate_flops` and `gpu_hours` (NaN where not
    measured). Every intermediate task's curve starts at that model and seed's step-0 baseline, whatever
    trial recorded it; trials of one seed that differ in hyperparameters are averaged, as the gains are."""
    convention = convention or aggregate.Convention()
    metrics = convention.metrics(df)
    per_task = aggregate.task_scores(df, split="test", metrics=metrics, expected_languages=convention.languages)
    overall = aggregate.overall_scores(df, split="test", metrics=metrics, expected_languages=convention.languages)
    scores = pd.concat([overall.assign(target_task=OVERALL), per_task], ignore_index=True)
    if scores.empty:
        return pd.DataFrame(columns=[*POINT_KEYS, "model_params", "score", "gain", FLOPS, "gpu_hours"])
    if GPU_SECONDS in df.columns:
        gpu = df.groupby(["trial_id", MILESTONE])[GPU_SECONDS].max().rename("_gpu").reset_index()
        scores = scores.merge(gpu, on=["trial_id", MILESTONE], how="left")
    else:
        scores["_gpu"] = np.nan
    scores["gpu_hours"] = scores["_gpu"].where(scores["_gpu"] > 0) / 3600.0
    paired, _ = _paired(scores.drop(columns=["study"], errors="ignore"))
    base = paired[paired[MILESTONE] == 0]
    parts = []
    for task in sorted(t for t in paired["intermediate_task"].unique() if t != "none"):
        trained = paired[(paired["intermediate_task"] == task) & (paired[MILESTONE] > 0)]
        models = trained["model"].unique()
        parts.append(pd.concat([trained, base[base["model"].isin(models)].assign(intermediate_task=task)]))
    if not parts:
        return pd.DataFrame(columns=[*POINT_KEYS, "model_params", "score", "gain", FLOPS, "gpu_hours"])
    points = pd.concat(parts, ignore_index=True)
    out = points.groupby(POINT_KEYS, sort=True, dropna=False).agg(
        model_params=("model_params", "first"), score=("score", "mean"), gain=("gain", "mean"),
        **{FLOPS: (FLOPS, "mean")}, gpu_hours=("gpu_hours", "mean"),
    )
    return out.reset_index()


def _per_step(points: pd.DataFrame, column: str) -> float:
    """Cost per step by least squares through the origin over the positive milestones; NaN if unmeasured."""
    rows = points[(points[MILESTONE] > 0) & points[column].notna() & (points[column] > 0)]
    if rows.empty:
        return float("nan")
    s = rows[MILESTONE].to_numpy(float)
    return float(np.sum(s * rows[column].to_numpy(float)) / np.sum(s * s))


CURVE_COLUMNS = [
    "model", "model_params", "intermediate_task", "target_task", "quantity", "family", "form", "reason",
    "plateau", "plateau_ci_low", "plateau_ci_high", "plateau_extrapolated",
    "steps_to_90", "steps_to_95", "steps_to_90_extrapolated", "steps_to_95_extrapolated",
    "flops_to_90", "gpu_hours_to_90", "marginal_per_1k_steps", "marginal_per_gpu_hour",
    "last_milestone", "predicted_at_last", "predicted_ci_low", "predicted_ci_high",
    "residual_rms", "n_milestones", "n_seeds", "interval", "s0", "params",
    "flops_per_step", "gpu_hours_per_step",
    "holdout_milestone", "holdout_measured", "holdout_predicted", "holdout_ci_low", "holdout_ci_high",
    "holdout_error", "holdout_within_interval", "note",
]


def fit_group(points: pd.DataFrame, quantity: str, confidence: float = CONFIDENCE) -> tuple[dict, Curve | None]:
    """One curve's row (`CURVE_COLUMNS`) and its `Curve` (None when it could not be fitted)."""
    first = points.iloc[0] if len(points) else {}
    row = {k: first.get(k) for k in ("model", "model_params", "intermediate_task", "target_task")}
    row.update(quantity=quantity, reason="", note="", n_milestones=int(points[MILESTONE].nunique()),
               n_seeds=int(points.dropna(subset=[quantity])["seed"].nunique()))
    flops_per_step, gpu_per_step = _per_step(points, FLOPS), _per_step(points, "gpu_hours")
    row.update(flops_per_step=flops_per_step, gpu_hours_per_step=gpu_per_step)
    try:
        curve = fit_curve(points[MILESTONE], points[quantity], points["seed"], confidence)
    except CurveError as exc:
        return {**row, "family": NONE, "form": "", "reason": str(exc)}, None
    except Exception as exc:  # never let one curve stop a report: say why it is missing
        return {**row, "family": NONE, "form": "", "reason": f"fit failed: {type(exc).__name__}: {exc}"}, None
    last = float(curve.milestones.max())
    plateau = curve.plateau(confidence)
    s90, s95 = curve.steps_to_fraction(0.90), curve.steps_to_fraction(0.95)
    measured = curve.milestones
    slopes = curve.slope(measured)
    predicted = curve.predict([last], confidence)
    residuals = np.concatenate([f.residuals for f in curve.fits])
    row.update(
        family=curve.family, form=FAMILY_FORMS[curve.family], plateau=plateau[0], plateau_ci_low=plateau[1],
        plateau_ci_high=plateau[2], plateau_extrapolated=curve.family == SATURATING,
        steps_to_90=s90, steps_to_95=s95,
        steps_to_90_extrapolated=bool(np.isfinite(s90) and s90 > last),
        steps_to_95_extrapolated=bool(np.isfinite(s95) and s95 > last),
        flops_to_90=s90 * flops_per_step, gpu_hours_to_90=s90 * gpu_per_step,
        marginal_per_1k_steps=_by_milestone(measured, slopes * 1000.0),
        marginal_per_gpu_hour=_by_milestone(measured, slopes / gpu_per_step) if np.isfinite(gpu_per_step) else "",
        last_milestone=int(last), predicted_at_last=float(predicted[0][0]), predicted_ci_low=float(predicted[1][0]),
        predicted_ci_high=float(predicted[2][0]),
        residual_rms=float(np.sqrt(np.mean(residuals**2))) if residuals.size else float("nan"),
        n_seeds=curve.n_seeds, interval=curve.interval, s0=";".join(f"{curve._s0(f):.6g}" for f in curve.fits),
        params=";".join(",".join(f"{v:.6g}" for v in f.params) for f in curve.fits),
        note="; ".join(n for n in (curve.note, "the plateau is the limit s -> infinity: always an extrapolation"
                                   if curve.family == SATURATING else "") if n),
    )
    first = float(measured[measured > 0].min()) if (measured > 0).any() else float("nan")
    if np.isfinite(s90) and 0 < s90 < first:
        row["note"] = "; ".join(n for n in (row["note"], "steps_to_90 lies before the first milestone, where "
                                            "nothing is measured: the fit's shape there is not supported by data") if n)
    if curve.family in (LOG_LINEAR, LINEAR):
        row["reason"] = f"no plateau: {len(measured)} milestones are too few for a saturating fit (needs {MIN_SATURATING})"
    if curve.family == CONSTANT:
        row["reason"] = "flat: every milestone scores the same; nothing to fit"
    row.update(holdout(points, quantity, confidence))
    return row, curve


def holdout(points: pd.DataFrame, quantity: str, confidence: float = CONFIDENCE) -> dict:
    """Refit without the last milestone and predict it: error (predicted - measured mean) and whether the
    measured mean lies in the prediction's interval. NaN when the curve without it cannot be fitted."""
    out = {"holdout_milestone": np.nan, "holdout_measured": np.nan, "holdout_predicted": np.nan,
           "holdout_ci_low": np.nan, "holdout_ci_high": np.nan, "holdout_error": np.nan, "holdout_within_interval": None}
    usable = points.dropna(subset=[quantity])
    if usable[MILESTONE].nunique() < 3:
        return out
    last = usable[MILESTONE].max()
    measured = float(usable[usable[MILESTONE] == last].groupby("seed")[quantity].mean().mean())
    earlier = usable[usable[MILESTONE] < last]
    try:
        curve = fit_curve(earlier[MILESTONE], earlier[quantity], earlier["seed"], confidence)
        mean, low, high = (float(v[0]) for v in curve.predict([last], confidence))
    except Exception:  # a holdout that cannot be fitted leaves its columns empty, never the report
        return {**out, "holdout_milestone": int(last), "holdout_measured": measured}
    within = bool(low <= measured <= high) if np.isfinite(low) and np.isfinite(high) else None
    return {"holdout_milestone": int(last), "holdout_measured": measured, "holdout_predicted": mean,
            "holdout_ci_low": low, "holdout_ci_high": high, "holdout_error": mean - measured,
            "holdout_within_interval": within}


def _by_milestone(steps, values) -> str:
    return ";".join(f"{int(s)}:{v:.4g}" for s, v in zip(steps, values, strict=True))


@dataclass
class Curves:
    """Every curve of a table: the rows of curves.csv and the fitted `Curve` objects behind them."""

    table: pd.DataFrame
    fitted: dict[tuple[str, str, str, str], Curve]  # (model, intermediate task, target task, quantity)
    points: pd.DataFrame


def fit_curves(points: pd.DataFrame, confidence: float = CONFIDENCE) -> Curves:
    """One row per (model, intermediate task, target task, quantity) of `curve_points`: see CURVE_COLUMNS."""
    rows, fitted = [], {}
    if not points.empty:
        for key, group in points.groupby(CURVE_KEYS, sort=True, dropna=False):
            for quantity in QUANTITIES:
                row, curve = fit_group(group, quantity, confidence)
                rows.append(row)
                if curve is not None:
                    fitted[(*key, quantity)] = curve
    return Curves(pd.DataFrame(rows, columns=CURVE_COLUMNS), fitted, points)


def study_curves(df: pd.DataFrame, convention: aggregate.Convention | None = None,
                 confidence: float = CONFIDENCE) -> Curves:
    """`fit_curves` of the results table; an empty table (or one missing columns) gives no rows, not an error."""
    try:
        points = curve_points(df, convention)
    except (ValueError, KeyError):
        points = pd.DataFrame(columns=[*POINT_KEYS, "model_params", "score", "gain", FLOPS, "gpu_hours"])
    return fit_curves(points, confidence)


# ------------------------------------------------------------------------------------- across sizes
def _sizes(points: pd.DataFrame) -> list[str]:
    order = points.groupby("model")["model_params"].first().sort_values(kind="mergesort")
    return list(order.index)


def best_size_by_budget(curves: Curves, n_budgets: int = 12, draws: int = 4000, seed: int = 0,
                        confidence: float = CONFIDENCE) -> pd.DataFrame:
    """At each FLOPs budget, which size's score curve is predicted highest, and the probability that it is.

    Per (intermediate task, target task): budgets are `n_budgets` log-spaced FLOPs over the range any size
    measured; a size at budget B is at B / (its FLOPs per step) steps. Its prediction there is a Student-t
    distribution (mean and interval of `Curve.predict`, degrees of freedom from the seeds or residuals);
    the probability is the share of `draws` joint draws in which that size is highest. A size whose
    prediction there has no interval enters with its point value. `extrapolated`: the best size is past its
    last milestone there.
    """
    rows = []
    rng = np.random.default_rng(seed)
    points = curves.points
    if points.empty:
        return pd.DataFrame(columns=["intermediate_task", "target_task", "budget_flops", "best_model",
                                     "probability_best", "predicted_score", "steps", "extrapolated", "n_sizes"])
    for (task, target), group in points.groupby(["intermediate_task", "target_task"], sort=True):
        try:
            rows.extend(_best_size_rows(curves, task, target, group, n_budgets, draws, rng, confidence))
        except Exception:  # noqa: BLE001 - one group's odd data must not stop a report; it just has no rows
            continue
    return pd.DataFrame(rows, columns=["intermediate_task", "target_task", "budget_flops", "best_model",
                                       "probability_best", "predicted_score", "steps", "extrapolated", "n_sizes"])


def _best_size_rows(curves: Curves, task, target, group, n_budgets, draws, rng, confidence) -> list[dict]:
    rows: list[dict] = []
    sizes = [m for m in _sizes(group) if (m, task, target, "score") in curves.fitted]
    if len(sizes) < 2:
        return rows
    per_step = {m: _per_step(group[group["model"] == m], FLOPS) for m in sizes}
    sizes = [m for m in sizes if np.isfinite(per_step[m]) and per_step[m] > 0]
    if len(sizes) < 2:
        return rows
    costs = group[(group[MILESTONE] > 0) & group["model"].isin(sizes)][FLOPS].dropna()
    costs = costs[costs > 0]
    if costs.empty:
        return rows
    for budget in np.geomspace(costs.min(), costs.max(), n_budgets):
        samples, means, steps = [], [], []
        for m in sizes:
            curve = curves.fitted[(m, task, target, "score")]
            s = budget / per_step[m]
            mean, low, high = (float(v[0]) for v in curve.predict([s], confidence))
            dof = curve.n_seeds - 1 if curve.n_seeds >= 2 else curve.fits[0].dof
            scale = (high - mean) / stats.t.ppf((1 + confidence) / 2, dof) if dof > 0 and np.isfinite(high) else 0.0
            samples.append(mean + scale * (rng.standard_t(dof, draws) if scale > 0 else np.zeros(draws)))
            means.append(mean)
            steps.append(s)
        winner = np.argmax(np.stack(samples), axis=0)
        best = int(np.argmax(means))
        last = float(curves.fitted[(sizes[best], task, target, "score")].milestones.max())
        rows.append({"intermediate_task": task, "target_task": target, "budget_flops": float(budget),
                     "best_model": sizes[best], "probability_best": float(np.mean(winner == best)),
                     "predicted_score": means[best], "steps": steps[best], "extrapolated": steps[best] > last,
                     "n_sizes": len(sizes)})
    return rows


NO_CROSSOVER = "no crossover within the measured range"


def crossovers(curves: Curves, n_grid: int = 200, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """The FLOPs budget where a larger size, trained for fewer steps, overtakes a smaller one trained longer.

    Per (intermediate task, target task, smaller, larger): d(B) = larger's predicted score - smaller's, at
    B / FLOPs-per-step steps each, on `n_grid` log-spaced budgets over the range the two sizes measured
    together. The crossover is the first budget where d turns from negative to positive. Its interval: the
    budgets around it where d's Welch interval over the sizes' per-seed predictions
    (`analysis.gains.welch_interval`) holds 0, i.e. where the data cannot tell which size is ahead (NaN with
    fewer than 2 seeds per size). Without a sign change the row says NO_CROSSOVER.
    """
    columns = ["intermediate_task", "target_task", "smaller", "larger", "crossover_flops", "ci_low", "ci_high",
               "extrapolated", "verdict"]
    rows = []
    points = curves.points
    if points.empty:
        return pd.DataFrame(columns=columns)
    for (task, target), group in points.groupby(["intermediate_task", "target_task"], sort=True):
        sizes = [m for m in _sizes(group) if (m, task, target, "score") in curves.fitted]
        for i, small in enumerate(sizes):
            for large in sizes[i + 1:]:
                try:
                    rows.append(_crossover(curves, task, target, group, small, large, n_grid, confidence))
                except Exception as exc:  # noqa: BLE001 - say why, never stop the report
                    rows.append({"intermediate_task": task, "target_task": target, "smaller": small, "larger": large,
                                 "crossover_flops": np.nan, "ci_low": np.nan, "ci_high": np.nan, "extrapolated": False,
                                 "verdict": f"not computed: {type(exc).__name__}: {exc}"})
    return pd.DataFrame(rows, columns=columns)


def _crossover(curves: Curves, task, target, group, small, large, n_grid, confidence) -> dict:
    pair = group[group["model"].isin([small, large]) & (group[MILESTONE] > 0)]
    costs = pair[FLOPS].dropna()
    costs = costs[costs > 0]
    ps, pl = _per_step(group[group["model"] == small], FLOPS), _per_step(group[group["model"] == large], FLOPS)
    base = {"intermediate_task": task, "target_task": target, "smaller": small, "larger": large,
            "crossover_flops": np.nan, "ci_low": np.nan, "ci_high": np.nan, "extrapolated": False}
    if costs.empty or not (np.isfinite(ps) and np.isfinite(pl)):
        return {**base, "verdict": "no FLOPs measured"}
    grid = np.geomspace(costs.min(), costs.max(), n_grid)
    cs, cl = curves.fitted[(small, task, target, "score")], curves.fitted[(large, task, target, "score")]
    vs, vl = cs.per_seed(grid / ps), cl.per_seed(grid / pl)
    d = vl.mean(axis=0) - vs.mean(axis=0)
    ups = np.nonzero((d[:-1] < 0) & (d[1:] >= 0))[0]
    if ups.size == 0:
        return {**base, "verdict": NO_CROSSOVER}
    k = int(ups[0])
    x = float(np.exp(np.interp(0.0, [d[k], d[k + 1]], np.log(grid[k:k + 2]))))
    var = lambda v: v.var(axis=0, ddof=1) if v.shape[0] > 1 else np.full(v.shape[1], np.nan)  # noqa: E731
    _, low, high = welch_interval(vs.mean(axis=0), var(vs), vs.shape[0], vl.mean(axis=0), var(vl),
                                  vl.shape[0], confidence)
    holds = (low <= 0) & (high >= 0)
    lo_b = hi_b = np.nan
    if np.all(np.isfinite(low)):
        lo_i, hi_i = k, k + 1
        while lo_i > 0 and holds[lo_i - 1]:
            lo_i -= 1
        while hi_i < n_grid - 1 and holds[hi_i + 1]:
            hi_i += 1
        lo_b, hi_b = float(grid[lo_i]), float(grid[hi_i])
    last_small = cs.milestones.max() * ps
    first_large = cl.milestones[cl.milestones > 0].min() * pl
    return {**base, "crossover_flops": x, "ci_low": lo_b, "ci_high": hi_b,
            "extrapolated": bool(x > last_small or x < first_large),
            "verdict": f"{large} overtakes {small} at about {x:.3g} FLOPs"}


# ------------------------------------------------------------------------------------------ stopper
def flat_check(steps, values, next_step: float, min_gain: float, confidence: float) -> dict:
    """Whether one trunk has stopped improving: the stopper's rule (`intermediate_training.stop_when_flat`).

    Fits the trunk's own signal (one series) and predicts the gain from its last milestone to `next_step`,
    with the one-sided upper bound at `confidence` (delta method on the fit's covariance, t quantile on the
    residual degrees of freedom). "STOP" when that upper bound is below `min_gain` points, i.e. with
    `confidence` the next milestone adds less than `min_gain`. Needs 3 distinct milestones; without a residual
    (no degrees of freedom) or a usable fit it says "CONTINUE" and why.
    """
    s = np.asarray(steps, dtype=float)
    y = np.asarray(values, dtype=float)
    keep = np.isfinite(s) & np.isfinite(y)
    s, y = s[keep], y[keep]
    out = {"rule": "stop_when_flat", "n_milestones": int(len(np.unique(s))), "next_milestone": next_step,
           "min_gain": min_gain, "confidence": confidence, "family": NONE, "predicted_gain": None,
           "upper_bound": None, "decision": "CONTINUE", "reason": ""}
    if out["n_milestones"] < 3:
        return {**out, "reason": "fewer than 3 milestones"}
    try:
        curve = fit_curve(s, y, None, confidence)
    except CurveError as exc:
        return {**out, "reason": str(exc)}
    except Exception as exc:
        return {**out, "reason": f"fit failed: {type(exc).__name__}"}
    last = float(s.max())
    fit = curve.fits[0]
    out["family"] = curve.family
    if curve.family == CONSTANT:
        return {**out, "predicted_gain": 0.0, "upper_bound": 0.0,
                "decision": "STOP" if min_gain > 0 else "CONTINUE", "reason": "flat: every milestone scored the same"}
    fn = lambda p: evaluate(curve.family, [next_step], p, curve.s0) - evaluate(curve.family, [last], p, curve.s0)  # noqa: E731
    gain = float(fn(fit.params)[0])
    out["predicted_gain"] = gain
    if fit.dof <= 0 or not np.all(np.isfinite(fit.cov)):
        return {**out, "reason": "no residual degrees of freedom: cannot bound the gain"}
    jac = _jacobian(fn, fit.params)
    se = float(np.sqrt(max(float(jac[0] @ fit.cov @ jac[0]), 0.0)))
    upper = gain + float(stats.t.ppf(confidence, fit.dof)) * se
    out["upper_bound"] = upper
    if upper < min_gain:
        return {**out, "decision": "STOP",
                "reason": f"with {confidence:.0%} confidence the next milestone adds less than {min_gain} points"}
    return {**out, "reason": "the curve may still gain at least min_gain by the next milestone"}


BAND_COLUMNS = ["model", "intermediate_task", "target_task", "quantity", "family", MILESTONE, FLOPS, "mean", "low",
                "high", "extrapolated"]


def bands(curves: Curves, quantity: str = "score", n: int = 60, reach: float = 1.5,
          confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Each fitted curve of `quantity` with its interval, for drawing: step 0, then `n` log-spaced step counts
    from half the first positive milestone to `reach` x the last (past it: `extrapolated`), with the FLOPs
    of each step count at the curve's measured FLOPs per step."""
    per_step = {tuple(r[k] for k in (*CURVE_KEYS, "quantity")): r["flops_per_step"] for _, r in curves.table.iterrows()}
    parts = []
    for key, curve in curves.fitted.items():
        if key[3] != quantity:
            continue
        positive = curve.milestones[curve.milestones > 0]
        if positive.size == 0:
            continue
        last = float(curve.milestones.max())
        steps = np.concatenate([[0.0], np.geomspace(positive.min() / 2, last * reach, n)])
        mean, low, high = curve.predict(steps, confidence)
        parts.append(pd.DataFrame({
            "model": key[0], "intermediate_task": key[1], "target_task": key[2], "quantity": quantity,
            "family": curve.family, MILESTONE: steps, FLOPS: steps * per_step.get(key, np.nan), "mean": mean,
            "low": low, "high": high, "extrapolated": steps > last,
        }))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=BAND_COLUMNS)


def holdout_summary(table: pd.DataFrame, quantity: str = "score") -> dict:
    """The held-back-milestone check over every curve of `quantity` that has one (the gain's error equals the
    score's: they differ by each seed's constant baseline): how many, the median and largest absolute error
    (points), and in how many the measured value lay inside the prediction's interval (of those with one)."""
    rows = table[(table["quantity"] == quantity) & pd.to_numeric(table["holdout_error"], errors="coerce").notna()]
    errors = rows["holdout_error"].astype(float).abs()
    with_interval = rows[rows["holdout_within_interval"].notna()]
    return {
        "curves": int(len(rows)),
        "median_abs_error": float(errors.median()) if len(rows) else float("nan"),
        "max_abs_error": float(errors.max()) if len(rows) else float("nan"),
        "with_interval": int(len(with_interval)),
        "within_interval": int(with_interval["holdout_within_interval"].astype(bool).sum()),
    }
