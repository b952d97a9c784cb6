"""The comparison report a marketer reads: ``report.md`` and its plots.

Every sentence of judgement in the report is computed from the intervals: a policy "beats"
another only when the 95% interval of their paired difference excludes zero.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.io import atomic_write, write_text  # noqa: E402
from experiments.metrics import EVERYONE, HOLDOUT, ORACLE, REFERENCE, best_rule  # noqa: E402
from experiments.stats import mean_ci  # noqa: E402

PLOTS = ("cumulative_incremental_profit.png", "action_mix.png", "incremental_by_archetype.png")


def _bounds(row: pd.Series, metric: str, fmt: str = "{:,.2f}", scale: float = 1.0) -> str:
    """``[low, high]`` of a comparison row's metric, divided by ``scale``; "[one seed]" where a single seed gives no interval."""
    low, high = (row[f"{metric}_{part}"] / scale for part in ("low", "high"))
    return "[one seed]" if pd.isna(low) else f"[{fmt.format(low)}, {fmt.format(high)}]"


def _ci(row: pd.Series, metric: str, fmt: str = "{:,.2f}", scale: float = 1.0) -> str:
    """``mean [low, high]`` of a comparison row's metric, divided by ``scale`` (:func:`_bounds`)."""
    return f"{fmt.format(row[f'{metric}_mean'] / scale)} {_bounds(row, metric, fmt, scale)}"


