"""Metric-rot incidents: every delivered row stays valid, and a KPI still goes wrong.

Row defects (``defects.py``) break lines; an incident changes *which* valid lines are
delivered, scoped to one segment for a few days, the way real releases, SDKs, ad
platforms and payment providers fail. The truth (users, purchases, spend) is not
changed: the incident lives only in the delivered logs, and ``incidents.jsonl`` in the
truth folder records each one with its exact effect on each KPI series, so a test can
compare the marts against "the truth with the incident applied".

Segments and KPI names are those of ``marts.kpi_segments_daily``: see ``segment_key``.
This module is the incidents' vocabulary; ``incident_delivery`` applies them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

#: What each kind of incident does to the delivered logs, and which KPIs it moves.
INCIDENT_KINDS: dict[str, str] = {
    "event_dropped": "an app release stops sending one event on one platform and app version",
    "event_duplicated": "an SDK version sends one event twice, each copy with its own event id",
    "attribution_lost": "an ad platform's campaign ids stop arriving: its installs and sign-ups arrive as organic",
    "payments_failed": "a payment method fails: its charges (and their later cancels) never happen",
    "spend_repeated": "a channel's spend export repeats the day before's numbers for every campaign",
}
#: KPI series each kind moves (names of ``marts.kpi_segments_daily.kpi``).
KIND_KPIS: dict[str, tuple[str, ...]] = {
    "event_dropped": ("events", "signups"),
    "event_duplicated": ("events",),
    "attribution_lost": ("installs", "signups", "unattributed_install_share"),
    "payments_failed": ("charges",),
    "spend_repeated": ("spend_krw",),
}
#: Expected incidents per 30 days of each kind, once the warm-up is over.
DEFAULT_INCIDENT_RATES: dict[str, float] = {kind: 0.5 for kind in INCIDENT_KINDS}

DROPPABLE_EVENTS = ("signup", "session_start", "content_viewed", "profile_completed", "checkout_started")
DUPLICABLE_EVENTS = ("session_start", "content_viewed", "app_install", "checkout_started")


@dataclass(frozen=True)
class Incident:
    """One incident: ``size`` is the share of the segment's rows affected (1.0 = all)."""

    kind: str
    first_day: dt.date  # Asia/Seoul date (spend: the report date)
    days: int
    size: float
    segment: tuple[tuple[str, str], ...]  # ordered (dimension, value) pairs

    def __post_init__(self):
        if self.kind not in INCIDENT_KINDS:
            raise ValueError(f"unknown incident kind {self.kind!r}; known: {', '.join(INCIDENT_KINDS)}")

    @property
    def last_day(self) -> dt.date:
        return self.first_day + dt.timedelta(days=self.days - 1)

    def get(self, key: str) -> str | None:
        return dict(self.segment).get(key)

    def to_json(self) -> dict:
        return {"kind": self.kind, "first_day": self.first_day.isoformat(), "last_day": self.last_day.isoformat(),
                "days": self.days, "size": round(self.size, 4), "segment": dict(self.segment)}

    @staticmethod
    def from_json(data: dict) -> "Incident":
        return Incident(data["kind"], dt.date.fromisoformat(data["first_day"]), int(data["days"]),
                        float(data["size"]), tuple(data["segment"].items()))


def segment_key(**dims: str | None) -> str:
    """The segment text of ``marts.kpi_segments_daily``: ``name=value`` pairs in the given order."""
    return " ".join(f"{k}={'(none)' if v is None else v}" for k, v in dims.items())
