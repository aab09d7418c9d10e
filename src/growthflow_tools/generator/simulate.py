"""Day-by-day simulation of users, events, payments and ad spend.

Everything is vectorised with numpy over the users of a day; the only
Python-level loops are over days and over a buyer's successive purchases.
Times are int64 seconds since the Unix epoch (UTC). One ``rng`` drives every
draw in a fixed order, so a seed fully determines the output.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from growthflow_tools.generator.settings import GeneratorSettings
from growthflow_tools.generator.world import Campaigns, build_campaigns

DAY = 86_400
NEVER = np.iinfo(np.int64).max // 2

EVENT_NAMES = ("app_install", "signup", "profile_completed", "session_start", "content_viewed", "checkout_started")
APP_INSTALL, SIGNUP, PROFILE, SESSION, CONTENT, CHECKOUT = range(6)
PLATFORMS = ("ios", "android", "web")
PRODUCTS = ("subscription_monthly", "credits_10", "credits_50", "subscription_annual")
METHODS = ("card", "bank_transfer", "mobile")
CURRENCIES = ("KRW", "USD")

#: Share of activity per hour of the day in Asia/Seoul (evening peak, quiet nights).
_KST_HOUR_WEIGHTS = np.array([3, 2, 1, 1, 1, 1, 2, 4, 6, 6, 6, 6, 7, 6, 6, 6, 6, 7, 8, 9, 10, 10, 8, 5], float)
_UTC_HOUR_P = np.roll(_KST_HOUR_WEIGHTS / _KST_HOUR_WEIGHTS.sum(), -9)  # KST hour h is UTC hour h-9

# Activity decay: P(active on day k after install) = A0 * exp(-k / TAU) + FLOOR
_A0, _TAU, _FLOOR = 0.45, 12.0, 0.04


def epoch(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp())


@dataclass
class Events:
    """A batch of events, column-wise."""

    ts: np.ndarray  # event_time, epoch seconds
    name: np.ndarray  # int8 code into EVENT_NAMES
    user: np.ndarray  # index into the user pool
    content: np.ndarray  # content id or -1

    @staticmethod
    def concat(parts: list["Events"]) -> "Events":
        if not parts:
            return Events(np.empty(0, np.int64), np.empty(0, np.int8), np.empty(0, np.int64), np.empty(0, np.int32))
        return Events(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("ts", "name", "user", "content")))

    def take(self, mask_or_idx) -> "Events":
        return Events(self.ts[mask_or_idx], self.name[mask_or_idx], self.user[mask_or_idx], self.content[mask_or_idx])

    def __len__(self) -> int:
        return len(self.ts)


@dataclass
class Payments:
    """Charges and cancels, column-wise. Amounts as delivered (KRW or USD)."""

    payment_id: np.ndarray
    kind: np.ndarray  # 0 charge, 1 cancel
    original_id: np.ndarray  # '' for charges
    user: np.ndarray
    ts: np.ndarray
    amount: np.ndarray  # float, in ``currency`` units
    currency: np.ndarray  # int8 code into CURRENCIES
    method: np.ndarray
    product: np.ndarray
    is_first: np.ndarray

    FIELDS = ("payment_id", "kind", "original_id", "user", "ts", "amount", "currency", "method", "product", "is_first")

    @staticmethod
    def concat(parts: list["Payments"]) -> "Payments":
        return Payments(*(np.concatenate([getattr(p, f) for p in parts]) for f in Payments.FIELDS))

    def take(self, idx) -> "Payments":
        return Payments(*(getattr(self, f)[idx] for f in Payments.FIELDS))

    def __len__(self) -> int:
        return len(self.ts)


@dataclass
class UserPool:
    """Every user ever acquired; arrays grow by one cohort a day."""

    src: np.ndarray = field(default_factory=lambda: np.empty(0, np.int16))
    install_ts: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    install_day: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    signup_ts: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    platform: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))
    app_version: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))
    currency: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))
    anonymous_id: np.ndarray = field(default_factory=lambda: np.empty(0, "U36"))
    user_id: np.ndarray = field(default_factory=lambda: np.empty(0, "U18"))

    def extend(self, **cols) -> None:
        for key, value in cols.items():
            setattr(self, key, np.concatenate([getattr(self, key), value]))

    def __len__(self) -> int:
        return len(self.src)


@dataclass
class NewCohort:
    """What the truth writer needs about one day's new users."""

    first: int  # index of the first new user in the pool
    profile_ts: np.ndarray
    checkout_ts: np.ndarray
    first_purchase_ts: np.ndarray
    lam: np.ndarray
    p_drop: np.ndarray
    nu: np.ndarray


