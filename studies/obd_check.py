r"""Do the off-policy estimators recover a real policy's click rate from another policy's log? The Open Bandit Dataset check.

ZOZOTOWN served each impression of its recommendation widget (three positions) either uniformly at
random or by Bernoulli Thompson sampling (bts); the Open Bandit Dataset logs both (``data/obd/``).
As its authors do (Saito et al., NeurIPS 2021 Datasets and Benchmarks, arXiv:2008.07146), this
estimates bts's click rate from the *random* log and compares it with bts's own logged click rate,
campaign by campaign. An impression's action is the item shown at its position :math:`k`, so the
weight of row i is :math:`w_i = \pi_{bts}(a_i \mid k_i) / p_i` with :math:`p_i` = 1 / items.

bts is context-free, so :math:`\pi_{bts}(a \mid k)` is one table per campaign. Two are used:

- ``prior``: the probability that item a is ranked k-th when every item's click rate is drawn
  from its Beta distribution with ZOZOTOWN's parameters at the start of the collection
  (``data/obd/prior_bts.yaml``), by Monte Carlo over ``n_sim`` draws: Open Bandit Pipeline's
  ``BernoulliTS(is_zozotown_prior=True).compute_batch_action_dist``, which the paper uses,
  reimplemented here. The policy updated its parameters during the week (its logged propensities of
  one item at one position vary), so this is bts as it started, not as it ran.
- ``logged``: the share of bts's impressions at position k that showed item a, from the bts log:
  an unbiased estimate of bts's probabilities averaged over the week, which is what its logged
  click rate averages over (for a context-free policy on independent impressions the mean reward
  is linear in the policy). It uses bts's actions, never its clicks.

The reward model of DM and the DR family regresses the click on the user features (one-hot) and
the position, plus an effect per item (:mod:`policies.ope.reward_model`), cross-fitted by
impression. bts's logged click rate comes with its Wald and Wilson intervals
(:func:`experiments.stats.proportion_ci`). With about 40 clicks per 10,000 impressions, the
sample cannot separate a few hundredths of a percentage point; what it can show is whether the
estimates and the logged rate are of the same size, and whether their intervals meet.

Run on demand: ``python -m studies.obd_check [--n-sim 100000] [--replicates 1000] [--seed 0]``.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from experiments.stats import proportion_ci
from policies.ope.estimators import Estimate, Logged, estimate
from policies.ope.reward_model import ActionCoding, cross_fit
from sim.resources import data_dir

CAMPAIGNS = ("all", "men", "women")
POSITIONS = 3
USER_FEATURES = [f"user_feature_{j}" for j in range(4)]


def load(policy: str, campaign: str, rows: int | None = None) -> pd.DataFrame:
    """The log of ``policy`` (``random`` or ``bts``) in ``campaign``, its first ``rows`` rows (None: all); positions 0-based."""
    frame = pd.read_csv(data_dir() / "obd" / f"{policy}_{campaign}.csv.gz", nrows=rows)
    return frame.assign(position=frame["position"] - 1)


def prior(campaign: str) -> tuple[np.ndarray, np.ndarray]:
    """ZOZOTOWN's Beta parameters (alpha, beta) of every item of ``campaign`` at the start of the collection."""
    table = yaml.safe_load((data_dir() / "obd" / "prior_bts.yaml").read_text())[campaign]
    return np.asarray(table["alpha"], dtype=np.float64), np.asarray(table["beta"], dtype=np.float64)


def bts_prior_probabilities(alpha: np.ndarray, beta: np.ndarray, n_sim: int, rng: np.random.Generator, block: int = 10_000) -> np.ndarray:
    """(items, 3) the probability that each item is shown at each position: draw a click rate per item from its Beta,
    rank the items by it, and count how often each lands k-th, over ``n_sim`` draws (Monte Carlo, as obp does)."""
    counts = np.zeros((alpha.size, POSITIONS))
    for start in range(0, n_sim, block):
        draws = rng.beta(alpha, beta, size=(min(block, n_sim - start), alpha.size))
        top = np.argsort(-draws, axis=1, kind="stable")[:, :POSITIONS]
        for k in range(POSITIONS):
            counts[:, k] += np.bincount(top[:, k], minlength=alpha.size)
    return counts / n_sim


def logged_frequencies(bts: pd.DataFrame, items: int) -> np.ndarray:
    """(items, 3) the share of bts's impressions at each position that showed each item."""
    counts = np.zeros((items, POSITIONS))
    np.add.at(counts, (bts["item_id"].to_numpy(), bts["position"].to_numpy()), 1.0)
    return counts / counts.sum(axis=0, keepdims=True)


