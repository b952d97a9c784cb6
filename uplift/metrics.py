r"""How well scores rank customers by their uplift, judged on a randomised log: curves, areas, uplift@k, intervals.

One treatment against the control at a time: ``treated`` (n,) is 1 for the treatment's customers
and 0 for the control's, ``y`` (n,) their outcomes, ``score`` (n,) a model's predicted uplift of the
treatment (higher = target first). A multi-arm log is cut into pairs with :func:`arm_rows`, and each
arm judged on its own column of the model's (n, K) predictions.

Sort the customers by score, highest first, and let :math:`N_T(j), N_C(j)` be the treated and
control customers among the top :math:`j`, and :math:`Y_T(j), Y_C(j)` their summed outcomes. At
each distinct score (tied customers enter together):

.. math::

    \text{uplift curve}\quad U(j) = \Big(\frac{Y_T(j)}{N_T(j)} - \frac{Y_C(j)}{N_C(j)}\Big)\,\big(N_T(j) + N_C(j)\big)

    \text{Qini curve}\quad Q(j) = Y_T(j) - Y_C(j)\,\frac{N_T(j)}{N_C(j)}

(a ratio with an empty denominator counts 0), both 0 at :math:`j = 0`: the incremental outcome
of treating the top :math:`j` customers, estimated from the log. These are scikit-uplift's
``uplift_curve`` and ``qini_curve``.

**Normalised areas.** With :math:`A` the trapezoid area under a curve, :math:`A_{\text{random}}`
the area under the straight line from the origin to the curve's end (random targeting), and
:math:`A_{\text{perfect}}` the area under the curve of the perfect scores :math:`y_i(2 t_i - 1)`
(every treated responder first, largest outcome first, every control responder last: the best
order the log itself can show),

.. math::  \text{AUUC} = \frac{A(U) - A_{\text{random}}(U)}{A_{\text{perfect}}(U) - A_{\text{random}}(U)}, \qquad
           \text{Qini} = \frac{A(Q) - A_{\text{random}}(Q)}{A_{\text{perfect}}(Q) - A_{\text{random}}(Q)}

so random targeting scores 0 (in expectation), the perfect order 1, and a negative value means
worse than random. The Qini coefficient is scikit-uplift's ``qini_auc_score`` (``negative_effect=True``,
whose perfect scores are these); the AUUC is its ``uplift_auc_score`` but for the perfect curve,
which scikit-uplift draws for 0/1 outcomes only with its own order of ties, and which here is the
Qini curve's perfect order for any outcome, so that spend and profit are judged the same way.

**uplift@k** (scikit-uplift's ``uplift_at_k``): the treated customers' mean outcome minus the
control's among the top share :math:`k` by score, with the top taken ``by_group`` (the top
:math:`\lfloor k N_T \rfloor` treated and :math:`\lfloor k N_C \rfloor` control customers, each group
ranked on its own: the default, as the treatment's share in the top then cannot drift with the
score) or ``overall`` (the top :math:`\lfloor k n \rfloor` customers of both groups together).

**Unequal assignment.** A log whose customers had different probabilities :math:`p_i` of the
treatment (given that they got the treatment or the control) is weighted: treated customers by
:math:`\bar p / p_i`, control customers by :math:`(1 - \bar p)/(1 - p_i)` (:math:`\bar p` the mean
of :math:`p_i`), every count and sum above becomes a weighted one. With one probability for all,
every weight is 1 and the formulas are the plain ones.

**Intervals.** :func:`evaluate` resamples customers with replacement within the treated and
within the control group (the design's group sizes kept), recomputes every metric of every
scorer on the same resample (so differences between scorers are paired), and gives the 2.5th and
97.5th percentiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from uplift.checks import UpliftInputError, as_indicator, as_vector

STRATEGIES = ("by_group", "overall")
METRICS = ("qini", "auuc", "uplift_at_k", "uplift_at_k_overall")
"""the metrics of :func:`evaluate`: normalised Qini and uplift-curve areas, uplift@k by group and overall"""
LEVEL = 0.95


@dataclass(frozen=True)
class Curve:
    """A curve's points: ``x`` customers targeted (weighted), ``y`` the estimated incremental outcome; both start at 0."""

    x: np.ndarray
    y: np.ndarray

    def area(self) -> float:
        return float(np.trapezoid(self.y, self.x))

    def random_area(self) -> float:
        """The area under random targeting: the line from the origin to the curve's end."""
        return float(self.x[-1] * self.y[-1] / 2)


@dataclass(frozen=True)
class Pair:
    """One treatment against the control, checked: the indicator, outcomes, weights (1 under one assignment probability)."""

    treated: np.ndarray
    y: np.ndarray
    weight: np.ndarray

    @classmethod
    def of(cls, treated: object, y: object, propensity: object = None) -> Pair:
        out = as_vector(y, "y")
        flags = as_indicator(treated, len(out))
        return cls(flags, out, assignment_weights(flags, propensity))

    def __len__(self) -> int:
        return len(self.y)

    def take(self, rows: np.ndarray) -> Pair:
        return Pair(self.treated[rows], self.y[rows], self.weight[rows])


