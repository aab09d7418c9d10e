"""Line classification: storable record, or a quarantine reason with detail.

Quarantine reasons (stable codes, documented in the README):
``empty_line``, ``line_too_long``, ``invalid_utf8``, ``invalid_json``,
``not_an_object``, ``missing_field``, ``bad_type``, ``unstorable_text``,
``truncated_file``, ``undecodable_bytes``, ``wrong_column_count``, ``bad_header``.
"""

from __future__ import annotations

import csv
import json
from typing import Any

import msgspec

from growthflow.ingest.records import CSV_SOURCES, JSON_SOURCES

#: Every reason a line can be quarantined for (the raw data-quality suite reports each one).
QUARANTINE_REASONS = ("empty_line", "line_too_long", "invalid_utf8", "invalid_json", "not_an_object", "missing_field",
                      "bad_type", "unstorable_text", "truncated_file", "undecodable_bytes", "wrong_column_count",
                      "bad_header")

Verdict = tuple[str, str] | None  # (reason, detail) or None when storable


class JsonLineValidator:
    """Fast path: one msgspec typed decode per line; details only for bad lines."""

    def __init__(self, source: str, max_line_bytes: int):
        record_type, self._extra = JSON_SOURCES[source]
        self._decoder = msgspec.json.Decoder(record_type)
        self.max_line_bytes = max_line_bytes

    def check(self, data: bytes, length: int) -> Verdict:
        if length > self.max_line_bytes:
            return "line_too_long", f"{length} bytes, over the {self.max_line_bytes}-byte limit"
        if not data.strip():
            return "empty_line", "no content"
        if not data.isascii():
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                return "invalid_utf8", f"byte {exc.start}: {exc.reason}"
        try:
            record = self._decoder.decode(data)
        except msgspec.ValidationError as exc:
            return _classify_validation(str(exc))
        except msgspec.DecodeError as exc:
            if b"\\u" in data:
                # msgspec rejects unpaired surrogate escapes that JSON's grammar allows:
                # tell "valid JSON PostgreSQL cannot store" apart from broken JSON.
                verdict = _unstorable_escape(data)
                if verdict and verdict[0] == "unstorable_text":
                    return verdict
            return "invalid_json", str(exc)
        if self._extra is not None:
            verdict = self._extra(record)
            if verdict:
                return verdict
        if b"\\u" in data:
            return _unstorable_escape(data)
        return None


def _classify_validation(message: str) -> tuple[str, str]:
    if message.startswith("Expected `object`") and " - at " not in message:
        return "not_an_object", message
    if message.startswith("Object missing required field") or "got `null`" in message:
        return "missing_field", message
    return "bad_type", message


def _unstorable_escape(data: bytes) -> Verdict:
    """PostgreSQL jsonb cannot hold NUL characters or unpaired surrogates."""
    try:
        value = json.loads(data)
    except ValueError as exc:
        return "invalid_json", str(exc)
    bad = _find_unstorable(value)
    return ("unstorable_text", bad) if bad else None


def _find_unstorable(value: Any) -> str | None:
    if isinstance(value, str):
        if "\x00" in value:
            return "string contains a NUL character (\\u0000)"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "string contains an unpaired UTF-16 surrogate"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _find_unstorable(key) or _find_unstorable(item)
            if found:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _find_unstorable(item)
            if found:
                return found
    return None


class CsvLineValidator:
    """One physical line is one row; the header must match the contract exactly."""

    def __init__(self, source: str, max_line_bytes: int):
        self.spec = CSV_SOURCES[source]
        self.columns = list(self.spec)
        self.max_line_bytes = max_line_bytes
        self.header_ok: bool | None = None

    def check_header(self, data: bytes) -> Verdict:
        text = data.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r")
        try:
            header = next(csv.reader([text]), [])
        except csv.Error as exc:  # e.g. a bare carriage return inside the line: not this contract's header
            self.header_ok = False
            return "bad_header", f"header is not CSV ({exc}); expected {self.columns!r}"
        self.header_ok = [h.strip() for h in header] == self.columns
        if self.header_ok:
            return None
        return "bad_header", f"header {header!r} is not {self.columns!r}"

    def parse(self, data: bytes, length: int) -> tuple[dict[str, str] | None, Verdict]:
        if self.header_ok is False:
            return None, ("bad_header", "the file's header does not match the contract")
        if length > self.max_line_bytes:
            return None, ("line_too_long", f"{length} bytes, over the {self.max_line_bytes}-byte limit")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, ("invalid_utf8", f"byte {exc.start}: {exc.reason}")
        text = text.rstrip("\r")
        if not text.strip():
            return None, ("empty_line", "no content")
        if "\x00" in text:
            return None, ("unstorable_text", "line contains a NUL character")
        try:
            values = next(csv.reader([text]))
        except csv.Error as exc:
            return None, ("bad_type", f"unparseable CSV: {exc}")
        if len(values) != len(self.columns):
            return None, ("wrong_column_count", f"{len(values)} columns, expected {len(self.columns)}")
        row = dict(zip(self.columns, values))
        for column, (required, valid) in self.spec.items():
            value = row[column]
            if value == "":
                if required:
                    return None, ("missing_field", f"required column `{column}` is empty")
                continue
            if valid is not None and not valid(value):
                return None, ("bad_type", f"column `{column}` has {value[:40]!r}")
        return row, None
