"""Contract-exact text for simulated records (JSON Lines and CSV rows)."""

from __future__ import annotations

import csv
import io

import numpy as np

from growthflow_tools.generator.simulate import (
    CURRENCIES, EVENT_NAMES, METHODS, PLATFORMS, PRODUCTS, SESSION, CONTENT, APP_INSTALL, SIGNUP,
    Events, Payments, UserPool,
)
from growthflow_tools.generator.world import Campaigns

_KST = np.timedelta64(9 * 3600, "s")
APP_VERSIONS = ("3.12.0", "3.13.1", "3.14.0", "4.0.2")


def iso_utc(ts: np.ndarray) -> list[str]:
    return [s + "Z" for s in np.datetime_as_string(ts.astype("datetime64[s]"), unit="s").tolist()]


def iso_kst(ts: np.ndarray) -> list[str]:
    return [s + "+09:00" for s in np.datetime_as_string(ts.astype("datetime64[s]") + _KST, unit="s").tolist()]


def event_ids_for(count: int, rng: np.random.Generator) -> list[str]:
    from growthflow_tools.generator.simulate import random_uuids

    return random_uuids(rng, count).tolist()


def render_events(ev: Events, received: np.ndarray, event_ids: list[str], users: UserPool,
                  campaigns: Campaigns, unattributed: np.ndarray | None = None) -> list[bytes]:
    """One JSON line per event. Device time carries the device's offset: +09:00 on
    phones in Korea, UTC on the web; the collector's receipt time is always UTC.
    Users flagged in ``unattributed`` (an incident) send installs and sign-ups as organic."""
    platform = users.platform[ev.user]
    kst, utc = iso_kst(ev.ts), iso_utc(ev.ts)
    web = (platform == 2).tolist()
    event_time = [u if w else k for k, u, w in zip(kst, utc, web)]
    received_at = iso_utc(received)
    has_uid = (ev.ts >= users.signup_ts[ev.user]).tolist()
    uid = users.user_id[ev.user].tolist()
    anon = users.anonymous_id[ev.user].tolist()
    src = users.src[ev.user]
    if unattributed is not None:
        src = np.where(unattributed[ev.user], campaigns.channel.index("organic"), src)
    src = src.tolist()
    ver = users.app_version[ev.user].tolist()
    names = ev.name.tolist()
    content = ev.content.tolist()
    plat = platform.tolist()
    camp_json = [f'"{cid}"' if cid else "null" for cid in campaigns.campaign_id]
    chan = campaigns.channel
    lines = []
    for eid, name, et, ra, a, h, u, p, v, s, cid in zip(
            event_ids, names, event_time, received_at, anon, has_uid, uid, plat, ver, src, content):
        user_json = f'"{u}"' if h else "null"
        version = "" if p == 2 else f',"app_version":"{APP_VERSIONS[v]}"'
        if name == APP_INSTALL or name == SIGNUP:
            extra = f',"campaign_id":{camp_json[s]},"channel":"{chan[s]}"'
        elif name == CONTENT:
            extra = f',"properties":{{"content_id":"c_{cid}","screen":"feed"}}'
        elif name == SESSION:
            extra = ',"properties":{"screen":"home"}'
        else:
            extra = ""
        lines.append(
            f'{{"event_id":"{eid}","event_name":"{EVENT_NAMES[name]}","event_time":"{et}","received_at":"{ra}",'
            f'"anonymous_id":"{a}","user_id":{user_json},"platform":"{PLATFORMS[p]}"{version}{extra}}}'.encode()
        )
    return lines


def format_amount(amount: float, currency: int) -> str:
    return f"{amount:.2f}" if CURRENCIES[currency] == "USD" else f"{int(round(amount))}"


def render_payments(pay: Payments, users: UserPool) -> list[bytes]:
    occurred = iso_kst(pay.ts)
    uid = users.user_id[pay.user].tolist()
    lines = []
    for pid, kind, orig, u, t, amt, cur, meth, prod in zip(
            pay.payment_id.tolist(), pay.kind.tolist(), pay.original_id.tolist(), uid, occurred,
            pay.amount.tolist(), pay.currency.tolist(), pay.method.tolist(), pay.product.tolist()):
        original = f',"original_payment_id":"{orig}"' if kind == 1 else ""
        lines.append(
            f'{{"payment_id":"{pid}","type":"{"cancel" if kind else "charge"}"{original},"user_id":"{u}",'
            f'"amount":"{format_amount(amt, cur)}","currency":"{CURRENCIES[cur]}","method":"{METHODS[meth]}",'
            f'"product":"{PRODUCTS[prod]}","occurred_at":"{t}"}}'.encode()
        )
    return lines


AD_SPEND_HEADER = ["date", "channel", "campaign_id", "campaign_name", "impressions", "clicks", "spend", "currency"]
CAMPAIGN_HEADER = ["campaign_id", "campaign_name", "channel", "objective", "start_date", "end_date"]


def csv_line(values: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(values)
    return buffer.getvalue().encode()