def assignment_weights(treated: np.ndarray, propensity: object = None) -> np.ndarray:
    r"""(n,) weights that undo unequal assignment: :math:`\bar p/p_i` treated, :math:`(1-\bar p)/(1-p_i)` control; all 1 if ``propensity`` is None or one value."""
    n = len(treated)
    if propensity is None:
        return np.ones(n)
    p = np.full(n, float(propensity)) if np.ndim(propensity) == 0 else as_vector(propensity, "propensity", n)
    bad = ~((p > 0) & (p < 1))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise UpliftInputError(f"propensity: value {float(p[first])!r} at row {first}; allowed: a probability of the treatment in (0, 1)")
    if p.min() == p.max():
        return np.ones(n)  # one probability for all: every weight is exactly 1
    mean = p.mean()
    return np.where(treated, mean / p, (1 - mean) / (1 - p))


def arm_rows(treatment: object, arm: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows of treatment ``arm`` and of the control (code 0) in a log of codes, and the 0/1 indicator on those rows."""
    codes = np.asarray(treatment)
    if arm < 1:
        raise UpliftInputError(f"arm={arm}: the control (0) cannot be judged against itself; allowed: a treatment code 1..K")
    rows = (codes == arm) | (codes == 0)
    for code, what in ((arm, f"treatment {arm}"), (0, "the control (0)")):
        if not np.any(codes == code):
            raise UpliftInputError(f"treatment: {what} has no rows (codes present: {sorted(set(codes.tolist()))}); allowed: both in the log")
    return rows, codes[rows] == arm


def _check_score(score: object, n: int, name: str = "score") -> np.ndarray:
    return as_vector(score, name, n)


def _cumulative(score: np.ndarray, pair: Pair) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """N_T, N_C, Y_T, Y_C at each distinct score, customers sorted by score, highest first (ties enter together)."""
    order = np.argsort(-score, kind="stable")
    s, t, y, w = score[order], pair.treated[order], pair.y[order], pair.weight[order]
    wt, wc = w * t, w * ~t
    ends = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    return np.cumsum(wt)[ends], np.cumsum(wc)[ends], np.cumsum(wt * y)[ends], np.cumsum(wc * y)[ends]


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a), where=b != 0)


def _uplift(nt: np.ndarray, nc: np.ndarray, yt: np.ndarray, yc: np.ndarray) -> Curve:
    return Curve(np.r_[0.0, nt + nc], np.r_[0.0, (_ratio(yt, nt) - _ratio(yc, nc)) * (nt + nc)])


def _qini(nt: np.ndarray, nc: np.ndarray, yt: np.ndarray, yc: np.ndarray) -> Curve:
    return Curve(np.r_[0.0, nt + nc], np.r_[0.0, yt - yc * _ratio(nt, nc)])


def uplift_curve(score: object, treated: object, y: object, propensity: object = None) -> Curve:
    """The uplift curve :math:`U` of ``score`` on the log (see the module docstring)."""
    pair = Pair.of(treated, y, propensity)
    return _uplift(*_cumulative(_check_score(score, len(pair)), pair))


def qini_curve(score: object, treated: object, y: object, propensity: object = None) -> Curve:
    """The Qini curve :math:`Q` of ``score`` on the log (see the module docstring)."""
    pair = Pair.of(treated, y, propensity)
    return _qini(*_cumulative(_check_score(score, len(pair)), pair))


def perfect_scores(treated: np.ndarray, y: np.ndarray) -> np.ndarray:
    """:math:`y_i (2 t_i - 1)`: treated responders first (largest outcome first), control responders last."""
    return np.where(np.asarray(treated, dtype=bool), 1.0, -1.0) * np.asarray(y, dtype=np.float64)


def _normalised(curve: Curve, perfect: Curve) -> float:
    span = perfect.area() - perfect.random_area()
    return (curve.area() - curve.random_area()) / span if span != 0 else float("nan")


def _areas(score: np.ndarray, pair: Pair, perfect: tuple[Curve, Curve]) -> tuple[float, float]:
    sums = _cumulative(score, pair)
    return _normalised(_qini(*sums), perfect[0]), _normalised(_uplift(*sums), perfect[1])


def _perfect(pair: Pair) -> tuple[Curve, Curve]:
    sums = _cumulative(perfect_scores(pair.treated, pair.y), pair)
    return _qini(*sums), _uplift(*sums)


def qini_coefficient(score: object, treated: object, y: object, propensity: object = None) -> float:
    """The normalised area under the Qini curve: 0 = random targeting, 1 = the perfect order (NaN if the log shows no effect to order)."""
    pair = Pair.of(treated, y, propensity)
    return _areas(_check_score(score, len(pair)), pair, _perfect(pair))[0]


def auuc(score: object, treated: object, y: object, propensity: object = None) -> float:
    """The normalised area under the uplift curve: 0 = random targeting, 1 = the perfect order."""
    pair = Pair.of(treated, y, propensity)
    return _areas(_check_score(score, len(pair)), pair, _perfect(pair))[1]


def _check_k(k: float, strategy: str) -> None:
    if not 0 < k <= 1:
        raise UpliftInputError(f"k={k!r}; allowed: a share of the customers in (0, 1]")
    if strategy not in STRATEGIES:
        raise UpliftInputError(f"strategy={strategy!r}; allowed: {', '.join(STRATEGIES)}")


def _at_k(score: np.ndarray, pair: Pair, k: float, strategy: str) -> float:
    if strategy == "overall":
        top = np.argsort(-score, kind="stable")[: int(len(score) * k)]
        t, y, w = pair.treated[top], pair.y[top], pair.weight[top]
        if not t.any() or t.all():
            return float("nan")  # the top holds one group only: no difference to take
        return float(np.average(y[t], weights=w[t]) - np.average(y[~t], weights=w[~t]))
    means = []
    for group in (pair.treated, ~pair.treated):
        rows = np.flatnonzero(group)
        top = rows[np.argsort(-score[rows], kind="stable")[: max(int(len(rows) * k), 1)]]
        means.append(np.average(pair.y[top], weights=pair.weight[top]))
    return float(means[0] - means[1])


def uplift_at_k(score: object, treated: object, y: object, k: float = 0.1, strategy: str = "by_group", propensity: object = None) -> float:
    """Treated mean outcome minus control mean outcome among the top share ``k`` by score (``strategy``: by_group or overall)."""
    _check_k(k, strategy)
    pair = Pair.of(treated, y, propensity)
    return _at_k(_check_score(score, len(pair)), pair, k, strategy)


def _all_metrics(score: np.ndarray, pair: Pair, perfect: tuple[Curve, Curve], k: float) -> list[float]:
    qini, area = _areas(score, pair, perfect)
    return [qini, area, _at_k(score, pair, k, "by_group"), _at_k(score, pair, k, "overall")]


def evaluate(scores: dict[str, object], treated: object, y: object, propensity: object = None, k: float = 0.1,
             replicates: int = 1000, seed: int = 0, differences: tuple[tuple[str, str], ...] = ()) -> pd.DataFrame:
    """Every metric of every scorer on one treatment-vs-control log, with paired bootstrap intervals.

    :param scores: name -> (n,) scores, one per customer of the log.
    :param differences: pairs ``(a, b)`` of scorer names whose difference ``a - b`` gets its own row, its interval
        taken on the same resamples (paired).
    :param replicates: bootstrap resamples (customers drawn with replacement within each group).
    :param seed: the resampling's seed: the same inputs and seed give the same table bit for bit.
    :return: one row per scorer (or ``a - b``) and metric: ``scorer, metric, value, low, high, level, n_treated, n_control, k``.
    """
    _check_k(k, "by_group")
    if replicates < 10:
        raise UpliftInputError(f"replicates={replicates}; allowed: at least 10 bootstrap resamples")
    if not scores:
        raise UpliftInputError("scores: none given; allowed: at least one scorer, name -> one score per customer")
    pair = Pair.of(treated, y, propensity)
    checked = {name: _check_score(s, len(pair), f"scores[{name!r}]") for name, s in scores.items()}
    for a, b in differences:
        for name in (a, b):
            if name not in checked:
                raise UpliftInputError(f"differences: {name!r} is not a scorer; allowed: {', '.join(checked)}")
    point = {name: _all_metrics(s, pair, _perfect(pair), k) for name, s in checked.items()}
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(pair.treated), np.flatnonzero(~pair.treated)]
    draws = {name: np.empty((replicates, len(METRICS))) for name in checked}
    for r in range(replicates):
        rows = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        sample = pair.take(rows)
        perfect = _perfect(sample)
        for name, s in checked.items():
            draws[name][r] = _all_metrics(s[rows], sample, perfect, k)
    series = [(name, point[name], draws[name]) for name in checked]
    series += [(f"{a} - {b}", list(np.subtract(point[a], point[b])), draws[a] - draws[b]) for a, b in differences]
    tail = 100 * (1 - LEVEL) / 2
    rows_out = []
    for name, values, boot in series:
        low, high = np.nanpercentile(boot, [tail, 100 - tail], axis=0)
        for j, metric in enumerate(METRICS):
            rows_out.append({"scorer": name, "metric": metric, "value": values[j], "low": low[j], "high": high[j]})
    table = pd.DataFrame(rows_out)
    return table.assign(level=LEVEL, n_treated=len(groups[0]), n_control=len(groups[1]), k=k)
