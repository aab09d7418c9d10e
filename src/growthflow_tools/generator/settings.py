"""Knobs of the synthetic source, with defaults sized for the demo."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

from growthflow_tools.generator.incidents import DEFAULT_INCIDENT_RATES, Incident

PAID_CHANNELS = ("google_ads", "meta", "naver", "kakao", "tiktok")
UNPAID_CHANNELS = ("referral", "organic")

#: Per-line (JSON/CSV) or per-file probability of each injected defect.
DEFAULT_DEFECT_RATES: dict[str, float] = {
    # events and payments, per line
    "invalid_utf8": 0.0004,
    "invalid_json": 0.0006,
    "not_an_object": 0.0002,
    "empty_line": 0.0003,
    "missing_field": 0.0006,
    "bad_type": 0.0006,
    "unstorable_text": 0.0001,
    "unknown_event_name": 0.002,
    "future_event_time": 0.0005,
    "stale_event_time": 0.0005,
    "duplicate_event": 0.01,
    "injection_text": 0.0005,
    "non_positive_amount": 0.004,
    "unknown_currency": 0.004,
    "orphan_cancel": 0.004,
    "excessive_cancel": 0.004,
    "duplicate_payment": 0.01,
    # per file
    "oversized_line": 0.05,
    "truncated_gzip": 0.05,
    # CSV, per row
    "wrong_column_count": 0.02,
    "non_numeric_spend": 0.02,
    "negative_spend": 0.02,
    "unknown_campaign": 0.02,
}


@dataclass
class GeneratorSettings:
    start: dt.date = dt.date(2026, 9, 1)
    days: int = 60
    seed: int = 7
    daily_new_users: int = 1000
    campaigns: int = 12
    channels: tuple[str, ...] = PAID_CHANNELS
    organic_share: float = 0.2
    event_files_per_day: int = 4
    late_event_share: float = 0.02
    #: Days of purchases simulated after the window, for backtests.
    horizon_days: int = 400
    defect_rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_DEFECT_RATES))
    #: Delivery dates written without their _SUCCESS marker (a partition that never arrives).
    missing_partitions: tuple[dt.date, ...] = ()
    #: Expected metric-rot incidents per 30 days of each kind (incidents.py); all 0 = the control.
    incident_rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_INCIDENT_RATES))
    #: Incidents placed by hand (tests, drills), on top of the random ones.
    incidents: tuple[Incident, ...] = ()
    #: Days before the first random incident: a detector needs a baseline first.
    incident_warmup_days: int = 28
    #: Share of the segment's rows an incident affects, drawn uniformly in this range.
    incident_size_range: tuple[float, float] = (0.3, 1.0)
    #: Seconds of activity per day drawn at once; bounds memory per chunk.
    users_per_chunk: int = 200_000

    @property
    def end(self) -> dt.date:
        """Last delivery date (inclusive)."""
        return self.start + dt.timedelta(days=self.days - 1)

    def scaled_defects(self, factor: float) -> "GeneratorSettings":
        rates = {k: v * factor for k, v in self.defect_rates.items()}
        return dataclasses.replace(self, defect_rates=rates)

    def scaled_incidents(self, factor: float) -> "GeneratorSettings":
        rates = {k: v * factor for k, v in self.incident_rates.items()}
        return dataclasses.replace(self, incident_rates=rates)

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["incidents"] = [incident.to_json() for incident in self.incidents]
        data["incident_size_range"] = list(self.incident_size_range)
        data["start"] = self.start.isoformat()
        data["missing_partitions"] = [d.isoformat() for d in self.missing_partitions]
        data["channels"] = list(self.channels)
        return data
