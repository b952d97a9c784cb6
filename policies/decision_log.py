"""The decision log: one row per executed decision, the same columns wherever a decision is made.

A simulated run writes it to ``decisions.parquet`` (:mod:`experiments.runner`), the HTTP service
appends it to a CSV (the serving package); both take their columns from :data:`LOG_COLUMNS`:

| column | meaning |
|---|---|
| ``policy``, ``seed`` | who decided, on which market seed (empty when served) |
| ``day``, ``shopper`` | the decision day and the shopper (market row, or the customer id when served) |
| the observation | the features the policy acted on, by name (:data:`sim.features.FEATURE_NAMES`) |
| ``action`` | the action that ran (0 = no contact) |
| ``propensity`` | its probability under the policy as it acted, guardrails included (:class:`policies.attribution.Decisions`) |
| ``proposed_action``, ``proposed_propensity`` | what the policy drew and its probability; equal to the two above where it ran |
| ``refusal`` | why the proposal did not run (``budget``, ``frequency_cap``, ``consent``, ``absent``), empty where it ran |
| ``reward`` | profit over the attribution window (:mod:`policies.attribution`), empty when served |
| ``matured`` | the window closed inside the horizon |

A log is only worth auditing, replaying or evaluating off-policy if it holds what ran;
:func:`audit` checks what can be checked from the log alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from policies.attribution import Decisions
from sim.catalogue import ACTION_CHANNEL, CHANNEL_NAMES, N_ACTIONS
from sim.features import FEATURE_NAMES
from sim.guardrails import REFUSALS, ActionMask, channel_mask

LOG_COLUMNS: tuple[str, ...] = (
    "policy", "seed", "day", "shopper", *FEATURE_NAMES, "action", "propensity", "proposed_action", "proposed_propensity",
    "refusal", "reward", "matured",
)


def log_frame(policy: str, seed: int, decisions: Decisions) -> pd.DataFrame:
    """The log rows of ``decisions`` made by ``policy`` on market ``seed``, in :data:`LOG_COLUMNS` order."""
    frame = pd.DataFrame(decisions.obs, columns=list(FEATURE_NAMES))
    head = {"policy": policy, "seed": seed, "day": decisions.day, "shopper": decisions.rows}
    for k, (name, value) in enumerate(head.items()):
        frame.insert(k, name, value)
    frame["action"] = decisions.action
    frame["propensity"] = decisions.propensity
    frame["proposed_action"] = decisions.proposed
    frame["proposed_propensity"] = decisions.proposed_propensity
    frame["refusal"] = np.asarray(REFUSALS, dtype=object)[decisions.refusal]
    frame["reward"] = decisions.reward
    frame["matured"] = decisions.matured
    return frame


def audit(log: pd.DataFrame, frequency_cap_7d: int) -> list[str]:
    """What is wrong with a decision log, as far as the log itself can tell (an empty list: nothing).

    Every logged send must have had consent on its channel and the shopper must have been under
    the frequency cap (the observation's ``consent_<channel>`` and ``contacts_7d``); a refused
    proposal must have run as no contact with propensity 1; a proposal that ran must be logged
    with its own propensity; propensities lie in (0, 1]; actions are actions.
    """
    problems = []
    action = log["action"].to_numpy()
    if action.size and not np.issubdtype(action.dtype, np.integer):
        return [f"action: integers expected, got {action.dtype}"]
    action = action.astype(np.int64)
    if ((action < 0) | (action >= N_ACTIONS)).any():
        problems.append(f"action: values outside [0, {N_ACTIONS - 1}]")
        return problems
    sends = np.flatnonzero(action > 0)
    channel = ACTION_CHANNEL[action[sends]]
    consent = log[[f"consent_{h}" for h in CHANNEL_NAMES]].to_numpy()[sends, channel]
    if (consent != 1).any():
        problems.append(f"{int((consent != 1).sum())} sends on a channel without consent")
    if (log["contacts_7d"].to_numpy()[sends] >= frequency_cap_7d).any():
        problems.append(f"sends to shoppers at the frequency cap of {frequency_cap_7d}")
    refused = log["refusal"].to_numpy() != ""
    if (action[refused] != 0).any() or (log["propensity"].to_numpy()[refused] != 1).any():
        problems.append("refused proposals not logged as no contact with propensity 1")
    ran = ~refused
    if ((log["proposed_action"].to_numpy()[ran] != action[ran]).any()
            or (log["proposed_propensity"].to_numpy()[ran] != log["propensity"].to_numpy()[ran]).any()):
        problems.append("proposals that ran differ from the logged action or propensity")
    p = log["propensity"].to_numpy()
    if ((p <= 0) | (p > 1)).any():
        problems.append("propensities outside (0, 1]")
    unknown = set(log["refusal"].unique()) - set(REFUSALS)
    if unknown:
        problems.append(f"refusal: unknown reasons {sorted(unknown)}; known: {[r for r in REFUSALS if r]}")
    return problems


class LogError(ValueError):
    """A decision log that does not follow :data:`LOG_COLUMNS`: the message names the column, the value and what is allowed."""


def _first_bad(log: pd.DataFrame, column: str, bad: np.ndarray, allowed: str, source: str) -> None:
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        value = log[column].iloc[i]
        value = value.item() if isinstance(value, np.generic) else value
        raise LogError(f"{source}: column {column!r} holds {value!r} (row {i:,}, one of {int(bad.sum()):,}); allowed: {allowed}")


def check_log(log: pd.DataFrame, source: str = "decision log") -> None:
    """Refuse a log whose columns or values break the schema of this module, naming the column, a bad value and its row.

    Every column of :data:`LOG_COLUMNS` must be there (``policy``, ``seed`` and ``refusal`` may be
    empty, as in a served log); the features, ``propensity`` and the ``reward`` of matured rows
    must be finite numbers; actions must be actions; propensities lie in (0, 1]; ``matured`` is
    true or false; ``refusal`` is one of :data:`sim.guardrails.REFUSALS`. What is consistent with
    what (consent, the cap, refusals) is :func:`audit`'s.
    """
    missing = [c for c in LOG_COLUMNS if c not in log.columns]
    if missing:
        raise LogError(f"{source}: column {missing[0]!r} is missing{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}; "
                       f"a decision log has the columns {', '.join(LOG_COLUMNS)} (policies/decision_log.py)")
    for column in (*FEATURE_NAMES, "propensity", "reward", "action", "proposed_action", "day"):
        if not pd.api.types.is_numeric_dtype(log[column]) or pd.api.types.is_bool_dtype(log[column]):
            first = log[column].iloc[0] if len(log) else None
            raise LogError(f"{source}: column {column!r} holds {log[column].dtype} values such as {first!r}; allowed: numbers")
    features = log[list(FEATURE_NAMES)].to_numpy()
    finite = np.isfinite(features)
    if not finite.all():
        col = int(np.argwhere(~finite)[0][1])
        _first_bad(log, FEATURE_NAMES[col], ~finite[:, col], "finite numbers", source)
    for column in ("action", "proposed_action"):
        a = log[column].to_numpy(dtype=np.float64)
        _first_bad(log, column, ~((a >= 0) & (a < N_ACTIONS) & (a == np.round(a))), f"whole numbers 0..{N_ACTIONS - 1}", source)
    p = log["propensity"].to_numpy(dtype=np.float64)
    _first_bad(log, "propensity", ~((p > 0) & (p <= 1)), "probabilities in (0, 1]", source)
    matured = log["matured"]
    if not pd.api.types.is_bool_dtype(matured):
        _first_bad(log, "matured", ~matured.isin([0, 1]).to_numpy(), "true or false", source)
    reward = log["reward"].to_numpy(dtype=np.float64)
    _first_bad(log, "reward", matured.to_numpy(dtype=bool) & ~np.isfinite(reward), "finite numbers where matured is true", source)
    refusal = log["refusal"].fillna("")
    _first_bad(log, "refusal", ~refusal.isin(REFUSALS).to_numpy(), f"empty or one of {', '.join(r for r in REFUSALS if r)}", source)


def logged_mask(log: pd.DataFrame, frequency_cap_7d: int) -> ActionMask:
    """The guardrail mask each logged decision was made under, from its observation alone.

    A logged shopper was present (:mod:`experiments.runner` decides for present shoppers only;
    the service for the customers it is asked about), so the mask is consent on the channel and
    fewer than ``frequency_cap_7d`` contacts in the last 7 days, as :func:`sim.guardrails.channel_mask` makes it.
    """
    consent = log[[f"consent_{h}" for h in CHANNEL_NAMES]].to_numpy() == 1
    return ActionMask(channel_mask(consent, np.ones(len(log), dtype=bool), log["contacts_7d"].to_numpy(), frequency_cap_7d))