def evaluate(random: pd.DataFrame, pi: np.ndarray, replicates: int, seed: int, folds: int = 5) -> Estimate:
    """Every estimator of bts's click rate on the random log, with ``pi`` (items, 3) as bts's probabilities."""
    items = pi.shape[0]
    a, k = random["item_id"].to_numpy(), random["position"].to_numpy()
    x = np.hstack([pd.get_dummies(random[USER_FEATURES].astype(str), drop_first=True).to_numpy(dtype=np.float64),
                   np.eye(POSITIONS)[k][:, 1:]])
    coding = ActionCoding(np.ones((items, 1)), np.eye(items))  # the context's effect is the same for every item, plus the item's own
    reward = random["click"].to_numpy(dtype=np.float64)
    rows = np.arange(len(random))
    q_logged, q_policy = cross_fit(x, coding.table[a], pi[:, k].T @ coding.table, reward, rows, 1, folds=folds, ridge=1.0, seed=seed)
    weight = pi[a, k] / random["propensity_score"].to_numpy()
    return estimate(Logged(reward, weight, q_logged, q_policy), rows, replicates, seed)


def wilson(clicks: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval of a proportion, the better one at a few dozen clicks."""
    z = stats.norm.ppf(0.5 + level / 2)
    p = clicks / n
    centre, half = (p + z**2 / (2 * n)) / (1 + z**2 / n), z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return float(centre - half), float(centre + half)


def check(campaign: str, n_sim: int, replicates: int, seed: int, rows: int | None = None) -> pd.DataFrame:
    """One campaign: per estimator and source of bts's probabilities, the estimate of bts's click rate, its interval, its
    relative error against bts's logged click rate, and whether the interval holds that rate; with bts's logged rate."""
    random, bts = load("random", campaign, rows), load("bts", campaign, rows)
    alpha, beta = prior(campaign)
    truth = proportion_ci(bts["click"].to_numpy())
    low_w, high_w = wilson(int(bts["click"].sum()), len(bts))
    sources = {"prior": bts_prior_probabilities(alpha, beta, n_sim, np.random.default_rng(seed)),
               "logged": logged_frequencies(bts, alpha.size)}
    out = []
    for source, pi in sources.items():
        result = evaluate(random, pi, replicates, seed)
        for _, r in result.table.iterrows():
            out.append({"campaign": campaign, "bts_probabilities": source, "estimator": r["estimator"], "estimate": r["value"],
                        "low": r["low"], "high": r["high"], "relative_error": abs(r["value"] - truth.mean) / truth.mean,
                        "holds_bts_rate": bool(r["low"] <= truth.mean <= r["high"]), "ess": result.ess,
                        "random_rows": len(random), "random_click_rate": float(random["click"].mean()),
                        "bts_rows": len(bts), "bts_click_rate": truth.mean, "bts_wald_low": truth.low, "bts_wald_high": truth.high,
                        "bts_wilson_low": low_w, "bts_wilson_high": high_w})
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sim", type=int, default=100_000, help="Monte Carlo draws of bts's ranking (obp's default)")
    parser.add_argument("--replicates", type=int, default=1000, help="bootstrap replicates of each interval")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    table = pd.concat([check(c, args.n_sim, args.replicates, args.seed) for c in CAMPAIGNS], ignore_index=True)
    print(f"Open Bandit Dataset sample (data/obd), bts's click rate from the random log; n_sim={args.n_sim:,}, "
          f"{args.replicates} bootstrap replicates (impressions resampled), seed {args.seed}; percent")
    for campaign, rows in table.groupby("campaign", sort=False):
        r = rows.iloc[0]
        print(f"\n{campaign}: random {r['random_rows']:,} rows, click rate {100 * r['random_click_rate']:.3f}; bts logged click rate "
              f"{100 * r['bts_click_rate']:.3f} [Wald {100 * r['bts_wald_low']:.3f}, {100 * r['bts_wald_high']:.3f}; Wilson "
              f"{100 * r['bts_wilson_low']:.3f}, {100 * r['bts_wilson_high']:.3f}]")
        print(f"{'estimator':<10} {'bts probs':<8} {'estimate [95% interval]':>28} {'rel. error':>10} {'holds bts':>9} {'ESS':>7}")
        for _, e in rows.iterrows():
            ci = f"{100 * e['estimate']:.3f} [{100 * e['low']:.3f}, {100 * e['high']:.3f}]"
            print(f"{e['estimator']:<10} {e['bts_probabilities']:<8} {ci:>28} {e['relative_error']:>10.2f} {str(e['holds_bts_rate']):>9} "
                  f"{e['ess']:>7,.0f}")


if __name__ == "__main__":
    main()
