"""Bad input, injected on purpose, and the manifest that says where.

Defects are *extra* lines (or copies), never edits that lose real records, so
the ground truth stays exact: a duplicate is a copy, a wrong-typed line is a
corrupted copy with its own id, a truncated gzip is a re-sent chunk of copies.
The one in-place edit, ``injection_text``, keeps every value that matters.

Each kind maps to what the pipeline must do with it (``EXPECTED``):
``quarantine:<reason>`` at load, ``reject:<reason>`` in dbt staging,
``duplicate`` (loaded, removed by de-duplication), ``load`` (kept as is), or
``sensor_timeout`` for a partition that never arrives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

EXPECTED = {
    "invalid_utf8": "quarantine:invalid_utf8",
    "invalid_json": "quarantine:invalid_json",
    "not_an_object": "quarantine:not_an_object",
    "empty_line": "quarantine:empty_line",
    "missing_field": "quarantine:missing_field",
    "bad_type": "quarantine:bad_type",
    "unstorable_text": "quarantine:unstorable_text",
    "oversized_line": "quarantine:line_too_long",
    "truncated_gzip": "quarantine:truncated_file",
    "wrong_column_count": "quarantine:wrong_column_count",
    "non_numeric_spend": "quarantine:bad_type",
    "unknown_event_name": "reject:unknown_event_name",
    "future_event_time": "reject:future_event_time",
    "stale_event_time": "reject:stale_event_time",
    "non_positive_amount": "reject:non_positive_amount",
    "unknown_currency": "reject:unknown_currency",
    "orphan_cancel": "reject:orphan_cancel",
    "excessive_cancel": "reject:cancel_exceeds_charge",
    "negative_spend": "reject:negative_spend",
    "unknown_campaign": "reject:unknown_campaign",
    "duplicate_event": "duplicate",
    "duplicate_payment": "duplicate",
    "injection_text": "load",
    "missing_partition": "sensor_timeout",
}

#: Line-level kinds common to both JSON Lines sources.
GENERIC_JSON = ("invalid_utf8", "invalid_json", "not_an_object", "empty_line", "missing_field", "bad_type",
                "unstorable_text")
EVENT_ONLY = ("unknown_event_name", "future_event_time", "stale_event_time")
PAYMENT_ONLY = ("non_positive_amount", "unknown_currency", "orphan_cancel", "excessive_cancel")

REQUIRED_FIELDS = {
    "event_id": ("event_id", "event_name", "event_time", "received_at", "anonymous_id"),
    "payment_id": ("payment_id", "type", "user_id", "amount", "currency", "occurred_at"),
}

INJECTION_STRINGS = ("'; DROP TABLE raw.events; --", "$(rm -rf /)", "`reboot`", "1 OR 1=1", "\"; SELECT pg_sleep(10); --")


@dataclass
class Line:
    data: bytes
    kind: str | None = None  # defect kind, None for a real record
    key: str | None = None  # the id the defect refers to, where it has one


def _dumps(record, ascii_only: bool = True) -> bytes:
    """Compact JSON, as the collectors write it."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=ascii_only).encode()


def _iso(ts: int) -> str:
    return np.datetime_as_string(np.datetime64(int(ts), "s"), unit="s") + "Z"