def markdown_table(comparison: pd.DataFrame) -> str:
    """The headline table: one line per policy, best first."""
    header = (
        "| policy | incremental profit / shopper [95% CI] | vs best rule set, / shopper [95% CI] | vs blast, / shopper [95% CI] "
        "| % of reference | last 30 days: / shopper | % of reference | sends / shopper | open rate | unsub. | churned | violations | decide s |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [header]
    for _, r in comparison.sort_values("incremental_profit_per_shopper_mean", ascending=False).iterrows():
        per = r["shoppers_mean"]
        diff, vs_blast = (_ci(r, f"diff_vs_{y}", "{:+,.2f}", per) if f"diff_vs_{y}_mean" in r else "-" for y in ("best_rule", "blast"))
        share, late = (f"{r[f'{m}_mean']:.0f}%" if pd.notna(r[f"{m}_mean"]) else "-" for m in ("pct_of_reference", "pct_of_reference_last_30d"))
        lines.append(
            f"| {r['policy']} | {_ci(r, 'incremental_profit_per_shopper')} | {diff} | {vs_blast} | {share} | {r['incremental_profit_last_30d_per_shopper_mean']:,.2f} "
            f"| {late} | {r['sends_per_shopper_mean']:.1f} "
            f"| {r['open_rate_mean']:.1%} | {r['unsubscribes_mean']:,.0f} | {r['churned_mean']:,.0f} | {r['violations_mean']:.0f} "
            f"| {r['decide_seconds_mean']:.2f} |"
        )
    return "\n".join(lines)


def verdicts(comparison: pd.DataFrame) -> list[str]:
    """Plain sentences, each backed by an interval, in the table's unit (per shopper)."""
    out = []
    if "best_rule" not in comparison:
        return ["No rule set was run, so there is no yardstick for the other policies."]
    best = comparison["best_rule"].iloc[0]
    out.append(f"The best rule set is **{best}** (highest mean incremental profit among the rule sets).")
    for _, r in comparison.iterrows():
        if r["policy"] in (best, HOLDOUT):
            continue
        low, high = r["diff_vs_best_rule_low"], r["diff_vs_best_rule_high"]
        if pd.isna(low):
            out.append(f"**{r['policy']}** and {best} ran on one seed: no interval, so no verdict (run several seeds).")
            continue
        interval = f"paired 95% interval {_bounds(r, 'diff_vs_best_rule', '{:+,.2f}', r['shoppers_mean'])} per shopper"
        if low > 0:
            out.append(f"**{r['policy']}** earns more than {best}: {interval}.")
        elif high < 0:
            out.append(f"**{r['policy']}** earns less than {best} ({interval}).")
        else:
            out.append(f"**{r['policy']}** and {best} cannot be told apart with these seeds ({interval}, includes 0).")
    learners = comparison[comparison.policy.map(is_learner)]
    if "diff_vs_blast_mean" in comparison:
        for _, r in learners.iterrows():
            interval = f"paired 95% interval {_bounds(r, 'diff_vs_blast', '{:+,.2f}', r['shoppers_mean'])} per shopper"
            if pd.isna(r["diff_vs_blast_low"]):
                continue
            side = ("earns more than" if r["diff_vs_blast_low"] > 0 else "earns less than" if r["diff_vs_blast_high"] < 0
                    else "cannot be told apart from")
            out.append(f"**{r['policy']}** {side} blast, the weekly e-mail to all ({interval}).")
    if not learners.empty and not (learners["diff_vs_best_rule_low"] > 0).any():
        out.append(f"No learning policy in this run beats {best} beyond doubt: for a shop like this market, the rules are enough.")
    return out


def first_day_ahead(daily: pd.DataFrame, policy: str, reference: str) -> int | None:
    """First day on which ``policy``'s mean cumulative incremental profit passes ``reference``'s and stays ahead."""
    mean = daily.groupby(["policy", "day"])["cumulative_incremental_profit"].mean()
    gap = (mean[policy] - mean[reference]).to_numpy()
    behind = np.flatnonzero(gap <= 0)
    if behind.size == 0:
        return 0
    return int(behind[-1] + 1) if behind[-1] + 1 < gap.size else None


def write_plots(daily: pd.DataFrame, mix: pd.DataFrame, archetypes: pd.DataFrame, run_dir: Path) -> list[Path]:
    """Three figures: cumulative incremental profit with 95% bands, action mix, incremental profit per archetype."""
    paths = []

    policies = list(dict.fromkeys(daily.policy))
    roles = highlighted(daily)
    style = policy_styles(policies, roles)
    paths.append(save_figure(cumulative_figure(daily, roles, style), run_dir / PLOTS[0]))

    parts = ("channel", "offer", "slot")
    everyone = mix[mix.archetype == EVERYONE]
    fig, axes = plt.subplots(1, 3, figsize=(15, 6.5), gridspec_kw={"width_ratios": [1, 2, 1]})
    for ax, part in zip(axes, parts):
        table = everyone[everyone.part == part].pivot(index="policy", columns="value", values="share").fillna(0.0)
        table = table.loc[[p for p in dict.fromkeys(mix.policy) if p in table.index]]
        table.plot.bar(stacked=True, ax=ax, legend=True, width=0.8, colormap="tab20" if part == "offer" else "tab10")
        ax.set(title=f"messages by {part}", ylabel="share of messages", xlabel="")
        ax.legend(fontsize=6, ncol=3 if part == "offer" else 1, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    paths.append(save_figure(fig, run_dir / PLOTS[1]))

    fig, ax = plt.subplots(figsize=(10, 5))
    table = archetypes.groupby(["archetype", "policy"], sort=False)["incremental_profit_per_shopper"].mean().unstack("policy")
    table.plot.bar(ax=ax, width=0.85, color=[style[p][0] for p in table.columns])
    for bars, policy in zip(ax.containers, table.columns):
        if style[policy][1] != "-":
            for bar in bars:
                bar.set_hatch("///")
    ax.axhline(0, color="black", lw=0.8)
    ax.set(ylabel="incremental profit per shopper", title="Incremental profit per archetype (mean over seeds)")
    ax.legend(fontsize=7, ncol=2)
    paths.append(save_figure(fig, run_dir / PLOTS[2]))
    return paths


def is_learner(policy: str) -> bool:
    """A policy that learns from its own decisions: not the holdout, the oracles, a baseline or a rule set."""
    return policy not in (HOLDOUT, ORACLE, REFERENCE, "random", "blast") and not policy.startswith("rules_")


# What the main plot singles out, in legend order, each with its own colour and a label saying why;
# every other policy is drawn thin and grey beside them and in colour in a panel of its own. The
# others' colours are the rest of tab10 (no role colour, no grey), solid, then dashed, then dotted.
ROLE_COLOURS = {"reference": "black", "best learner": "tab:red", "best rule set": "tab:blue",
                "blast": "tab:orange", "no contact": "tab:green"}
ROLE_LABELS = {"reference": "the reference", "best learner": "best learner", "best rule set": "best rule set",
               "blast": "weekly e-mail to all", "no contact": "the holdout"}
OTHER_COLOURS = tuple(plt.get_cmap("tab10").colors[k] for k in (4, 5, 6, 8, 9))
OTHER_LINES = ("-", "--", ":")
FADED = "#b0b0b0"


def highlighted(daily: pd.DataFrame) -> dict[str, str]:
    """Role -> policy for the series the main plot singles out: the reference (:mod:`policies.planner`), the learner
    and the rule set (:func:`experiments.metrics.best_rule`) with the highest mean final cumulative
    incremental profit, ``blast`` and no contact.
    A role whose policy did not run is left out. Ties go to the policy listed first, so the same table
    always gives the same picture."""
    last = daily[daily.day == daily.day.max()]
    final = last.groupby("policy", sort=False)["cumulative_incremental_profit"].mean()

    def best(names: list[str]) -> str | None:
        return max(names, key=lambda p: final[p]) if names else None

    roles = {"reference": REFERENCE if REFERENCE in final.index else None,
             "best learner": best([p for p in final.index if is_learner(p)]),
             "best rule set": best_rule(pd.DataFrame({"policy": last.policy, "incremental_profit": last.cumulative_incremental_profit})),
             "blast": "blast" if "blast" in final.index else None,
             "no contact": HOLDOUT if HOLDOUT in final.index else None}
    return {role: policy for role, policy in roles.items() if policy is not None}


def policy_styles(policies: list[str], roles: dict[str, str]) -> dict[str, tuple[tuple | str, str]]:
    """(colour, line style) per policy, the same in every figure of a report: each highlighted policy
    its role's colour, the others OTHER_COLOURS in the order they ran, solid, then dashed, then dotted
    (a bar chart hatches what is not solid)."""
    colour_of = {policy: ROLE_COLOURS[role] for role, policy in roles.items()}
    others = [p for p in policies if p not in colour_of]
    style: dict[str, tuple[tuple | str, str]] = {p: (c, "-") for p, c in colour_of.items()}
    n = len(OTHER_COLOURS)
    for k, p in enumerate(others):
        style[p] = (OTHER_COLOURS[k % n], OTHER_LINES[min(k // n, len(OTHER_LINES) - 1)])
    return style


def cumulative_figure(daily: pd.DataFrame, roles: dict[str, str], style: dict) -> plt.Figure:
    """Mean cumulative incremental profit by day across seeds. Left: the highlighted policies with their
    95% bands (Student t across seeds) over the others in thin grey. Right: the others alone, each in
    its own colour on its own scale, so that policies near zero can still be told apart."""
    curves = {}
    for policy, group in daily.groupby("policy", sort=False):
        by_day = group.pivot(index="day", columns="seed", values="cumulative_incremental_profit")
        curves[policy] = (by_day.index, [mean_ci(by_day.loc[d].to_numpy()) for d in by_day.index])
    shown = set(roles.values())
    others = [p for p in curves if p not in shown]

    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [3, 2]})
    for k, policy in enumerate(others):
        days, cis = curves[policy]
        left.plot(days, [c.mean for c in cis], color=FADED, lw=0.8, label="other policies (right)" if k == 0 else None)
    for role, policy in roles.items():
        days, cis = curves[policy]
        colour = style[policy][0]
        left.plot(days, [c.mean for c in cis], color=colour, lw=2.2, label=f"{policy} ({ROLE_LABELS[role]})")
        left.fill_between(days, [c.low for c in cis], [c.high for c in cis], alpha=0.18, color=colour, lw=0)
    left.axhline(0, color="black", lw=0.6)
    left.set(xlabel="day", ylabel="cumulative incremental profit vs no contact", title="Highlighted policies (mean, 95% band across seeds)")
    handles, labels = left.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("other"))
    left.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=8, loc="upper left")

    for policy in others:
        days, cis = curves[policy]
        colour, line = style[policy]
        right.plot(days, [c.mean for c in cis], color=colour, linestyle=line, lw=1.4, label=policy)
    right.axhline(0, color="black", lw=0.6)
    right.set(xlabel="day", title="The other policies (mean across seeds)")
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if others:
        right.legend(fontsize=7, ncol=2, loc="best")
    else:
        right.set_axis_off()
    return fig


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Lay out, write atomically as PNG, and free the figure."""
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)
    return path


def whom(mix: pd.DataFrame, policy: str) -> list[str]:
    """One line per archetype: its share of ``policy``'s messages and what they mostly were (offer, channel, slot)."""
    own = mix[(mix.policy == policy) & (mix.archetype != EVERYONE) & (mix.part == "channel")]
    total = own.sends.sum()
    lines = []
    for archetype, sends in own.groupby("archetype", sort=False)["sends"].sum().items():
        if sends == 0:
            lines.append(f"  - {archetype}: nothing")
            continue
        rows = mix[(mix.policy == policy) & (mix.archetype == archetype)]
        top = {part: rows[rows.part == part].nlargest(2 if part == "offer" else 1, "share") for part in ("offer", "channel", "slot")}
        said = ", ".join(f"{r.value} {r.share:.0%}" for part in top for r in top[part].itertuples() if r.share > 0)
        lines.append(f"  - {archetype}: {sends / total:.0%} of its messages; {said}")
    return lines


def write_report(comparison: pd.DataFrame, daily: pd.DataFrame, header: str, run_dir: Path, mix: pd.DataFrame | None = None) -> Path:
    """``report.md``: conditions, the table, verdicts, learning curves, what the learners send to whom, and the plots."""
    lines = ["# Policy comparison", "", header, "", markdown_table(comparison), ""]
    lines += [f"- {v}" for v in verdicts(comparison)]
    if "best_rule" in comparison:
        best = comparison["best_rule"].iloc[0]
        ahead = []
        for policy in comparison.policy:
            if policy in (best, HOLDOUT) or policy.startswith("rules_"):
                continue
            day = first_day_ahead(daily, policy, best)
            ahead.append(f"- {policy}: " + (f"ahead of {best} in cumulative incremental profit from day {day} on" if day is not None else f"never ahead of {best} for good"))
        if ahead:
            lines += ["", f"## When does a policy pull ahead of {best}?", "", *ahead]
    if mix is not None:
        senders = [p for p in comparison.policy if (is_learner(p) or p == REFERENCE)
                   and mix[(mix.policy == p) & (mix.archetype == EVERYONE)].sends.sum() > 0]
        if senders:
            lines += ["", "## What the learners send to whom", "",
                      "Per archetype of the shopper (latent: the report's view, no policy reads it), its share of the policy's "
                      "messages, then their most frequent offers, channel and slot (`action_mix.csv` has them all):", ""]
            for policy in senders:
                lines += [f"- **{policy}**", *whom(mix, policy)]
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in PLOTS]
    lines += ["", "Files: `summary.csv` (policy x seed), `comparison.csv` (means and 95% intervals), `daily.parquet`, "
              "`archetypes.csv`, `action_mix.csv`, `decisions.parquet` (the decision log with propensities and matured rewards)."]
    return write_text("\n".join(lines) + "\n", run_dir / "report.md")
