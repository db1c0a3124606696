"""Who receives an alert: routes by regime, team and escalation name, else the default list."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def recipients(
    routes: Mapping[str, Sequence[str]],
    default: Sequence[str],
    *,
    regime: str,
    team: str,
    escalation: Iterable[str] = (),
) -> list[str]:
    """Addresses for one alert, sorted and without duplicates.

    The regime's own route wins over its team's; each escalation name (breaches) adds its route.
    A name with no route falls back to `default` (MODERATION_ALERT_TO), so nothing goes unrouted."""
    chosen: set[str] = set(routes.get(regime) or routes.get(team) or default)
    for name in escalation:
        chosen.update(routes.get(name) or default)
    return sorted(a.strip() for a in chosen if a.strip())