class DefectMaker:
    """Builds defect lines from real ones. Uses its own random stream so that
    turning defects off leaves the real records bit-identical."""

    def __init__(self, rates: dict[str, float], seed: int):
        self.rates = rates
        self.rng = np.random.default_rng([seed, 0xD3F])

    def count(self, kind: str, n: int) -> int:
        rate = self.rates.get(kind, 0.0)
        return int(self.rng.binomial(n, min(rate, 1.0))) if n and rate > 0 else 0

    def happens(self, kind: str) -> bool:
        return self.rng.random() < self.rates.get(kind, 0.0)

    def fresh_id(self, prefix: str = "") -> str:
        raw = self.rng.integers(0, 256, size=16, dtype=np.uint8)
        raw[6] = (raw[6] & 0x0F) | 0x40
        raw[8] = (raw[8] & 0x3F) | 0x80
        h = raw.tobytes().hex()
        return prefix + f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def pick(self, seq):
        return seq[int(self.rng.integers(0, len(seq)))]

    # -- generic JSON corruptions ------------------------------------------------
    def generic(self, kind: str, template: bytes, id_field: str) -> bytes:
        record = json.loads(template)
        record[id_field] = self.fresh_id("pay_" if id_field == "payment_id" else "")
        if kind == "invalid_utf8":
            text = _dumps(record)
            cut = text.index(b'":"') + 3
            return text[:cut] + b"\xff\xfe" + text[cut:]
        if kind == "invalid_json":
            text = _dumps(record)
            return self.pick((text[: len(text) // 2], text + b"}", text.replace(b'":', b'"=', 1)))
        if kind == "not_an_object":
            return self.pick((b"[" + _dumps(record) + b"]", b'"event"', b"42", b"null"))
        if kind == "empty_line":
            return self.pick((b"", b"   ", b"\t"))
        if kind == "missing_field":
            required = REQUIRED_FIELDS[id_field]
            field = self.pick(required)
            if self.rng.random() < 0.5:
                del record[field]
            else:
                record[field] = None
            return _dumps(record)
        if kind == "bad_type":
            if "amount" in record:
                record["amount"] = self.pick(("abc", "12,000", "1e", ""))
            elif self.rng.random() < 0.5:
                record["event_time"] = self.pick(("yesterday", "2026-13-45T99:00:00+09:00", "1700000000"))
            else:
                record["received_at"] = int(self.rng.integers(1_600_000_000, 1_800_000_000))
            return _dumps(record)
        if kind == "unstorable_text":
            record["properties"] = {"screen": "home\u0000"}
            return _dumps(record)
        raise ValueError(kind)

    def oversized(self, template: bytes, id_field: str) -> bytes:
        record = json.loads(template)
        record[id_field] = self.fresh_id("pay_" if id_field == "payment_id" else "")
        record["properties"] = {"blob": "x" * int(self.rng.integers(2_000_000, 4_000_000))}
        return _dumps(record)

    # -- events -------------------------------------------------------------------
    def event(self, kind: str, template: bytes) -> bytes:
        record = json.loads(template)
        record["event_id"] = self.fresh_id()
        if kind == "unknown_event_name":
            record["event_name"] = self.pick(("push_opened", "app_open_v2", "share_clicked"))
        elif kind in ("future_event_time", "stale_event_time"):
            received = np.datetime64(record["received_at"].rstrip("Z"), "s").astype(np.int64)
            if kind == "future_event_time":
                shift = int(self.rng.integers(2, 400)) * 86_400
                record["event_time"] = _iso(received + shift)
            else:
                record["event_time"] = self.pick(("1970-01-01T00:00:00Z", "2019-03-01T12:00:00+09:00",
                                                  _iso(received - int(self.rng.integers(60, 900)) * 86_400)))
        else:
            raise ValueError(kind)
        return _dumps(record)

    def inject_text(self, real: bytes) -> bytes:
        record = json.loads(real)
        record.setdefault("properties", {})
        record["properties"]["screen"] = self.pick(INJECTION_STRINGS)
        if "app_version" in record:
            record["app_version"] = "3.0" + self.pick(INJECTION_STRINGS)
        return _dumps(record, ascii_only=False)

    # -- payments -------------------------------------------------------------------
    def payment(self, kind: str, template: bytes, charge: dict | None = None) -> tuple[bytes, str]:
        record = json.loads(template)
        new_id = "pay_" + self.rng.integers(0, 256, size=10, dtype=np.uint8).tobytes().hex()
        record["payment_id"] = new_id
        if kind == "non_positive_amount":
            record.update(type="charge", amount=self.pick(("0", "-5000", "-9.99", "0.00")))
            record.pop("original_payment_id", None)
        elif kind == "unknown_currency":
            record.update(type="charge", currency=self.pick(("JPY", "BTC", "krw", "EUR")))
            record.pop("original_payment_id", None)
        elif kind == "orphan_cancel":
            record.update(type="cancel", original_payment_id="pay_" + "0" * 4 + self.rng.integers(
                0, 256, size=8, dtype=np.uint8).tobytes().hex())
        elif kind == "excessive_cancel":
            assert charge is not None
            amount = float(charge["amount"]) * float(self.rng.uniform(1.5, 3.0))
            record = dict(charge, payment_id=new_id, type="cancel", original_payment_id=charge["payment_id"],
                          amount=f"{amount:.2f}" if charge["currency"] == "USD" else str(int(amount)))
        else:
            raise ValueError(kind)
        return _dumps(record), new_id