@dataclass
class DayOutput:
    delivery_date: dt.date
    events: Events  # delivered this UTC day, sorted by received time
    received: np.ndarray
    payments: Payments  # occurred this UTC day
    ad_spend: dict[str, list[tuple[dt.date, int, float]]]  # channel -> (report date, campaign idx, spend)
    campaigns_visible: list[int]
    cohort: NewCohort
    purchases: Payments  # every charge/cancel created today, in or after the window (for truth)


def random_hex(rng: np.random.Generator, n: int, nbytes: int) -> list[str]:
    raw = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8).tobytes().hex()
    step = 2 * nbytes
    return [raw[i:i + step] for i in range(0, len(raw), step)]


def random_uuids(rng: np.random.Generator, n: int) -> np.ndarray:
    octets = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    octets[:, 6] = (octets[:, 6] & 0x0F) | 0x40  # version 4
    octets[:, 8] = (octets[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    raw = octets.tobytes().hex()
    out = [f"{raw[i:i+8]}-{raw[i+8:i+12]}-{raw[i+12:i+16]}-{raw[i+16:i+20]}-{raw[i+20:i+32]}"
           for i in range(0, len(raw), 32)]
    return np.asarray(out, dtype="U36")


class Simulation:
    def __init__(self, settings: GeneratorSettings):
        self.s = settings
        self.rng = np.random.default_rng(settings.seed)
        self.campaigns: Campaigns = build_campaigns(settings, self.rng)
        self.users = UserPool()
        self.t0 = epoch(settings.start)
        self.window_end = self.t0 + settings.days * DAY
        self.horizon_end = self.window_end + settings.horizon_days * DAY
        self._spend = self._draw_spend()
        self._reported_spend: dict[tuple[dt.date, int], float] = {}
        self._pending_events: dict[int, list[Events]] = defaultdict(list)  # by event day index
        self._pending_delivery: dict[int, list[tuple[Events, np.ndarray]]] = defaultdict(list)
        self._pending_payments: dict[int, list[Payments]] = defaultdict(list)

    # -- spend ---------------------------------------------------------------
    def _draw_spend(self) -> dict[dt.date, np.ndarray]:
        """Spend per paid campaign per Seoul date (KRW), from 3 days before the window."""
        c = self.campaigns
        spend = {}
        for offset in range(-3, self.s.days):
            day = self.s.start + dt.timedelta(days=offset)
            weekday = 1.15 if day.weekday() >= 5 else 1.0
            noise = self.rng.uniform(0.85, 1.15, size=c.n_paid)
            active = c.active_on(day)[: c.n_paid]
            spend[day] = np.where(active, c.daily_budget[: c.n_paid] * weekday * noise, 0.0)
        return spend

    def final_spend(self) -> dict[tuple[dt.date, int], float]:
        """Latest delivered spend per (Seoul date, campaign index): the truth."""
        return dict(self._reported_spend)

    # -- the day loop --------------------------------------------------------
    def days(self) -> Iterator[DayOutput]:
        for d in range(self.s.days):
            yield self._simulate_day(d)

    def _sample_times(self, n: int, day_start: int) -> np.ndarray:
        hours = self.rng.choice(24, size=n, p=_UTC_HOUR_P)
        return day_start + hours * 3600 + self.rng.integers(0, 3600, size=n)

    def _simulate_day(self, d: int) -> DayOutput:
        rng, c = self.rng, self.campaigns
        day = self.s.start + dt.timedelta(days=d)
        day_start = self.t0 + d * DAY

        # 1. New users: paid installs follow today's spend, unpaid a steady rate.
        counts = np.zeros(len(c), dtype=np.int64)
        counts[: c.n_paid] = rng.poisson(self._spend[day] / c.cpi[: c.n_paid])
        counts[c.n_paid:] = rng.poisson(c.daily_budget[c.n_paid:])
        cohort = self._acquire(d, day_start, counts)

        # 2. Returning users' sessions today.
        sessions = self._activity(d, day_start)

        # 3. Everything whose event time falls today, with its collector receipt time.
        todays = Events.concat(self._pending_events.pop(d, []) + [sessions])
        lag = rng.integers(1, 90, size=len(todays))
        late = rng.random(len(todays)) < self.s.late_event_share
        lag[late] = rng.integers(3600, 3 * DAY - 3600, size=int(late.sum()))
        received = np.minimum(todays.ts + lag, self.window_end - 1)
        delivery_day = (received - self.t0) // DAY
        for dd in np.unique(delivery_day):
            idx = np.flatnonzero(delivery_day == dd)
            self._pending_delivery[int(dd)].append((todays.take(idx), received[idx]))
        delivered = self._pending_delivery.pop(d, [])
        events = Events.concat([e for e, _ in delivered])
        recv = np.concatenate([r for _, r in delivered]) if delivered else np.empty(0, np.int64)
        order = np.lexsort((events.ts, recv))
        events, recv = events.take(order), recv[order]

        # 4. Payments that occur today; ad spend reports; the catalogue snapshot.
        pays = self._pending_payments.pop(d, [])
        payments = Payments.concat(pays) if pays else _empty_payments()
        payments = payments.take(np.argsort(payments.ts, kind="stable"))
        ad_spend = self._ad_spend_reports(day)
        visible = [i for i in range(c.n_paid) if c.start_date[i] <= day]
        return DayOutput(day, events, recv, payments, ad_spend, visible, cohort.cohort, cohort.purchases)

    # -- acquisition and funnel -----------------------------------------------
    @dataclass
    class _Acquired:
        cohort: NewCohort
        purchases: Payments

    def _acquire(self, d: int, day_start: int, counts: np.ndarray) -> "_Acquired":
        rng, c = self.rng, self.campaigns
        n = int(counts.sum())
        src = np.repeat(np.arange(len(c), dtype=np.int16), counts)
        install = self._sample_times(n, day_start)
        order = np.argsort(install, kind="stable")
        src, install = src[order], install[order]
        first = len(self.users)
        platform = rng.choice(3, size=n, p=[0.42, 0.45, 0.13]).astype(np.int8)
        # USD payers are mostly web users abroad.
        currency = np.where(platform == 2, rng.random(n) < 0.6, rng.random(n) < 0.05).astype(np.int8)
        app_version = rng.integers(0, 4, size=n).astype(np.int8)

        signed = rng.random(n) < c.signup[src]
        signup = np.where(signed, install + np.minimum(rng.exponential(7200, n), 2 * DAY).astype(np.int64) + 30, NEVER)
        profiled = signed & (rng.random(n) < c.profile[src])
        profile = np.where(profiled, signup + rng.exponential(3600, n).astype(np.int64) + 10, NEVER)
        checked = signed & (rng.random(n) < c.checkout[src])
        checkout = np.where(checked, signup + np.minimum(rng.exponential(1.5 * DAY, n), 10 * DAY).astype(np.int64) + 60, NEVER)
        bought = checked & (rng.random(n) < c.buy[src])
        first_purchase = np.where(bought, checkout + rng.integers(60, 900, size=n), NEVER)

        anon = random_uuids(rng, n)
        uids = np.asarray(["u_" + h for h in random_hex(rng, n, 8)], dtype="U18")
        self.users.extend(src=src, install_ts=install, install_day=np.full(n, d, np.int32), signup_ts=signup,
                          platform=platform, app_version=app_version, currency=currency, anonymous_id=anon, user_id=uids)
        users = np.arange(first, first + n, dtype=np.int64)

        # Per-user purchase behaviour (BG/NBD + Gamma-Gamma), drawn for everyone
        # so the draw order does not depend on who buys.
        lam = rng.gamma(c.r[src], 1.0 / c.alpha[src])  # purchases per day while alive
        p_drop = rng.beta(c.a[src], c.b[src])
        nu = rng.gamma(c.gg_q[src], 1.0 / c.gg_gamma[src])

        # Funnel events and the session that comes with an install.
        parts = [
            Events(install, np.full(n, APP_INSTALL, np.int8), users, np.full(n, -1, np.int32)),
            Events(install + 5, np.full(n, SESSION, np.int8), users, np.full(n, -1, np.int32)),
        ]
        views = rng.poisson(1.5, size=n)
        vu = np.repeat(np.arange(n), views)
        parts.append(Events(install[vu] + 10 + rng.integers(0, 1200, size=len(vu)), np.full(len(vu), CONTENT, np.int8),
                            users[vu], rng.integers(1, 5000, size=len(vu)).astype(np.int32)))
        for mask, ts, code in ((signed, signup, SIGNUP), (profiled, profile, PROFILE), (checked, checkout, CHECKOUT)):
            parts.append(Events(ts[mask], np.full(int(mask.sum()), code, np.int8), users[mask],
                                np.full(int(mask.sum()), -1, np.int32)))
        self._schedule_events(Events.concat(parts))

        purchases = self._purchases(users[bought], first_purchase[bought], lam[bought], p_drop[bought], nu[bought], src[bought])
        cohort = NewCohort(first, profile, checkout, first_purchase, lam, p_drop, nu)
        return self._Acquired(cohort, purchases)

    def _schedule_events(self, events: Events) -> None:
        inside = events.ts < self.window_end
        events = events.take(inside)
        day_idx = (events.ts - self.t0) // DAY
        for dd in np.unique(day_idx):
            self._pending_events[int(dd)].append(events.take(day_idx == dd))

    # -- purchases -------------------------------------------------------------
    def _purchases(self, users, first_ts, lam, p_drop, nu, src) -> Payments:
        """First purchase, then BG/NBD repeats until dropout or the horizon; cancels."""
        rng = self.rng
        c = self.campaigns
        times = [first_ts.astype(np.int64)]
        who = [np.arange(len(users))]
        t = first_ts.astype(np.float64)
        alive = np.arange(len(users))
        while len(alive):
            gap = rng.exponential(1.0 / lam[alive]) * DAY
            t_next = t[alive] + gap
            within = t_next < self.horizon_end
            alive, t_next = alive[within], t_next[within]
            if not len(alive):
                break
            times.append(t_next.astype(np.int64))
            who.append(alive)
            t[alive] = t_next
            # BG/NBD: after each repeat purchase the buyer leaves with probability p.
            alive = alive[rng.random(len(alive)) >= p_drop[alive]]
        idx = np.concatenate(who)
        ts = np.concatenate(times)
        is_first = np.zeros(len(idx), bool)
        is_first[: len(users)] = True
        n = len(idx)
        value_krw = rng.gamma(c.gg_p[src[idx]], 1.0 / nu[idx])
        cur = self.users.currency[users[idx]]
        amount = np.where(cur == 0, np.maximum(100, np.round(value_krw / 100) * 100),
                          np.maximum(0.5, np.round(value_krw / self._fx_at(ts), 2)))
        charges = Payments(
            payment_id=np.asarray(["pay_" + h for h in random_hex(rng, n, 10)], dtype="U24"),
            kind=np.zeros(n, np.int8), original_id=np.full(n, "", dtype="U24"), user=users[idx], ts=ts,
            amount=amount, currency=cur.astype(np.int8), method=rng.integers(0, 3, size=n).astype(np.int8),
            product=rng.choice(4, size=n, p=[0.45, 0.3, 0.15, 0.1]).astype(np.int8), is_first=is_first,
        )
        # Cancellations: some full, some partial, arriving hours to days later.
        u = rng.random(n)
        full, partial = u < 0.05, (u >= 0.05) & (u < 0.09)
        fraction = rng.uniform(0.2, 0.8, size=n)
        cancel_ts = ts + np.clip(rng.exponential(2 * DAY, size=n), 60, 14 * DAY).astype(np.int64)
        cancelled = np.flatnonzero(full | partial)
        cancel_amount = np.where(full, amount,
                                 np.where(cur == 0, np.maximum(100, np.round(amount * fraction / 100) * 100),
                                          np.round(amount * fraction, 2)))
        k = len(cancelled)
        cancels = Payments(
            payment_id=np.asarray(["pay_" + h for h in random_hex(rng, k, 10)], dtype="U24"),
            kind=np.ones(k, np.int8), original_id=charges.payment_id[cancelled], user=charges.user[cancelled],
            ts=cancel_ts[cancelled], amount=cancel_amount[cancelled], currency=charges.currency[cancelled],
            method=charges.method[cancelled], product=charges.product[cancelled], is_first=np.zeros(k, bool),
        )
        everything = Payments.concat([charges, cancels])
        inside = np.flatnonzero(everything.ts < self.window_end)
        day_idx = (everything.ts[inside] - self.t0) // DAY
        for dd in np.unique(day_idx):
            self._pending_payments[int(dd)].append(everything.take(inside[day_idx == dd]))
        # Checkout event before every charge inside the window (the first one is
        # already in the funnel events).
        repeat = np.flatnonzero((~charges.is_first) & (charges.ts < self.window_end))
        self._schedule_events(Events(charges.ts[repeat] - rng.integers(30, 600, size=len(repeat)),
                                     np.full(len(repeat), CHECKOUT, np.int8), charges.user[repeat],
                                     np.full(len(repeat), -1, np.int32)))
        return everything

    def _fx_at(self, ts: np.ndarray) -> np.ndarray:
        from growthflow.fx import usd_krw

        days = (ts // DAY).astype(np.int64)
        uniq, inverse = np.unique(days, return_inverse=True)
        rates = np.array([usd_krw(dt.date(1970, 1, 1) + dt.timedelta(days=int(x))) for x in uniq])
        return rates[inverse]

    # -- activity --------------------------------------------------------------
    def _activity(self, d: int, day_start: int) -> Events:
        rng, users = self.rng, self.users
        age = d - users.install_day
        p_active = np.where(age >= 1, _A0 * np.exp(-age / _TAU) + _FLOOR, 0.0)
        active = np.flatnonzero(rng.random(len(users)) < p_active)
        sessions = 1 + rng.poisson(0.5, size=len(active))
        su = np.repeat(active, sessions)
        start = self._sample_times(len(su), day_start)
        views = rng.poisson(1.5, size=len(su))
        vi = np.repeat(np.arange(len(su)), views)
        view_ts = np.minimum(start[vi] + rng.integers(5, 1200, size=len(vi)), day_start + DAY - 1)
        return Events.concat([
            Events(start, np.full(len(su), SESSION, np.int8), su.astype(np.int64), np.full(len(su), -1, np.int32)),
            Events(view_ts, np.full(len(vi), CONTENT, np.int8), su[vi].astype(np.int64),
                   rng.integers(1, 5000, size=len(vi)).astype(np.int32)),
        ])

    # -- ad spend ----------------------------------------------------------------
    def _ad_spend_reports(self, delivery_day: dt.date) -> dict[str, list[tuple[dt.date, int, float]]]:
        """Each channel's export: yesterday (Seoul) plus, sometimes, restated earlier days."""
        c, rng = self.campaigns, self.rng
        reports: dict[str, list[tuple[dt.date, int, float]]] = {}
        for channel in sorted(set(c.channel[: c.n_paid])):
            members = [i for i in range(c.n_paid) if c.channel[i] == channel]
            rows = []
            report_days = [delivery_day - dt.timedelta(days=1)]
            if rng.random() < 0.3:  # the platform restates the two days before
                report_days += [delivery_day - dt.timedelta(days=2), delivery_day - dt.timedelta(days=3)]
            for report_day in sorted(report_days):
                if report_day not in self._spend:
                    continue
                for i in members:
                    base = float(self._spend[report_day][i])
                    if base <= 0:
                        continue
                    restated = (report_day, i) in self._reported_spend
                    value = base * float(rng.uniform(0.93, 1.07)) if restated else base
                    if c.channel[i] in ("google_ads", "meta", "tiktok"):
                        from growthflow.fx import usd_krw

                        value = round(value / usd_krw(report_day), 2)
                    else:
                        value = float(round(value))
                    self._reported_spend[(report_day, i)] = value
                    rows.append((report_day, i, value))
            reports[channel] = rows
        return reports


def _empty_payments() -> Payments:
    return Payments(np.empty(0, "U24"), np.empty(0, np.int8), np.empty(0, "U24"), np.empty(0, np.int64),
                    np.empty(0, np.int64), np.empty(0, float), np.empty(0, np.int8), np.empty(0, np.int8),
                    np.empty(0, np.int8), np.empty(0, bool))
