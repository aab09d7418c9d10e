"""The synthetic source: deterministic, contract-exact, defects where the manifest says."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

from growthflow_tools.generator.defects import EXPECTED
from growthflow_tools.generator.generate import generate
from growthflow_tools.generator.settings import GeneratorSettings

from conftest import DEFECTIVE
from support import decode_object

KNOWN_EVENTS = {"app_install", "signup", "profile_completed", "session_start", "content_viewed", "checkout_started"}
CHANNELS = {"google_ads", "meta", "naver", "kakao", "tiktok", "referral", "organic"}
FILE_PATTERNS = {
    "events": re.compile(r"^events-\d{4}-\d{3}\.jsonl\.gz$"),
    "payments": re.compile(r"^payments-\d{3}\.jsonl\.gz$"),
    "ad_spend": re.compile(r"^(google_ads|meta|naver|kakao|tiktok)\.csv$"),
    "campaigns": re.compile(r"^campaigns\.csv$"),
}


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def manifest(truth: Path) -> list[dict]:
    return [json.loads(line) for line in (truth / "defects.jsonl").read_text().splitlines()]


def defect_lines(truth: Path) -> set[tuple[str, str, int]]:
    return {(m["delivery_date"], m["file"], m["line"]) for m in manifest(truth) if m["line"]}


def read_lines(path: Path) -> list[bytes]:
    """Complete lines of a landed file (a cut stream's partial last line left out)."""
    decoded = decode_object(path.read_bytes(), gzipped=path.suffix == ".gz")
    return decoded.lines if decoded.complete_last else decoded.lines[:-1]


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    small = GeneratorSettings(start=dt.date(2026, 1, 5), days=3, seed=3, daily_new_users=200, campaigns=4)
    generate(small, tmp_path / "a" / "landing", tmp_path / "a" / "truth")
    generate(small, tmp_path / "b" / "landing", tmp_path / "b" / "truth")
    small.seed = 4
    generate(small, tmp_path / "c" / "landing", tmp_path / "c" / "truth")
    a, b, c = (tree_digest(tmp_path / x) for x in "abc")
    assert a == b
    assert len(a) > 20
    assert a != c


def test_layout_and_success_markers(defective_dataset):
    landing, _ = defective_dataset
    for source, pattern in FILE_PATTERNS.items():
        partitions = sorted((landing / source).glob("dt=*"))
        assert [p.name for p in partitions] == [
            f"dt={DEFECTIVE.start + dt.timedelta(days=i)}" for i in range(DEFECTIVE.days)]
        for partition in partitions:
            assert (partition / "_SUCCESS").exists()
            data_files = [p.name for p in partition.iterdir() if p.name != "_SUCCESS"]
            assert data_files and all(pattern.match(name) for name in data_files), data_files


def test_real_event_lines_follow_the_contract(defective_dataset):
    landing, truth = defective_dataset
    bad = defect_lines(truth)
    checked = 0
    for path in sorted((landing / "events").rglob("*.jsonl.gz")):
        delivery = dt.date.fromisoformat(path.parent.name[3:])
        for number, data in enumerate(read_lines(path), start=1):
            if (delivery.isoformat(), path.name, number) in bad:
                continue
            record = json.loads(data)
            assert record["event_name"] in KNOWN_EVENTS
            assert re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", record["event_id"])
            event_time = dt.datetime.fromisoformat(record["event_time"])
            received = dt.datetime.fromisoformat(record["received_at"])
            assert event_time.tzinfo is not None and received.utcoffset() == dt.timedelta(0)
            assert received.date() == delivery, "received_at lies within the delivery date"
            assert dt.timedelta(0) <= received - event_time <= dt.timedelta(days=3)
            assert record["platform"] in {"ios", "android", "web"}
            if record["event_name"] in ("app_install", "signup"):
                assert record["channel"] in CHANNELS
                assert (record["campaign_id"] is None) == (record["channel"] in ("organic", "referral"))
            if record["event_name"] == "signup":
                assert record["user_id"]
            checked += 1
    assert checked > 5000


def test_real_payment_lines_follow_the_contract(defective_dataset):
    landing, truth = defective_dataset
    bad = defect_lines(truth)
    charges, cancels = set(), []
    for path in sorted((landing / "payments").rglob("*.jsonl.gz")):
        delivery = path.parent.name[3:]
        for number, data in enumerate(read_lines(path), start=1):
            if (delivery, path.name, number) in bad:
                continue
            record = json.loads(data)
            assert record["type"] in {"charge", "cancel"}
            assert record["currency"] in {"KRW", "USD"}
            assert float(record["amount"]) > 0
            assert re.match(r"^\d+$" if record["currency"] == "KRW" else r"^\d+\.\d{2}$", record["amount"])
            assert dt.datetime.fromisoformat(record["occurred_at"]).tzinfo is not None
            if record["type"] == "charge":
                charges.add(record["payment_id"])
            else:
                cancels.append(record["original_payment_id"])
    assert charges and cancels
    assert set(cancels) <= charges, "every real cancel refers to a delivered charge"


def test_csv_headers_match_the_contract(defective_dataset):
    landing, _ = defective_dataset
    for path in (landing / "ad_spend").rglob("*.csv"):
        assert path.read_text().splitlines()[0] == "date,channel,campaign_id,campaign_name,impressions,clicks,spend,currency"
    for path in (landing / "campaigns").rglob("*.csv"):
        assert path.read_text().splitlines()[0] == "campaign_id,campaign_name,channel,objective,start_date,end_date"


def test_every_defect_kind_is_injected_and_listed(defective_dataset):
    _, truth = defective_dataset
    kinds = Counter(m["kind"] for m in manifest(truth))
    expected_kinds = set(EXPECTED) - {"missing_partition"}
    assert expected_kinds <= set(kinds), f"never injected: {expected_kinds - set(kinds)}"
    for entry in manifest(truth):
        assert entry["expected"] == EXPECTED[entry["kind"]]


def test_defects_are_extra_lines_real_records_unchanged(defective_dataset, clean_dataset):
    """Turning defects off leaves every real record byte-identical (except in-place text injections)."""
    dirty_landing, dirty_truth = defective_dataset
    clean_landing, clean_truth = clean_dataset
    assert manifest(clean_truth) == []
    dirty = Counter()
    for path in (dirty_landing / "events").rglob("*.jsonl.gz"):
        dirty.update(read_lines(path))
    clean = Counter()
    for path in (clean_landing / "events").rglob("*.jsonl.gz"):
        clean.update(read_lines(path))
    injected = sum(1 for m in manifest(dirty_truth) if m["kind"] == "injection_text")
    missing = clean - dirty
    assert sum(missing.values()) == injected
    assert (clean_truth / "users.csv.gz").read_bytes() == (dirty_truth / "users.csv.gz").read_bytes()


def test_truth_signups_match_delivered_signup_events(clean_dataset):
    landing, truth = clean_dataset
    window_end = dt.datetime.fromisoformat(json.loads((truth / "settings.json").read_text())["window_end_utc"])
    expected = Counter()
    with gzip.open(truth / "users.csv.gz", "rt") as handle:
        for row in csv.DictReader(handle):
            if row["signup_at"] and dt.datetime.fromisoformat(row["signup_at"]) < window_end:
                expected[row["campaign_id"] or row["channel"]] += 1
    seen = Counter()
    for path in (landing / "events").rglob("*.jsonl.gz"):
        for data in read_lines(path):
            record = json.loads(data)
            if record["event_name"] == "signup":
                seen[record["campaign_id"] or record["channel"]] += 1
    assert seen == expected
    assert sum(expected.values()) > 300


def test_truth_has_purchases_beyond_the_window_for_backtests(clean_dataset):
    _, truth = clean_dataset
    with gzip.open(truth / "purchases.csv.gz", "rt") as handle:
        rows = list(csv.DictReader(handle))
    inside = [r for r in rows if r["in_window"] == "True"]
    assert len(rows) > len(inside) > 0
    params = list(csv.DictReader((truth / "campaigns.csv").open()))
    assert {"bgnbd_r", "bgnbd_alpha_days", "bgnbd_a", "bgnbd_b", "gg_p", "gg_q", "gg_gamma_krw"} <= set(params[0])
    alphas = {round(float(p["bgnbd_alpha_days"]), 3) for p in params if p["campaign_id"]}
    assert len(alphas) == len([p for p in params if p["campaign_id"]]), "campaigns differ in purchase rate"


def test_missing_partition_has_no_success_marker(tmp_path):
    settings = GeneratorSettings(start=dt.date(2026, 2, 1), days=3, daily_new_users=100, campaigns=3,
                                 missing_partitions=(dt.date(2026, 2, 2),))
    generate(settings, tmp_path / "landing", tmp_path / "truth")
    assert not (tmp_path / "landing" / "events" / "dt=2026-02-02" / "_SUCCESS").exists()
    assert (tmp_path / "landing" / "events" / "dt=2026-02-03" / "_SUCCESS").exists()
    kinds = [m["kind"] for m in manifest(tmp_path / "truth")]
    assert kinds.count("missing_partition") == 4


def test_incidents_change_what_is_delivered_never_the_truth(tmp_path):
    """One incident of each kind: the truth files are the same bytes as without them, the
    landing zone differs only in the affected files, and the answer key lists each effect."""
    from growthflow_tools.generator.incidents import INCIDENT_KINDS, Incident

    start = dt.date(2026, 1, 5)
    day = start + dt.timedelta(days=3)
    incidents = (
        Incident("event_dropped", day, 1, 1.0, (("event_name", "signup"), ("platform", "web"), ("app_version", "-"))),
        Incident("event_duplicated", day, 1, 1.0,
                 (("event_name", "session_start"), ("platform", "android"), ("app_version", "3.12.0"))),
        Incident("attribution_lost", day, 2, 1.0, (("channel", "google_ads"),)),
        Incident("payments_failed", day, 2, 1.0, (("method", "card"),)),
        Incident("spend_repeated", day, 2, 1.0, (("channel", "google_ads"),)),
    )
    clean = GeneratorSettings(start=start, days=6, seed=9, daily_new_users=300,
                              campaigns=4).scaled_incidents(0.0).scaled_defects(0.0)
    hit = GeneratorSettings(**{**clean.__dict__, "incidents": incidents})
    generate(clean, tmp_path / "a" / "landing", tmp_path / "a" / "truth")
    generate(hit, tmp_path / "b" / "landing", tmp_path / "b" / "truth")
    truth_a, truth_b = tree_digest(tmp_path / "a" / "truth"), tree_digest(tmp_path / "b" / "truth")
    for name in ("users.csv.gz", "purchases.csv.gz", "ad_spend.csv", "campaigns.csv", "defects.jsonl"):
        assert truth_a[name] == truth_b[name], name
    landing_a, landing_b = tree_digest(tmp_path / "a" / "landing"), tree_digest(tmp_path / "b" / "landing")
    changed = {path.split("/")[1] for path in landing_a if landing_a[path] != landing_b[path]}
    earlier = {f"dt={(start + dt.timedelta(days=i)).isoformat()}" for i in range(2)}
    assert changed and not changed & earlier  # nothing before the incidents' days moved
    entries = [json.loads(line) for line in (tmp_path / "b" / "truth" / "incidents.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in entries] == list(INCIDENT_KINDS)
    for entry in entries:
        assert entry["effects"], entry["kind"]
    effects = {e["kind"]: {x["kpi"] for x in e["effects"]} for e in entries}
    assert effects["event_dropped"] >= {"events", "signups"} and effects["attribution_lost"] >= {"installs"}
    assert all(x["delta"] < 0 for x in entries[3]["effects"]) and entries[3]["payment_ids"]
    # The stuck export repeats whole rows: spend, impressions and clicks of the day before.
    delivered: dict[tuple[str, str], tuple] = {}  # the newest delivered row per (report date, campaign)
    stuck = []
    for offset in range(6):
        path = tmp_path / "b" / "landing" / "ad_spend" / f"dt={(start + dt.timedelta(days=offset)).isoformat()}" \
            / "google_ads.csv"
        for r in csv.DictReader(path.read_text().splitlines()):
            if r["date"] == day.isoformat() and (r["date"], r["campaign_id"]) not in delivered:
                yesterday = ((day - dt.timedelta(days=1)).isoformat(), r["campaign_id"])
                stuck.append(((r["spend"], r["impressions"], r["clicks"]), delivered[yesterday]))
            delivered[(r["date"], r["campaign_id"])] = (r["spend"], r["impressions"], r["clicks"])
    assert stuck and all(row == previous for row, previous in stuck)
