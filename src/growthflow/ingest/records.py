"""What a storable record of each source looks like (the loader's half of the contract).

The loader checks shape and types only: a line that cannot be a record of its
source (not JSON, a required field missing or null, a value of the wrong type)
is quarantined. Well-formed but wrong values (unknown event names, negative
amounts, future timestamps, duplicates, orphan cancels, unknown campaigns) are
loaded as they are and rejected with a reason by the dbt staging models, where
the business rules live.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Callable

import msgspec

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
AwareTime = Annotated[dt.datetime, msgspec.Meta(tz=True)]
DecimalText = Annotated[str, msgspec.Meta(pattern=r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")]


class EventRecord(msgspec.Struct):
    event_id: NonEmpty
    event_name: NonEmpty
    event_time: AwareTime
    received_at: AwareTime
    anonymous_id: NonEmpty
    user_id: str | None = None
    platform: str | None = None
    app_version: str | None = None
    campaign_id: str | None = None
    channel: str | None = None
    properties: dict[str, Any] | None = None


class PaymentRecord(msgspec.Struct):
    payment_id: NonEmpty
    type: NonEmpty
    user_id: NonEmpty
    amount: DecimalText
    currency: NonEmpty
    occurred_at: AwareTime
    original_payment_id: str | None = None
    method: str | None = None
    product: str | None = None


def _payment_extra_rules(record: PaymentRecord) -> tuple[str, str] | None:
    if record.type == "cancel" and not record.original_payment_id:
        return "missing_field", "a cancel needs original_payment_id - at `$.original_payment_id`"
    return None


#: JSON Lines sources: record type and any cross-field rule on top of it.
JSON_SOURCES: dict[str, tuple[type, Callable[[Any], tuple[str, str] | None] | None]] = {
    "events": (EventRecord, None),
    "payments": (PaymentRecord, _payment_extra_rules),
}


# -- CSV sources -------------------------------------------------------------
_INT = re.compile(r"^[+-]?[0-9]+$")
_DEC = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")


def _is_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
        return len(value) == 10
    except ValueError:
        return False


# column -> (required, validator or None)
CsvSpec = dict[str, tuple[bool, Callable[[str], bool] | None]]

CSV_SOURCES: dict[str, CsvSpec] = {
    "ad_spend": {
        "date": (True, _is_date),
        "channel": (True, None),
        "campaign_id": (True, None),
        "campaign_name": (False, None),
        "impressions": (True, lambda v: bool(_INT.match(v))),
        "clicks": (True, lambda v: bool(_INT.match(v))),
        "spend": (True, lambda v: bool(_DEC.match(v))),
        "currency": (True, None),
    },
    "campaigns": {
        "campaign_id": (True, None),
        "campaign_name": (False, None),
        "channel": (True, None),
        "objective": (False, None),
        "start_date": (True, _is_date),
        "end_date": (False, _is_date),
    },
}
