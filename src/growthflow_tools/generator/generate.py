"""Write the landing zone and the ground truth for a date range.

Streams day by day: each delivery date's files are written (and their
``_SUCCESS`` marker last) before the next day is simulated, and the truth
files are appended as cohorts are created, so memory follows one day's volume
plus the user pool, not the whole range.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from growthflow_tools.generator.defects import EVENT_ONLY, EXPECTED, GENERIC_JSON, PAYMENT_ONLY, DefectMaker, Line
from growthflow_tools.generator.incident_delivery import IncidentDelivery, draw_incidents
from growthflow_tools.generator.render import (
    AD_SPEND_HEADER, CAMPAIGN_HEADER, csv_line, event_ids_for, format_amount, iso_utc, render_events,
    render_payments,
)
from growthflow_tools.generator.settings import GeneratorSettings
from growthflow_tools.generator.simulate import (
    CURRENCIES, DAY, NEVER, PLATFORMS, DayOutput, Simulation, epoch,
)
from growthflow.ingest.reader import Break, iter_lines
from growthflow.landing import (SOURCES, SUCCESS_MARKER, clear_sources, is_url, partition_key, partition_ready,
                                publish_partition)

GZIP_LEVEL = 1  # fast; files are re-read once by the loader
CHUNK_EVENTS = 50_000  # events rendered at once: bounds the generator's memory


@dataclass
class GenerationReport:
    days: int = 0
    lines: Counter = field(default_factory=Counter)  # per source, every line written
    defects: Counter = field(default_factory=Counter)
    users: int = 0
    purchases_in_window: int = 0
    incidents: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        per_source = ", ".join(f"{k} {v:,}" for k, v in self.lines.items())
        return (f"{self.days} days, {self.users:,} users acquired; lines written: {per_source}; "
                f"{sum(self.defects.values()):,} injected defects, {self.incidents} incidents in {self.seconds:.1f}s")


def _gzip_binary(path: Path) -> gzip.GzipFile:
    """A gzip writer with no name or timestamp in its header: equal content, equal bytes."""
    raw = gzip.GzipFile(filename="", mode="wb", fileobj=open(path, "wb"), compresslevel=GZIP_LEVEL, mtime=0)
    raw.myfileobj = raw.fileobj  # closing the gzip stream closes the file
    return raw


def _write_gzip(path: Path, lines: list[bytes]) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL,
                                                mtime=0) as gz:
        gz.write(b"".join(line + b"\n" for line in lines))


def _gzip_text(path: Path) -> io.TextIOWrapper:
    """A gzip text writer with no timestamp in its header, so equal content gives equal bytes."""
    return io.TextIOWrapper(_gzip_binary(path), encoding="utf-8", newline="")


def _merge(real: list[Line], extras: list[tuple[float, Line]], rng: np.random.Generator) -> list[Line]:
    """Place extra lines among real ones at the given fractional positions."""
    if not extras:
        return real
    positions = np.concatenate([np.arange(len(real), dtype=float), np.array([p for p, _ in extras])])
    items = real + [line for _, line in extras]
    return [items[i] for i in np.argsort(positions, kind="stable")]


class Writer:
    def __init__(self, settings: GeneratorSettings, landing: str | Path, truth: Path,
                 progress: Callable[[str], None] | None = None, conn_id: str | None = None):
        self.s = settings
        # Every partition is written to a local staging folder, then published to the landing
        # root (a folder or a bucket) one delivery date at a time: each object whole, the marker
        # last. A folder root stages inside itself, so publishing is a rename.
        self.root = str(landing) if is_url(landing) else Path(landing)
        self.conn_id = conn_id
        staging_parent = None
        if not is_url(landing):
            Path(landing).mkdir(parents=True, exist_ok=True)
            staging_parent = str(landing)
        self._staging = tempfile.TemporaryDirectory(prefix=".growthflow-staging-", dir=staging_parent)
        self.landing = Path(self._staging.name)
        self.truth = Path(truth)
        self.progress = progress or (lambda message: None)
        self.sim = Simulation(settings)
        self.defects = DefectMaker(settings.defect_rates, settings.seed)
        self.incidents = IncidentDelivery(draw_incidents(settings, self.sim.campaigns), self.sim, settings.seed)
        self.report = GenerationReport()
        self._carry: dict[str, list[Line]] = {"events": [], "payments": []}  # duplicates for the next day
        self._cancelled: set[str] = set()
        self._ad_metrics: dict[tuple[dt.date, int], tuple[int, int]] = {}  # delivered impressions, clicks
        self._manifest = None

    # -- entry point ---------------------------------------------------------------
    def run(self) -> GenerationReport:
        started = time.monotonic()
        if self.truth.exists():
            shutil.rmtree(self.truth)
        self.truth.mkdir(parents=True)
        clear_sources(self.root, self.conn_id)
        with _gzip_text(self.truth / "users.csv.gz") as users_out, \
                _gzip_text(self.truth / "purchases.csv.gz") as pays_out, \
                open(self.truth / "defects.jsonl", "w") as manifest:
            self._manifest = manifest
            users_csv, pays_csv = csv.writer(users_out), csv.writer(pays_out)
            users_csv.writerow(["anonymous_id", "user_id", "campaign_id", "channel", "platform", "currency",
                                "install_at", "signup_at", "profile_at", "checkout_at", "first_purchase_at",
                                "lambda_per_day", "p_dropout", "nu"])
            pays_csv.writerow(["payment_id", "type", "original_payment_id", "user_id", "campaign_id", "channel",
                               "occurred_at", "amount", "currency", "is_first", "in_window"])
            for out in self.sim.days():
                self._write_truth_cohort(out, users_csv, pays_csv)
                self._write_day(out)
                self.report.days += 1
                self.progress(f"generated {out.delivery_date} ({self.report.days}/{self.s.days}): "
                              f"{len(out.events):,} events, {len(out.payments):,} payments")
        self._write_truth_tables()
        with open(self.truth / "incidents.jsonl", "w") as handle:
            for entry in self.incidents.manifest():
                handle.write(json.dumps(entry) + "\n")
        self.report.incidents = len(self.incidents.incidents)
        self._staging.cleanup()
        self.report.users = len(self.sim.users)
        self.report.seconds = time.monotonic() - started
        return self.report

    # -- manifest --------------------------------------------------------------------
    def _record(self, source: str, day: dt.date, file: str, lines: list[Line], offset: int = 0) -> None:
        for number, line in enumerate(lines, start=offset + 1):
            if line.kind:
                self._note(source, day, file, number, line.kind, line.key)

    def _note(self, source, day, file, line, kind, key=None) -> None:
        self.report.defects[kind] += 1
        self._manifest.write(json.dumps({
            "source": source, "delivery_date": day.isoformat(), "file": file, "line": line, "kind": kind,
            "expected": EXPECTED[kind], "key": key}) + "\n")

    # -- one delivery date --------------------------------------------------------------
    def _write_day(self, out: DayOutput) -> None:
        day = out.delivery_date
        d = (day - self.s.start).days
        self.incidents.mark_new_users(day)
        if day in self.s.missing_partitions:
            for source in SOURCES:
                self._note(source, day, partition_key(source, day), None, "missing_partition")
            self._carry = {"events": [], "payments": []}
            return
        self._write_events(out, d)
        self._write_payments(out, d)
        self._write_ad_spend(out, d)
        self._write_campaigns(out)
        for source in SOURCES:
            local = self.landing / partition_key(source, day)
            publish_partition(local, self.root, source, day, self.conn_id)
            shutil.rmtree(local)

    def _json_extras(self, source: str, real: list[Line], id_field: str) -> list[tuple[float, Line]]:
        """Generic corruptions plus duplicates for one file's real lines."""
        n = len(real)
        extras: list[tuple[float, Line]] = []
        if not n:
            return extras
        rng = self.defects.rng
        for kind in GENERIC_JSON:
            for _ in range(self.defects.count(kind, n)):
                template = real[int(rng.integers(0, n))].data
                extras.append((rng.uniform(0, n), Line(self.defects.generic(kind, template, id_field), kind)))
        dup_kind = "duplicate_event" if source == "events" else "duplicate_payment"
        for _ in range(self.defects.count(dup_kind, n)):
            i = int(rng.integers(0, n))
            copy = Line(real[i].data, dup_kind, json.loads(real[i].data)[id_field])
            if rng.random() < 0.3:
                self._carry[source].append(copy)  # delivered again on a later day
            else:
                extras.append((rng.uniform(i + 0.5, n + 0.5), copy))  # later in the same file
        return extras

    def _write_events(self, out: DayOutput, d: int) -> None:
        """Events files, rendered and written in chunks so memory does not follow the day's volume."""
        day = out.delivery_date
        ev, received = self.incidents.events(day, out.events, out.received)
        folder = self.landing / partition_key("events", day)
        folder.mkdir(parents=True)
        id_rng = np.random.default_rng([self.s.seed, 0x1D5, d])
        slots = ((received - epoch(day)) // 3600 * self.s.event_files_per_day // 24).astype(int)
        rng = self.defects.rng
        carried, self._carry["events"] = self._carry["events"], []
        resend: list[bytes] = []  # a sample of delivered records, for a re-sent (truncated) chunk
        for slot in range(self.s.event_files_per_day):
            hhmm = f"{slot * 24 // self.s.event_files_per_day:02d}00"
            name = f"events-{hhmm}-{slot + 1:03d}.jsonl.gz"
            slot_idx = np.flatnonzero(slots == slot)
            written = 0
            with _gzip_binary(folder / name) as handle:
                for first in range(0, max(1, len(slot_idx)), CHUNK_EVENTS):
                    idx = slot_idx[first:first + CHUNK_EVENTS]
                    ids = event_ids_for(len(idx), id_rng)
                    real = [Line(x) for x in render_events(ev.take(idx), received[idx], ids, self.sim.users,
                                                            self.sim.campaigns, self.incidents.unattributed)]
                    for _ in range(self.defects.count("injection_text", len(real))):
                        i = int(rng.integers(0, len(real)))
                        if real[i].kind is None:
                            real[i] = Line(self.defects.inject_text(real[i].data), "injection_text",
                                           json.loads(real[i].data)["event_id"])
                    extras = self._json_extras("events", real, "event_id")
                    for kind in EVENT_ONLY:
                        for _ in range(self.defects.count(kind, len(real))):
                            template = real[int(rng.integers(0, len(real)))].data
                            extras.append((rng.uniform(0, len(real)), Line(self.defects.event(kind, template), kind)))
                    if first == 0:
                        if real and self.defects.happens("oversized_line"):
                            extras.append((rng.uniform(0, len(real)), Line(
                                self.defects.oversized(real[0].data, "event_id"), "oversized_line")))
                        if slot == 0:
                            extras += [(rng.uniform(0, max(1, len(real))), line) for line in carried]
                    if len(resend) < 300:
                        resend.extend(line.data for line in real[: 300 - len(resend)])
                    lines = _merge(real, extras, rng)
                    handle.write(b"".join(line.data + b"\n" for line in lines))
                    self._record("events", day, name, lines, offset=written)
                    written += len(lines)
            self.report.lines["events"] += written
        if resend and self.defects.happens("truncated_gzip"):
            self._write_truncated_chunk("events", day, folder, "events-2300-{seq:03d}.jsonl.gz",
                                        self.s.event_files_per_day + 1, resend, "event_id")
        (folder / SUCCESS_MARKER).touch()

    def _write_truncated_chunk(self, source, day, folder, pattern, seq, real_all, id_field) -> None:
        """A re-sent chunk of already delivered records whose gzip stream was cut off."""
        rng = self.defects.rng
        take = np.sort(rng.choice(len(real_all), size=min(300, len(real_all)), replace=False))
        chunk = [real_all[i] for i in take]
        name = pattern.format(seq=seq)
        path = folder / name
        _write_gzip(path, chunk)
        blob = path.read_bytes()
        cut = int(len(blob) * rng.uniform(0.3, 0.9))
        path.write_bytes(blob[:cut])
        dup_kind = "duplicate_event" if source == "events" else "duplicate_payment"
        with open(path, "rb") as handle:
            for item in iter_lines(handle, 1 << 30, gzipped=True):
                if isinstance(item, Break):
                    self._note(source, day, name, item.number, "truncated_gzip")
                    break
                self._note(source, day, name, item.number, dup_kind, json.loads(item.data)[id_field])
        self.report.lines[source] += item.number

    def _write_payments(self, out: DayOutput, d: int) -> None:
        day = out.delivery_date
        pay = self.incidents.payments(day, out.payments)
        folder = self.landing / partition_key("payments", day)
        folder.mkdir(parents=True)
        real_all = render_payments(pay, self.sim.users)
        rng = self.defects.rng
        halves = (pay.ts - epoch(day)) // (DAY // 2)
        carried, self._carry["payments"] = self._carry["payments"], []
        for part in (0, 1):
            idx = np.flatnonzero(halves == part)
            real = [Line(real_all[i]) for i in idx]
            extras = self._json_extras("payments", real, "payment_id")
            for kind in PAYMENT_ONLY:
                for _ in range(self.defects.count(kind, len(real))):
                    i = int(rng.integers(0, len(real)))
                    if kind == "excessive_cancel":
                        charge = json.loads(real[i].data)
                        if charge["type"] != "charge" or charge["payment_id"] in self._cancelled:
                            continue
                        data, key = self.defects.payment(kind, real[i].data, charge)
                        extras.append((rng.uniform(i + 0.5, len(real) + 0.5), Line(data, kind, key)))
                    else:
                        data, key = self.defects.payment(kind, real[i].data)
                        extras.append((rng.uniform(0, len(real)), Line(data, kind, key)))
            if part == 0:
                extras += [(rng.uniform(0, max(1, len(real))), line) for line in carried]
            lines = _merge(real, extras, rng)
            name = f"payments-{part + 1:03d}.jsonl.gz"
            _write_gzip(folder / name, [line.data for line in lines])
            self._record("payments", day, name, lines)
            self.report.lines["payments"] += len(lines)
        if real_all and self.defects.happens("truncated_gzip"):
            self._write_truncated_chunk("payments", day, folder, "payments-{seq:03d}.jsonl.gz", 3, real_all,
                                        "payment_id")
        (folder / SUCCESS_MARKER).touch()

    def _write_ad_spend(self, out: DayOutput, d: int) -> None:
        day, c = out.delivery_date, self.sim.campaigns
        folder = self.landing / partition_key("ad_spend", day)
        folder.mkdir(parents=True)
        metrics_rng = np.random.default_rng([self.s.seed, 0xAD, d])
        rng = self.defects.rng
        for channel, rows in out.ad_spend.items():
            rows = self.incidents.spend(channel, rows)
            real: list[Line] = []
            for report_day, i, spend, source_day in rows:
                currency = "USD" if channel in ("google_ads", "meta", "tiktok") else "KRW"
                krw = spend * (1300 if currency == "USD" else 1)
                impressions = int(krw / 8 * metrics_rng.uniform(0.8, 1.2))
                clicks = int(impressions * metrics_rng.uniform(0.01, 0.04))
                if source_day != report_day:  # a stuck export repeats the whole row of the day before
                    impressions, clicks = self._ad_metrics[(source_day, i)]
                self._ad_metrics[(report_day, i)] = (impressions, clicks)
                values = [report_day.isoformat(), channel, c.campaign_id[i], c.campaign_name[i], str(impressions),
                          str(clicks), f"{spend:.2f}" if currency == "USD" else f"{int(spend)}", currency]
                real.append(Line(csv_line(values)))
            extras = self._csv_extras(real, spend_column=True)
            lines = _merge(real, extras, rng)
            name = f"{channel}.csv"
            (folder / name).write_bytes(b"".join(line + b"\n" for line in
                                                 [csv_line(AD_SPEND_HEADER)] + [ln.data for ln in lines]))
            self._record_csv("ad_spend", day, name, lines)
            self.report.lines["ad_spend"] += len(lines)
        (folder / SUCCESS_MARKER).touch()

    def _csv_extras(self, real: list[Line], spend_column: bool) -> list[tuple[float, Line]]:
        rng, n = self.defects.rng, len(real)
        extras: list[tuple[float, Line]] = []
        if not n:
            return extras
        for _ in range(self.defects.count("wrong_column_count", n)):
            values = next(csv.reader([real[int(rng.integers(0, n))].data.decode()]))
            values = values + ["extra"] if rng.random() < 0.5 else values[:-2]
            extras.append((rng.uniform(0, n), Line(csv_line(values), "wrong_column_count")))
        if not spend_column:
            return extras
        for kind in ("non_numeric_spend", "negative_spend", "unknown_campaign"):
            for _ in range(self.defects.count(kind, n)):
                values = next(csv.reader([real[int(rng.integers(0, n))].data.decode()]))
                if kind == "non_numeric_spend":
                    values[6] = self.defects.pick(("N/A", "1,234.50", "twelve", "--"))
                elif kind == "negative_spend":
                    values[6] = "-" + values[6]
                else:
                    values[2] = f"cmp_9{int(rng.integers(100, 999))}"
                    values[3] = "unlisted campaign"
                extras.append((rng.uniform(0, n), Line(csv_line(values), kind,
                                                       values[2] if kind == "unknown_campaign" else None)))
        return extras

    def _record_csv(self, source, day, name, lines: list[Line]) -> None:
        """CSV line numbers are physical lines, like the loader's: line 1 is the header."""
        for number, line in enumerate(lines, start=2):
            if line.kind:
                self._note(source, day, name, number, line.kind, line.key)

    def _write_campaigns(self, out: DayOutput) -> None:
        day, c = out.delivery_date, self.sim.campaigns
        folder = self.landing / partition_key("campaigns", day)
        folder.mkdir(parents=True)
        real = []
        for i in out.campaigns_visible:
            end = c.end_date[i]
            values = [c.campaign_id[i], c.campaign_name[i], c.channel[i], c.objective[i],
                      c.start_date[i].isoformat(), end.isoformat() if end and end < day else ""]
            real.append(Line(csv_line(values)))
        lines = _merge(real, self._csv_extras(real, spend_column=False), self.defects.rng)
        (folder / "campaigns.csv").write_bytes(b"".join(
            line + b"\n" for line in [csv_line(CAMPAIGN_HEADER)] + [ln.data for ln in lines]))
        self._record_csv("campaigns", day, "campaigns.csv", lines)
        self.report.lines["campaigns"] += len(lines)
        (folder / SUCCESS_MARKER).touch()

    # -- truth -------------------------------------------------------------------------
    def _write_truth_cohort(self, out: DayOutput, users_csv, pays_csv) -> None:
        users, c, cohort = self.sim.users, self.sim.campaigns, out.cohort
        sl = slice(cohort.first, len(users))

        def ts_or_blank(values: np.ndarray) -> list[str]:
            text = iso_utc(np.where(values >= NEVER, 0, values))
            return ["" if v >= NEVER else t for v, t in zip(values.tolist(), text)]

        signup = users.signup_ts[sl]
        cols = zip(
            users.anonymous_id[sl].tolist(),
            [u if s < NEVER else "" for u, s in zip(users.user_id[sl].tolist(), signup.tolist())],
            [c.campaign_id[s] or "" for s in users.src[sl].tolist()],
            [c.channel[s] for s in users.src[sl].tolist()],
            [PLATFORMS[p] for p in users.platform[sl].tolist()],
            [CURRENCIES[x] for x in users.currency[sl].tolist()],
            iso_utc(users.install_ts[sl]), ts_or_blank(signup), ts_or_blank(cohort.profile_ts),
            ts_or_blank(cohort.checkout_ts), ts_or_blank(cohort.first_purchase_ts),
            np.round(cohort.lam, 6).tolist(), np.round(cohort.p_drop, 6).tolist(), np.round(cohort.nu, 8).tolist(),
        )
        users_csv.writerows(cols)
        p = out.purchases
        if len(p):
            self._cancelled.update(p.original_id[p.kind == 1].tolist())
            src = users.src[p.user]
            window_end = self.sim.window_end
            pays_csv.writerows(zip(
                p.payment_id.tolist(), ["cancel" if k else "charge" for k in p.kind.tolist()], p.original_id.tolist(),
                users.user_id[p.user].tolist(), [c.campaign_id[s] or "" for s in src.tolist()],
                [c.channel[s] for s in src.tolist()], iso_utc(p.ts),
                [format_amount(a, cur) for a, cur in zip(p.amount.tolist(), p.currency.tolist())],
                [CURRENCIES[x] for x in p.currency.tolist()], p.is_first.tolist(), (p.ts < window_end).tolist(),
            ))
            self.report.purchases_in_window += int((p.ts < window_end).sum())

    def _write_truth_tables(self) -> None:
        c = self.sim.campaigns
        with open(self.truth / "campaigns.csv", "w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(["campaign_id", "campaign_name", "channel", "objective", "start_date", "end_date", "cpi_krw",
                          "daily_budget_krw", "signup_rate", "profile_rate", "checkout_rate", "purchase_rate",
                          "bgnbd_r", "bgnbd_alpha_days", "bgnbd_a", "bgnbd_b", "gg_p", "gg_q", "gg_gamma_krw"])
            for i in range(len(c)):
                out.writerow([c.campaign_id[i] or "", c.campaign_name[i], c.channel[i], c.objective[i],
                              c.start_date[i].isoformat(), c.end_date[i].isoformat() if c.end_date[i] else "",
                              int(c.cpi[i]), round(float(c.daily_budget[i]), 2),
                              *(round(float(getattr(c, k)[i]), 6) for k in (
                                  "signup", "profile", "checkout", "buy", "r", "alpha", "a", "b",
                                  "gg_p", "gg_q", "gg_gamma"))])
        with open(self.truth / "ad_spend.csv", "w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(["date", "channel", "campaign_id", "spend", "currency"])
            for (day, i), spend in sorted(self.sim.final_spend().items()):
                currency = "USD" if c.channel[i] in ("google_ads", "meta", "tiktok") else "KRW"
                out.writerow([day.isoformat(), c.channel[i], c.campaign_id[i],
                              f"{spend:.2f}" if currency == "USD" else int(spend), currency])
        meta = {"settings": self.s.to_json(),
                "window_end_utc": iso_utc(np.array([self.sim.window_end]))[0],
                "horizon_end_utc": iso_utc(np.array([self.sim.horizon_end]))[0]}
        (self.truth / "settings.json").write_text(json.dumps(meta, indent=2) + "\n")


def already_generated(settings: GeneratorSettings, landing: str | Path, truth: Path,
                      conn_id: str | None = None) -> bool:
    """Whether ``landing`` holds a finished generation with these exact settings: the truth's
    record of it matches and every partition it wrote is in ``landing`` with its marker. A rerun then leaves the
    landing zone alone instead of rewriting files a load may be reading."""
    record = Path(truth) / "settings.json"
    try:
        meta = json.loads(record.read_text())
    except (OSError, ValueError):
        return False
    if meta.get("settings") != settings.to_json():
        return False
    days = [settings.start + dt.timedelta(days=i) for i in range(settings.days)]
    return all(partition_ready(landing, source, day, conn_id)
               for day in days if day not in settings.missing_partitions for source in SOURCES)


def generate(settings: GeneratorSettings, landing: str | Path, truth: Path,
             progress: Callable[[str], None] | None = None, conn_id: str | None = None) -> GenerationReport:
    """Write ``settings.days`` delivery dates to ``landing`` (a folder or an object-store URL) and the
    truth to ``truth``."""
    return Writer(settings, landing, truth, progress, conn_id).run()
