"""A deterministic synthetic sales org: Flash's reps, the merchants' leads, the funnel and the customers' usage.

Everything is drawn with numpy from seeded streams and assembled with polars, never row by row, so the
largest scale (a million leads, ~20 million usage rows) builds in minutes. Each part draws from its own
stream (`_rng(seed, part, chunk)`), so changing how one part is generated does not reshuffle the others.

The data carries structure the models must be able to find, put there on purpose:
- winning depends on interest level, channel, vertical, company size, the first response time, the rep, and
  an engagement trait that also drives how many meetings and demos a lead gets;
- churn depends on vertical and volume, and usage declines in the weeks before a customer churns.
It also carries the mess real form data has: missing fields, odd casing, merchants who submit twice.

Times are naive local datetimes handled as integer seconds since 1970-01-01 (days as integer day numbers).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import numpy as np
import polars as pl

from flashdash import demo_history, demo_revenue, pii
from flashdash.entities import COMPANY_SIZES, INTEREST_LEVELS, LEAD_STATUSES
from flashdash.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scale:
    """How big a demo org is; the other tables' sizes follow from the leads (see the module docstring)."""

    name: str
    teams: int
    reps_per_team: int  # sellers per team, besides its manager
    leads: int
    lead_chunk: int = 200_000  # activities are generated and inserted this many leads at a time
    usage_chunk_rows: int = 4_000_000


SCALES: dict[str, Scale] = {
    "XS": Scale("XS", teams=2, reps_per_team=3, leads=2_000),
    "S": Scale("S", teams=4, reps_per_team=4, leads=20_000),
    "M": Scale("M", teams=10, reps_per_team=9, leads=200_000),
    "L": Scale("L", teams=50, reps_per_team=9, leads=1_000_000),
}

# Org and sales tables, children first: what `replace=True` empties. Users, audit and settings stay.
DEMO_TABLES = (
    "email_events",
    "emails",
    "tasks",
    "activity_templates",
    "email_templates",
    "rep_territories",
    "customer_usage",
    "customers",
    "opportunity_changes",
    "opportunities",
    "activities",
    "lead_stage_changes",
    "leads",
    "reps",
    "teams",
    "cities",
    "territories",
    "regions",
)

DAY = 86_400
HOUR = 3_600
HISTORY_DAYS = 730
USAGE_DAYS = 365
YEARLY_GROWTH = 1.30
TARGET_WIN_RATE = 0.105  # of all leads, once their paths finish: ~10% of leads older than 90 days end won
TARGET_ACTIVITIES_PER_LEAD = 10.0
ANNUAL_CHURN = 0.12
NEVER = np.int64(2**62)  # a time that never comes (active reps' departure, open leads' close)

# ------------------------------------------------------------------ vocabularies

REGIONS = ("Northeast", "Southeast", "Midwest", "Southwest", "West")
# Teams are opened in this order: the biggest markets first, so small scales still look like Flash's core.
TEAM_REGION_ORDER = ("West", "Northeast", "Southeast", "Midwest", "Southwest")
TEAM_NAMES = ("Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel", "India", "Juliet",
              "Kilo", "Lima", "Mike", "November", "Oscar", "Papa", "Quebec", "Romeo", "Sierra", "Tango")

TERRITORIES = (
    ("Northeast", "New England"), ("Northeast", "New York"), ("Northeast", "Mid-Atlantic"),
    ("Southeast", "Florida"), ("Southeast", "Carolinas & Georgia"), ("Southeast", "Mid-South"),
    ("Midwest", "Great Lakes"), ("Midwest", "Plains"),
    ("Southwest", "Texas & Oklahoma"), ("Southwest", "Desert"),
    ("West", "Southern California"), ("West", "Northern California"), ("West", "Pacific Northwest"),
    ("West", "Mountain"),
)

# name, territory, lat, lon, area code, weight (roughly the metro's size)
CITIES = (
    ("Boston, MA", "New England", 42.36, -71.06, "617", 5.0),
    ("Providence, RI", "New England", 41.82, -71.41, "401", 1.6),
    ("Hartford, CT", "New England", 41.76, -72.68, "860", 1.2),
    ("Portland, ME", "New England", 43.66, -70.26, "207", 0.6),
    ("New York, NY", "New York", 40.71, -74.01, "212", 14.0),
    ("Newark, NJ", "New York", 40.74, -74.17, "973", 2.5),
    ("Albany, NY", "New York", 42.65, -73.76, "518", 0.9),
    ("Buffalo, NY", "New York", 42.89, -78.88, "716", 1.1),
    ("Philadelphia, PA", "Mid-Atlantic", 39.95, -75.17, "215", 6.2),
    ("Pittsburgh, PA", "Mid-Atlantic", 40.44, -80.00, "412", 2.3),
    ("Baltimore, MD", "Mid-Atlantic", 39.29, -76.61, "410", 2.8),
    ("Washington, DC", "Mid-Atlantic", 38.91, -77.04, "202", 6.3),
    ("Miami, FL", "Florida", 25.76, -80.19, "305", 6.1),
    ("Orlando, FL", "Florida", 28.54, -81.38, "407", 2.7),
    ("Tampa, FL", "Florida", 27.95, -82.46, "813", 3.2),
    ("Jacksonville, FL", "Florida", 30.33, -81.66, "904", 1.6),
    ("Atlanta, GA", "Carolinas & Georgia", 33.75, -84.39, "404", 6.1),
    ("Charlotte, NC", "Carolinas & Georgia", 35.23, -80.84, "704", 2.7),
    ("Raleigh, NC", "Carolinas & Georgia", 35.78, -78.64, "919", 1.4),
    ("Nashville, TN", "Mid-South", 36.16, -86.78, "615", 2.0),
    ("Memphis, TN", "Mid-South", 35.15, -90.05, "901", 1.3),
    ("New Orleans, LA", "Mid-South", 29.95, -90.07, "504", 1.3),
    ("Chicago, IL", "Great Lakes", 41.88, -87.63, "312", 9.5),
    ("Detroit, MI", "Great Lakes", 42.33, -83.05, "313", 4.4),
    ("Milwaukee, WI", "Great Lakes", 43.04, -87.91, "414", 1.6),
    ("Cleveland, OH", "Great Lakes", 41.50, -81.69, "216", 2.1),
    ("Columbus, OH", "Great Lakes", 39.96, -83.00, "614", 2.1),
    ("Indianapolis, IN", "Great Lakes", 39.77, -86.16, "317", 2.1),
    ("Minneapolis, MN", "Plains", 44.98, -93.27, "612", 3.7),
    ("Kansas City, MO", "Plains", 39.10, -94.58, "816", 2.2),
    ("St. Louis, MO", "Plains", 38.63, -90.20, "314", 2.8),
    ("Omaha, NE", "Plains", 41.26, -95.93, "402", 1.0),
    ("Dallas, TX", "Texas & Oklahoma", 32.78, -96.80, "214", 7.6),
    ("Houston, TX", "Texas & Oklahoma", 29.76, -95.37, "713", 7.1),
    ("Austin, TX", "Texas & Oklahoma", 30.27, -97.74, "512", 2.3),
    ("San Antonio, TX", "Texas & Oklahoma", 29.42, -98.49, "210", 2.6),
    ("Oklahoma City, OK", "Texas & Oklahoma", 35.47, -97.52, "405", 1.4),
    ("Phoenix, AZ", "Desert", 33.45, -112.07, "602", 4.9),
    ("Tucson, AZ", "Desert", 32.22, -110.97, "520", 1.0),
    ("Albuquerque, NM", "Desert", 35.08, -106.65, "505", 0.9),
    ("Las Vegas, NV", "Desert", 36.17, -115.14, "702", 2.3),
    ("Los Angeles, CA", "Southern California", 34.05, -118.24, "213", 13.0),
    ("San Diego, CA", "Southern California", 32.72, -117.16, "619", 3.3),
    ("San Francisco, CA", "Northern California", 37.77, -122.42, "415", 4.7),
    ("San Jose, CA", "Northern California", 37.34, -121.89, "408", 2.0),
    ("Sacramento, CA", "Northern California", 38.58, -121.49, "916", 2.4),
    ("Seattle, WA", "Pacific Northwest", 47.61, -122.33, "206", 4.0),
    ("Portland, OR", "Pacific Northwest", 45.52, -122.68, "503", 2.5),
    ("Denver, CO", "Mountain", 39.74, -104.99, "303", 3.0),
    ("Salt Lake City, UT", "Mountain", 40.76, -111.89, "801", 1.3),
    ("Boise, ID", "Mountain", 43.62, -116.20, "208", 0.8),
)

VERTICALS = ("restaurants", "retail", "e-commerce", "health & beauty", "professional services", "hospitality",
             "automotive", "education", "fitness", "grocery", "travel", "entertainment")
VERTICAL_P = (0.18, 0.14, 0.12, 0.09, 0.09, 0.06, 0.06, 0.04, 0.06, 0.07, 0.04, 0.05)
VERTICAL_WIN = (0.20, 0.10, 0.25, 0.0, -0.15, 0.05, -0.20, -0.35, 0.0, 0.15, -0.30, -0.15)
VERTICAL_VOLUME = (1.0, 1.1, 1.3, 0.7, 0.9, 1.4, 1.2, 0.6, 0.5, 1.5, 1.6, 0.9)
VERTICAL_CHURN = (0.35, 0.0, 0.1, 0.2, -0.3, -0.1, -0.2, -0.3, 0.4, -0.2, 0.1, 0.2)  # log hazard shift
TICKET = (28.0, 45.0, 70.0, 60.0, 180.0, 210.0, 260.0, 150.0, 45.0, 38.0, 420.0, 35.0)  # average payment, $
# payments by weekday (Mon..Sun), as multiples of an average day
WEEKLY = np.array([
    (0.8, 0.85, 0.9, 1.0, 1.25, 1.35, 0.85),  # restaurants
    (0.85, 0.85, 0.9, 0.95, 1.1, 1.35, 1.0),  # retail
    (1.1, 1.05, 1.0, 1.0, 0.95, 0.9, 1.0),  # e-commerce
    (0.7, 1.0, 1.05, 1.1, 1.2, 1.4, 0.55),  # health & beauty
    (1.25, 1.25, 1.2, 1.2, 1.1, 0.5, 0.5),  # professional services
    (0.85, 0.8, 0.85, 0.95, 1.25, 1.35, 0.95),  # hospitality
    (1.15, 1.15, 1.1, 1.1, 1.1, 0.9, 0.5),  # automotive
    (1.2, 1.2, 1.2, 1.15, 1.05, 0.7, 0.5),  # education
    (1.2, 1.15, 1.1, 1.05, 0.9, 0.9, 0.7),  # fitness
    (0.9, 0.85, 0.9, 0.95, 1.1, 1.2, 1.1),  # grocery
    (1.1, 1.05, 1.0, 1.0, 1.0, 0.95, 0.9),  # travel
    (0.7, 0.7, 0.8, 0.95, 1.3, 1.5, 1.05),  # entertainment
])
WEEKLY = WEEKLY / WEEKLY.mean(axis=1, keepdims=True)
HOLIDAY_SEASON = (0.1, 0.3, 0.35, 0.15, 0.0, 0.1, 0.0, 0.0, -0.1, 0.2, 0.05, 0.15)  # extra in Nov-Dec

SIZE_P = (0.42, 0.30, 0.17, 0.08, 0.03)
SIZE_VOLUME = (20_000.0, 60_000.0, 200_000.0, 700_000.0, 2_500_000.0)  # median monthly volume, $
SIZE_WIN = (0.0, 0.10, 0.05, -0.15, -0.35)

CHANNELS = ("organic_search", "paid_search", "social", "direct_traffic", "email", "referral", "partner",
            "display", "events")
CHANNEL_P = (0.22, 0.20, 0.12, 0.10, 0.08, 0.08, 0.07, 0.07, 0.06)
CHANNEL_WIN = (0.10, 0.0, -0.50, 0.15, -0.10, 0.70, 0.60, -0.70, 0.25)
# P(cold, warm, hot) by channel
CHANNEL_INTEREST = np.array([
    (0.45, 0.38, 0.17), (0.45, 0.37, 0.18), (0.62, 0.28, 0.10), (0.38, 0.40, 0.22), (0.50, 0.35, 0.15),
    (0.20, 0.40, 0.40), (0.25, 0.40, 0.35), (0.68, 0.25, 0.07), (0.35, 0.40, 0.25),
])
CAMPAIGNS: tuple[tuple[str | None, ...], ...] = (
    (None, None, None, "seo-pricing-guide"),
    ("brand-search", "generic-card-payments", "competitor-conquest", "restaurant-pos"),
    ("social-merchant-stories", "social-retargeting", "social-holiday-promo", None),
    (None,),
    ("newsletter", "nurture-sequence", "holiday-promo-email"),
    ("refer-a-merchant", None),
    ("pos-partner-program", "bank-partner", "isv-integrations"),
    ("display-retargeting", "display-prospecting"),
    ("smb-expo", "restaurant-show", "retail-summit"),
)
LANDING_PAGES = (
    ("lp-home", "lp-pricing", "lp-blog-lower-fees", "lp-compare-processors"),
    ("lp-pricing", "lp-compare-processors", "lp-low-fees", "lp-pos-terminal"),
    ("lp-merchant-stories", "lp-holiday-offer", "lp-home"),
    ("lp-home", "lp-pricing", "lp-demo-request"),
    ("lp-demo-request", "lp-holiday-offer", "lp-online-checkout"),
    ("lp-refer-a-merchant", "lp-demo-request"),
    ("lp-partners", "lp-pos-terminal", "lp-online-checkout"),
    ("lp-low-fees", "lp-holiday-offer", "lp-home"),
    ("lp-events-signup", "lp-demo-request"),
)

INTEREST_WIN = (-0.9, 0.1, 1.0)  # cold, warm, hot
RESPONSE_MEDIAN_H = (8.0, 2.5, 0.6)  # cold, warm, hot
UNTOUCHED_P = (0.05, 0.025, 0.01)  # leads nobody ever responds to

# The funnel: P(pass stage k) = sigmoid(STAGE_BASE[k] + shift + STAGE_WEIGHT[k] * score + STAGE_ENGAGE[k] * e)
# for mql, sql, opportunity, won; `shift` is calibrated to the target win rate.
STAGE_BASE = np.array([1.2, 0.2, 0.4, -0.4])
STAGE_WEIGHT = np.array([0.6, 0.6, 0.6, 0.8])
STAGE_ENGAGE = np.array([0.0, 0.0, 0.3, 1.2])
DUPLICATE_CAUGHT_P = 0.6

# Expected activities by the furthest stage a lead reaches (new, mql, sql, opportunity), before calibration.
CALLS_BY_STAGE = np.array([1.5, 3.0, 5.0, 7.0])
EMAILS_BY_STAGE = np.array([1.2, 2.5, 4.0, 6.0])
MEETINGS_BY_STAGE = np.array([0.0, 0.2, 0.8, 1.4])
DEMOS_BY_STAGE = np.array([0.0, 0.1, 0.5, 1.1])
ENGAGED_MEETINGS = 0.8  # meetings and demos scale with exp(ENGAGED_MEETINGS * engagement)

ACTIVITY_TYPES = ("call", "email", "meeting", "demo")
# (type, outcome, notes); None among the notes leaves the note empty
OUTCOMES: tuple[tuple[str, str, tuple[str | None, ...]], ...] = (
    ("call", "connected", ("Intro call, walked through pricing", "Discussed current processor and fees",
                           "Answered questions on hardware", "Reviewed contract terms",
                           "Checked in on decision timeline", None, None)),
    ("call", "voicemail", ("Left voicemail", "Left voicemail, will try again tomorrow", None)),
    ("call", "no answer", ("No answer", "Line busy", None, None)),
    ("email", "sent", ("Sent intro email", "Sent pricing sheet", "Sent case study", "Sent follow-up",
                       "Sent proposal", None)),
    ("email", "replied", ("Merchant replied with questions", "Merchant asked for a call",
                          "Merchant replied: not right now", None)),
    ("meeting", "held", ("On-site visit with the owner", "Reviewed volumes and statements",
                         "Met the finance contact", None)),
    ("meeting", "no-show", ("Merchant did not show", "No-show, rescheduling", None)),
    ("demo", "completed", ("Demo of terminal and online checkout", "Demo of dashboard and payouts",
                           "Demo for owner and store manager", None)),
    ("demo", "no-show", ("Demo no-show", None)),
)

LOSS_REASONS = ("price", "competitor", "no decision", "timing", "missing feature", "went dark")
LOSS_P = (0.28, 0.24, 0.16, 0.12, 0.10, 0.10)
DISQUALIFY_REASONS = ("unresponsive", "not a fit", "no budget", "wrong contact", "spam / invalid",
                      "already under contract")
DISQUALIFY_P = (0.32, 0.26, 0.14, 0.10, 0.08, 0.10)
STAGE_REASONS = ("form submitted", "contacted, merchant interested", "need and budget confirmed",
                 "discovery call held, proposal requested", "contract signed")
AUTO_QUALIFY_REASON = "auto: form score above threshold"

FIRST_NAMES = ("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
               "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
               "Carlos", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty", "Mark", "Sandra",
               "Luis", "Ashley", "Steven", "Kimberly", "Andrew", "Emily", "Kevin", "Donna", "Brian", "Michelle",
               "Jose", "Carol", "Wei", "Amanda", "Ryan", "Melissa", "Jacob", "Deborah", "Nicholas", "Maria",
               "Eric", "Priya", "Jonathan", "Rebecca", "Hiroshi", "Laura", "Samuel", "Aisha", "Diego", "Olivia",
               "Minh", "Grace")
LAST_NAMES = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
              "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
              "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez",
              "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen",
              "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell",
              "Carter", "Roberts", "O'Brien", "Chen", "Patel", "Kim", "Murphy", "Cooper", "Reyes", "Morgan",
              "Tanaka", "D'Angelo")
ADJECTIVES = ("Golden", "Blue Door", "Main Street", "Urban", "Sunrise", "Silver", "Corner", "Lucky", "Red Oak",
              "Harbor", "Summit", "Maple", "Bright", "Royal", "Little", "Big Sky", "Northside", "Evergreen",
              "Copper", "Union")
NOUNS = (
    ("Pizza", "Tacos", "Grill", "Bistro", "Diner", "Kitchen", "BBQ", "Noodle House", "Sushi", "Cafe"),
    ("Boutique", "Outfitters", "Goods", "Supply", "Gifts", "Books", "Hardware", "Home & Garden"),
    ("Online", "Shop", "Direct", "Market", "Store", "Labs", "Collective", "Threads"),
    ("Salon", "Spa", "Barbers", "Nails", "Skin Studio", "Wellness", "Beauty Bar", "Dental"),
    ("Law Group", "Accounting", "Consulting", "Partners", "Insurance", "Realty", "Design Studio", "Associates"),
    ("Inn", "Hotel", "Suites", "B&B", "Lodge", "Resort", "Guest House", "Motel"),
    ("Auto Repair", "Motors", "Tire & Lube", "Car Wash", "Auto Body", "Detailing", "Auto Parts", "Towing"),
    ("Academy", "Learning Center", "Tutoring", "Music School", "Driving School", "Language School",
     "Montessori", "Prep"),
    ("Fitness", "Gym", "Yoga", "CrossFit", "Pilates", "Boxing Club", "Climbing", "Martial Arts"),
    ("Market", "Grocery", "Foods", "Deli", "Butcher", "Produce", "Bodega", "Fresh Market"),
    ("Travel", "Tours", "Adventures", "Cruises", "Getaways", "Charters", "Expeditions", "Vacations"),
    ("Cinema", "Bowling", "Arcade", "Escape Room", "Comedy Club", "Theater", "Mini Golf", "Karaoke"),
)
NAME_SUFFIXES = ("", " LLC", " Inc.", " Co.")
NAME_SUFFIX_P = (0.85, 0.08, 0.04, 0.03)
FREEMAIL = ("mail.example", "inbox.example", "webmail.example")
LANGUAGES = ("en", "en,es", "en,zh", "en,vi", "en,fr")
LANGUAGES_P = (0.68, 0.24, 0.03, 0.03, 0.02)
LEAD_LANGUAGES = ("en", "es", "zh", "vi", "fr")  # the language a merchant prefers
LEAD_LANGUAGES_P = (0.80, 0.14, 0.025, 0.025, 0.01)
WEEKDAYS = "mon,tue,wed,thu,fri"
OPEN_LEADS_PER_SELLER = 40  # the least cap on a seller's open leads, scaled by their capacity
MISSING_P = 0.04  # form fields left empty: vertical, phone, campaign, interest, company size
# hours of the day merchants submit the form
HOUR_WEIGHTS = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.2, 0.5, 1.2, 2.5, 4, 5, 5, 4.5, 5, 5, 4.5, 4, 3.5, 3, 3,
                         3, 2.5, 1.5, 0.8])
MONTH_WEIGHTS = np.array([0.9, 0.9, 1.0, 1.0, 1.0, 0.95, 0.9, 0.95, 1.05, 1.15, 1.25, 1.2])
WEEKDAY_WEIGHTS = np.array([1.1, 1.1, 1.05, 1.0, 0.9, 0.45, 0.4])

# ------------------------------------------------------------------ small pure helpers


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stream])


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def calibrate_shift(mean_at: Callable[[float], float], target: float, lo: float = -15.0, hi: float = 15.0) -> float:
    """The shift c where the increasing function `mean_at(c)` reaches `target`, by bisection."""
    for _ in range(60):
        mid = (lo + hi) / 2
        if mean_at(mid) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def expand(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For runs (start, length): each element's run index and its value start + k, k = 0..length-1."""
    lengths = np.asarray(lengths, dtype=np.int64)
    run = np.repeat(np.arange(len(lengths)), lengths)
    offsets = np.cumsum(lengths) - lengths
    return run, np.asarray(starts, dtype=np.int64)[run] + (np.arange(len(run)) - offsets[run])


def weekday(days: np.ndarray) -> np.ndarray:
    """Monday = 0 for day numbers since 1970-01-01 (a Thursday)."""
    return (days + 3) % 7


def month_index(days: np.ndarray) -> np.ndarray:
    """0 = January for day numbers since 1970-01-01."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12


def choice(rng: np.random.Generator, p: Sequence[float] | np.ndarray, size: int) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return rng.choice(len(p), size=size, p=p / p.sum())


def choice_rows(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One category per element, drawn from the probability row `probs[rows[i]]`."""
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(rows))
    return np.minimum((u[:, None] > cum[rows]).sum(axis=1), probs.shape[1] - 1)


def pick_within(rng: np.random.Generator, counts: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """A uniform index into a flattened table of groups: offsets[g] + floor(u * counts[g])."""
    counts = np.asarray(counts)
    offsets = np.cumsum(counts) - counts
    return offsets[groups] + np.minimum((rng.random(len(groups)) * counts[groups]).astype(np.int64),
                                        counts[groups] - 1)


def lognormal(rng: np.random.Generator, median: np.ndarray | float, sigma: float, size: int) -> np.ndarray:
    return median * np.exp(sigma * rng.standard_normal(size))


def to_seconds(t: datetime) -> int:
    return int((t - datetime(1970, 1, 1)) // timedelta(seconds=1))


def _strings(values: Sequence[str | None], idx: np.ndarray, valid: np.ndarray | None = None) -> pl.Series:
    out = pl.Series(list(values), dtype=pl.String).gather(idx)
    return out if valid is None else _null_unless(out, valid)


def _null_unless(s: pl.Series, valid: np.ndarray) -> pl.Series:
    return pl.select(pl.when(pl.Series(valid)).then(s).alias(s.name)).to_series()


def _datetimes(seconds: np.ndarray, valid: np.ndarray | None = None) -> pl.Series:
    s = pl.Series(np.asarray(seconds, dtype=np.int64) * 1_000_000).cast(pl.Datetime("us"))
    return s if valid is None else _null_unless(s, valid)


def _dates(days: np.ndarray, valid: np.ndarray | None = None) -> pl.Series:
    s = pl.Series(np.asarray(days, dtype=np.int32)).cast(pl.Date)
    return s if valid is None else _null_unless(s, valid)


def _ids(n: int, start: int = 1) -> pl.Series:
    return pl.Series(np.arange(start, start + n, dtype=np.int32))


def restyle(col: pl.Expr, style: pl.Expr) -> pl.Expr:
    """How people type names into forms: 0 as is, 1 UPPER, 2 lower, 3 lower with stray spaces."""
    return (
        pl.when(style == 1).then(col.str.to_uppercase())
        .when(style == 2).then(col.str.to_lowercase())
        .when(style == 3).then(pl.concat_str([col.str.to_lowercase().str.replace_all(" ", "  "), pl.lit(" ")]))
        .otherwise(col)
    )


# ------------------------------------------------------------------ the org


@dataclass
class _Org:
    frames: dict[str, pl.DataFrame]
    n_regions: int
    team_region: np.ndarray  # region index per team
    team_speed: np.ndarray  # multiplies response times
    team_skill: np.ndarray
    members_start: np.ndarray  # first seller (rep index) of each team; sellers are contiguous
    members_count: np.ndarray
    rep_team: np.ndarray  # per rep index (rep id - 1)
    rep_manager: np.ndarray  # rep index of the manager (managers: themselves)
    rep_is_manager: np.ndarray
    rep_start: np.ndarray  # day number
    rep_depart: np.ndarray  # day number the rep left, NEVER if active
    rep_capacity: np.ndarray
    rep_skill: np.ndarray
    rep_names: list[str]
    city_region: np.ndarray
    city_weight: np.ndarray
    city_names: list[str]
    city_short: list[str]
    city_area: list[str]


def _org(rng: np.random.Generator, scale: Scale, today: int) -> _Org:
    region_id = {name: i + 1 for i, name in enumerate(REGIONS)}
    regions = pl.DataFrame({"id": _ids(len(REGIONS)), "name": list(REGIONS)})
    territory_id = {name: i + 1 for i, (_, name) in enumerate(TERRITORIES)}
    territory_region = {name: region for region, name in TERRITORIES}
    territories = pl.DataFrame({
        "id": _ids(len(TERRITORIES)),
        "region_id": pl.Series([region_id[r] for r, _ in TERRITORIES], dtype=pl.Int32),
        "name": [name for _, name in TERRITORIES],
    })
    city_region = np.array([region_id[territory_region[c[1]]] - 1 for c in CITIES])
    cities = pl.DataFrame({
        "id": _ids(len(CITIES)),
        "name": [c[0] for c in CITIES],
        "region_id": pl.Series(city_region + 1, dtype=pl.Int32),
        "territory_id": pl.Series([territory_id[c[1]] for c in CITIES], dtype=pl.Int32),
        "lat": [c[2] for c in CITIES],
        "lon": [c[3] for c in CITIES],
    })

    n_teams, per_team = scale.teams, scale.reps_per_team
    team_region = np.array([region_id[TEAM_REGION_ORDER[t % len(REGIONS)]] - 1 for t in range(n_teams)])
    team_names = [f"{TEAM_REGION_ORDER[t % len(REGIONS)]} {TEAM_NAMES[t // len(REGIONS)]}" for t in range(n_teams)]

    # Reps are laid out team by team: the manager, then the team's sellers.
    n_reps = n_teams * (1 + per_team)
    rep_team = np.repeat(np.arange(n_teams), 1 + per_team)
    slot = np.tile(np.arange(1 + per_team), n_teams)
    is_manager = slot == 0
    manager_idx = rep_team * (1 + per_team)
    combo = rng.choice(len(FIRST_NAMES) * len(LAST_NAMES), size=n_reps, replace=False)
    first = [FIRST_NAMES[i] for i in combo // len(LAST_NAMES)]
    last = [LAST_NAMES[i] for i in combo % len(LAST_NAMES)]
    names = [f"{f} {la}" for f, la in zip(first, last, strict=True)]
    emails = [f"{f}.{la}@flashpay.example".lower().replace("'", "") for f, la in zip(first, last, strict=True)]

    window_start = today - HISTORY_DAYS
    # The team's first seller is a veteran who never leaves, so every team can take leads at any time.
    anchor = slot == 1
    veteran = anchor | (rng.random(n_reps) < 0.7)
    start = np.where(
        is_manager,
        window_start - rng.integers(365, 6 * 365, n_reps),
        np.where(veteran, window_start - rng.integers(30, 5 * 365, n_reps),
                 window_start + rng.integers(0, HISTORY_DAYS - 90, n_reps)),
    )
    sellers = np.flatnonzero(~is_manager & ~anchor)
    n_gone = min(len(sellers), max(1, round(0.05 * n_teams * per_team)))
    gone = rng.choice(sellers, size=n_gone, replace=False)
    depart = np.full(n_reps, NEVER, dtype=np.int64)
    earliest = np.maximum(start[gone], window_start) + 60
    depart[gone] = earliest + (rng.random(n_gone) * np.maximum(1, today - 14 - earliest)).astype(np.int64)

    k_verticals = rng.integers(1, 4, n_reps)
    skills = [",".join(VERTICALS[j] for j in sorted(rng.choice(len(VERTICALS), k, replace=False)))
              for k in k_verticals]  # a loop over the few hundred reps
    languages = choice(rng, LANGUAGES_P, n_reps)
    reps = pl.DataFrame({
        "id": _ids(n_reps),
        "name": names,
        "email": emails,
        "title": np.where(is_manager, "manager", "rep"),
        "team_id": pl.Series(rep_team + 1, dtype=pl.Int32),
        "manager_id": _null_unless(pl.Series(manager_idx + 1, dtype=pl.Int32), ~is_manager),
        "region_id": pl.Series(team_region[rep_team] + 1, dtype=pl.Int32),
        "verticals": pl.Series([None if m else s for m, s in zip(is_manager, skills, strict=True)],
                               dtype=pl.String),
        "languages": _strings(LANGUAGES, languages),
        "start_date": _dates(start),
        "active": depart == NEVER,
    })
    teams = pl.DataFrame({
        "id": _ids(n_teams),
        "name": team_names,
        "region_id": pl.Series(team_region + 1, dtype=pl.Int32),
        "manager_id": pl.Series(np.arange(n_teams) * (1 + per_team) + 1, dtype=pl.Int32),
    })
    return _Org(
        frames={"regions": regions, "territories": territories, "cities": cities, "teams": teams, "reps": reps},
        n_regions=len(REGIONS),
        team_region=team_region,
        team_speed=np.exp(0.45 * rng.standard_normal(n_teams)),
        team_skill=0.15 * rng.standard_normal(n_teams),
        members_start=np.arange(n_teams) * (1 + per_team) + 1,
        members_count=np.full(n_teams, per_team),
        rep_team=rep_team,
        rep_manager=manager_idx,
        rep_is_manager=is_manager,
        rep_start=start,
        rep_depart=depart,
        rep_capacity=rng.uniform(0.7, 1.3, n_reps),
        rep_skill=0.25 * rng.standard_normal(n_reps),
        rep_names=names,
        city_region=city_region,
        city_weight=np.array([c[5] for c in CITIES]),
        city_names=[c[0] for c in CITIES],
        city_short=[c[0].split(",")[0] for c in CITIES],
        city_area=[c[4] for c in CITIES],
    )


def _acting_rep(org: _Org, owner: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Whoever works an owner's lead on a day: the owner, or their manager once the owner has left."""
    return np.where(org.rep_depart[owner] <= day, org.rep_manager[owner], owner)


# ------------------------------------------------------------------ leads


def submission_times(rng: np.random.Generator, n: int, now_s: int) -> np.ndarray:
    """n form submissions over the history window, sorted: growth, seasonality, weekdays, time of day."""
    start_s = now_s - HISTORY_DAYS * DAY
    days = np.arange(start_s // DAY, now_s // DAY + 1)
    years_ago = (days[-1] - days) / 365.25
    w = (YEARLY_GROWTH ** -years_ago) * MONTH_WEIGHTS[month_index(days)] * WEEKDAY_WEIGHTS[weekday(days)]
    w *= rng.gamma(40.0, 1 / 40.0, len(days))  # day-to-day noise
    lo = np.maximum(days * DAY, start_s)
    hi = np.minimum((days + 1) * DAY, now_s)
    w *= np.maximum(hi - lo, 0) / DAY  # the first and last days are partial
    counts = rng.multinomial(n, w / w.sum())
    day = np.repeat(days, counts)
    lo, hi = np.repeat(lo, counts), np.repeat(hi, counts)
    hour = choice(rng, HOUR_WEIGHTS, n)
    ts = day * DAY + hour * HOUR + rng.integers(0, HOUR, n)
    # On the partial days the hour profile would overshoot the window; spread those few evenly instead.
    partial = (lo > day * DAY) | (hi < (day + 1) * DAY)
    ts = np.where(partial, lo + (rng.random(n) * (hi - lo)).astype(np.int64), ts)
    return np.sort(np.minimum(ts, now_s - 1))


@dataclass
class _Leads:
    n: int
    ts: np.ndarray
    vertical: np.ndarray  # true vertical index (the form field may be missing)
    size: np.ndarray
    volume: np.ndarray
    city: np.ndarray
    region: np.ndarray
    channel: np.ndarray
    interest: np.ndarray
    owner: np.ndarray  # rep index
    team: np.ndarray
    duplicate: np.ndarray  # the second submission of a merchant
    frame: pl.DataFrame  # output columns except status, status_changed_at, first_response_at


def _leads(rng: np.random.Generator, scale: Scale, org: _Org, now_s: int) -> _Leads:
    n_dup = round(0.02 * scale.leads)
    n = scale.leads - n_dup
    a: dict[str, np.ndarray] = {}
    a["ts"] = submission_times(rng, n, now_s)
    a["vertical"] = choice(rng, VERTICAL_P, n)
    a["size"] = choice(rng, SIZE_P, n)
    median_volume = np.array(SIZE_VOLUME)[a["size"]] * np.array(VERTICAL_VOLUME)[a["vertical"]]
    a["volume"] = np.maximum(1_000, np.round(lognormal(rng, median_volume, 0.7, n), -2))
    covered = np.isin(org.city_region, org.team_region)  # leads come from the regions Flash has teams in
    city_p = np.where(covered, org.city_weight, 0.0)
    a["city"] = choice(rng, city_p, n)
    a["channel"] = choice(rng, CHANNEL_P, n)
    a["interest"] = choice_rows(rng, CHANNEL_INTEREST, a["channel"])
    a["campaign"] = pick_within(rng, np.array([len(c) for c in CAMPAIGNS]), a["channel"])
    a["landing"] = pick_within(rng, np.array([len(p) for p in LANDING_PAGES]), a["channel"])
    # merchant name parts
    a["pattern"] = choice(rng, (0.35, 0.35, 0.2, 0.1), n)
    a["m_last"] = rng.integers(0, len(LAST_NAMES), n)
    a["m_last2"] = rng.integers(0, len(LAST_NAMES), n)
    a["adj"] = rng.integers(0, len(ADJECTIVES), n)
    a["noun"] = pick_within(rng, np.array([len(x) for x in NOUNS]), a["vertical"])
    a["suffix"] = choice(rng, NAME_SUFFIX_P, n)
    a["c_first"] = rng.integers(0, len(FIRST_NAMES), n)
    a["c_last"] = np.where((a["pattern"] == 0) & (rng.random(n) < 0.6), a["m_last"],
                           rng.integers(0, len(LAST_NAMES), n))  # often the owner the shop is named after
    a["freemail"] = np.where(rng.random(n) < 0.35, rng.integers(0, len(FREEMAIL), n), -1)
    a["mail_no"] = rng.integers(1, 99, n)
    a["phone_no"] = rng.integers(0, 100, n)
    a["phone_fmt"] = choice(rng, (0.7, 0.2, 0.1), n)
    a["merchant_style"] = choice(rng, (0.92, 0.03, 0.03, 0.02), n)
    a["contact_style"] = choice(rng, (0.94, 0.02, 0.04), n)
    a["email_style"] = choice(rng, (0.93, 0.05, 0.02), n)
    for field in ("vertical", "phone", "campaign", "interest", "size"):
        a[f"has_{field}"] = rng.random(n) >= MISSING_P
    a["duplicate"] = np.zeros(n, dtype=bool)

    # ~2% of merchants submit twice, a few days apart, typing their names differently the second time.
    eligible = np.flatnonzero(a["ts"] < now_s - 10 * DAY)
    orig = np.sort(rng.choice(eligible, size=min(n_dup, len(eligible)), replace=False))
    dup = {k: v[orig].copy() for k, v in a.items()}
    m = len(orig)
    dup["ts"] = np.minimum(dup["ts"] + rng.integers(HOUR, 10 * DAY, m), now_s - 1)
    # half come back the same way, the others by searching (organic_search) or typing the address (direct_traffic)
    dup["channel"] = np.where(rng.random(m) < 0.5, dup["channel"], np.where(rng.random(m) < 0.5, 0, 3))
    dup["campaign"] = pick_within(rng, np.array([len(c) for c in CAMPAIGNS]), dup["channel"])
    dup["landing"] = pick_within(rng, np.array([len(p) for p in LANDING_PAGES]), dup["channel"])
    dup["merchant_style"] = (dup["merchant_style"] + rng.integers(1, 4, m)) % 4
    dup["contact_style"] = np.where(rng.random(m) < 0.5, (dup["contact_style"] + 1) % 3, dup["contact_style"])
    dup["email_style"] = (dup["email_style"] + rng.integers(1, 3, m)) % 3
    dup["duplicate"][:] = True
    order = np.argsort(np.concatenate([a["ts"], dup["ts"]]), kind="stable")
    a = {k: np.concatenate([v, dup[k]])[order] for k, v in a.items()}
    n = len(order)

    a["region"] = org.city_region[a["city"]]
    a["team"], a["owner"] = _assign(rng, org, a["region"], a["ts"] // DAY)
    frame = _lead_frame(a, org)
    return _Leads(n=n, frame=frame, **{k: a[k] for k in (
        "ts", "vertical", "size", "volume", "city", "region", "channel", "interest", "owner", "team", "duplicate")})


def _assign(rng: np.random.Generator, org: _Org, region: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, ...]:
    """Route each lead to a team of its region, then to a seller of that team employed on its day."""
    n_teams = len(org.team_region)
    per_region = np.bincount(org.team_region, minlength=org.n_regions)
    region_teams = np.argsort(org.team_region, kind="stable")  # teams grouped by region
    team = region_teams[pick_within(rng, per_region, region)]
    owner = np.empty(len(region), dtype=np.int64)
    u = rng.random(len(region))
    for t in range(n_teams):  # a loop over teams; within a team everything is vectorized
        rows = np.flatnonzero(team == t)
        members = org.members_start[t] + np.arange(org.members_count[t])
        d = day[rows][:, None]
        w = org.rep_capacity[members] * ((org.rep_start[members] <= d) & (d < org.rep_depart[members]))
        cum = np.cumsum(w, axis=1)
        k = (u[rows, None] * cum[:, -1:] > cum).sum(axis=1)
        owner[rows] = members[np.minimum(k, len(members) - 1)]
    return team, owner


def _lead_frame(a: dict[str, np.ndarray], org: _Org) -> pl.DataFrame:
    n = len(a["ts"])
    nouns = [x for group in NOUNS for x in group]
    df = pl.DataFrame({
        "pattern": a["pattern"],
        "m_last": _strings(LAST_NAMES, a["m_last"]),
        "m_last2": _strings(LAST_NAMES, a["m_last2"]),
        "adj": _strings(ADJECTIVES, a["adj"]),
        "noun": _strings(nouns, a["noun"]),
        "city_short": _strings(org.city_short, a["city"]),
        "suffix": _strings(NAME_SUFFIXES, a["suffix"]),
        "first": _strings(FIRST_NAMES, a["c_first"]),
        "last": _strings(LAST_NAMES, a["c_last"]),
        "freemail": _strings(FREEMAIL, np.maximum(a["freemail"], 0), a["freemail"] >= 0),
        "mail_no": a["mail_no"],
        "area": _strings(org.city_area, a["city"]),
        "phone_no": a["phone_no"],
        "phone_fmt": a["phone_fmt"],
        "merchant_style": a["merchant_style"],
        "contact_style": a["contact_style"],
        "email_style": a["email_style"],
    })
    merchant = pl.concat_str([
        pl.when(pl.col("pattern") == 0).then(pl.concat_str([pl.col("m_last"), pl.lit("'s "), pl.col("noun")]))
        .when(pl.col("pattern") == 1).then(pl.concat_str([pl.col("adj"), pl.lit(" "), pl.col("noun")]))
        .when(pl.col("pattern") == 2).then(pl.concat_str([pl.col("city_short"), pl.lit(" "), pl.col("noun")]))
        .otherwise(pl.concat_str([pl.col("m_last"), pl.lit(" & "), pl.col("m_last2"), pl.lit(" "), pl.col("noun")])),
        pl.col("suffix"),
    ])
    slug = merchant.str.to_lowercase().str.replace_all(r"[^a-z0-9]", "").str.slice(0, 24)
    first_l = pl.col("first").str.to_lowercase()
    last_l = pl.col("last").str.to_lowercase().str.replace_all("'", "")
    email = (
        pl.when(pl.col("freemail").is_null())
        .then(pl.concat_str([first_l, pl.lit("."), last_l, pl.lit("@"), slug, pl.lit(".example")]))
        .otherwise(pl.concat_str([first_l, last_l, pl.col("mail_no").cast(pl.String), pl.lit("@"),
                                  pl.col("freemail")]))
    )
    email = (
        pl.when(pl.col("email_style") == 1)
        .then(pl.concat_str([pl.col("first"), pl.lit("."), pl.col("last").str.replace_all("'", ""),
                             pl.lit("@"), email.str.split("@").list.last()]))
        .when(pl.col("email_style") == 2).then(email.str.to_uppercase())
        .otherwise(email)
    )
    xx = pl.col("phone_no").cast(pl.String).str.zfill(2)
    phone = (
        pl.when(pl.col("phone_fmt") == 0).then(pl.concat_str([pl.lit("("), pl.col("area"), pl.lit(") 555-01"), xx]))
        .when(pl.col("phone_fmt") == 1).then(pl.concat_str([pl.col("area"), pl.lit("-555-01"), xx]))
        .otherwise(pl.concat_str([pl.lit("+1 "), pl.col("area"), pl.lit(" 555 01"), xx]))
    )
    contact = pl.concat_str([pl.col("first"), pl.lit(" "), pl.col("last")])
    strings = df.select(
        restyle(merchant, pl.col("merchant_style")).alias("merchant_name"),
        restyle(contact, pl.col("contact_style")).alias("contact_name"),
        email.alias("email"),
        phone.alias("phone"),
    )
    campaigns = [c for group in CAMPAIGNS for c in group]
    pages = [p for group in LANDING_PAGES for p in group]
    ids = _ids(n)
    return pl.DataFrame({
        "id": ids,
        "external_id": pl.select(pl.concat_str([pl.lit("FL-"), ids.cast(pl.String).str.zfill(6)])).to_series(),
        "merchant_name": strings["merchant_name"],
        "contact_name": strings["contact_name"],
        "email": strings["email"],
        "phone": _null_unless(strings["phone"], a["has_phone"]),
        "vertical": _strings(VERTICALS, a["vertical"], a["has_vertical"]),
        "company_size": _strings(COMPANY_SIZES, a["size"], a["has_size"]),
        "monthly_volume": a["volume"],
        "city": _strings(org.city_names, a["city"]),
        "region_id": pl.Series(org.city_region[a["city"]] + 1, dtype=pl.Int32),
        "channel": _strings(CHANNELS, a["channel"]),
        "campaign": _strings(campaigns, a["campaign"], a["has_campaign"]),
        "landing_page": _strings(pages, a["landing"]),
        "interest_level": _strings(INTEREST_LEVELS, a["interest"], a["has_interest"]),
        "submitted_at": _datetimes(a["ts"]),
        "owner_id": pl.Series(a["owner"] + 1, dtype=pl.Int32),
    })


# ------------------------------------------------------------------ the funnel

NEW, MQL, SQL, OPPORTUNITY, WON, LOST, DISQUALIFIED = range(7)


@dataclass
class _Funnel:
    touched: np.ndarray  # someone responded, at some time (maybe after now)
    caught: np.ndarray  # a second submission that the rep disqualified as a duplicate
    response: np.ndarray  # first response time, seconds
    reached: np.ndarray  # furthest stage the lead's path reaches: NEW..OPPORTUNITY
    terminal: np.ndarray  # WON, LOST, DISQUALIFIED, or NEW for paths that stay open
    stage_t: np.ndarray  # (n, 4): time of reaching mql, sql, opportunity; column 3 = terminal time
    auto_mql: np.ndarray
    engagement: np.ndarray
    reason: np.ndarray  # terminal reason index into `_reasons()`
    status: np.ndarray  # at now
    status_t: np.ndarray


def _reasons() -> list[str]:
    return [*LOSS_REASONS, *DISQUALIFY_REASONS, "duplicate"]


def _funnel(rng: np.random.Generator, leads: _Leads, org: _Org, now_s: int) -> _Funnel:
    n = leads.n
    il = leads.interest
    hour_of_day = (leads.ts % DAY) // HOUR
    off_hours = (weekday(leads.ts // DAY) >= 5) | (hour_of_day < 8) | (hour_of_day >= 18)
    median_h = np.array(RESPONSE_MEDIAN_H)[il] * org.team_speed[leads.team] * np.where(off_hours, 2.5, 1.0)
    hours = np.maximum(lognormal(rng, median_h, 1.1, n), 2 / 60)
    response = leads.ts + (hours * HOUR).astype(np.int64)
    touched = rng.random(n) >= np.array(UNTOUCHED_P)[il]

    engagement = rng.standard_normal(n)
    score = (
        np.array(INTEREST_WIN)[il] + np.array(CHANNEL_WIN)[leads.channel] + np.array(VERTICAL_WIN)[leads.vertical]
        + np.array(SIZE_WIN)[leads.size] - 0.28 * np.log(hours / 2.0)
        + org.rep_skill[leads.owner] + org.team_skill[leads.team] + 0.5 * rng.standard_normal(n)
    )
    logits = STAGE_BASE + STAGE_WEIGHT * score[:, None] + STAGE_ENGAGE * engagement[:, None]
    caught = leads.duplicate & (rng.random(n) < DUPLICATE_CAUGHT_P)
    workable = touched & ~caught

    def win_rate(shift: float) -> float:
        return float(np.mean(workable * sigmoid(logits + shift).prod(axis=1)))

    shift = calibrate_shift(win_rate, TARGET_WIN_RATE)
    passes = rng.random((n, 4)) < sigmoid(logits + shift)
    # mql, sql, opportunity reached while the stages pass in a row; the fourth "pass" is the win
    run = np.cumprod(passes[:, :3], axis=1).sum(axis=1)
    auto_mql = passes[:, 0] & (il >= 1) & (rng.random(n) < 0.7)  # warm/hot forms qualify by rule
    reached = np.where(workable, run, np.where(auto_mql, MQL, NEW))
    terminal = np.where(
        ~workable, np.where(caught, DISQUALIFIED, NEW),
        np.where(run == 3, np.where(passes[:, 3], WON, LOST), DISQUALIFIED),
    )

    # Stage times, each after the one before; a big merchant takes longer to close.
    t1 = np.where(auto_mql, leads.ts + rng.integers(60, 1200, n),
                  response + lognormal(rng, 20 * HOUR, 1.0, n).astype(np.int64))
    t2 = np.maximum(t1, response) + lognormal(rng, 3 * DAY, 0.8, n).astype(np.int64) + 60
    t3 = t2 + lognormal(rng, 6 * DAY, 0.8, n).astype(np.int64) + 60
    t4 = t3 + lognormal(rng, (18 + 6 * leads.size) * DAY, 0.6, n).astype(np.int64) + 60
    dq_after = np.choose(reached, [response, np.maximum(t1, response), t2, t3])
    dq_delay = np.choose(reached, [6 * HOUR, 4 * DAY, 5 * DAY, 5 * DAY])
    t_dq = np.where(caught, response + rng.integers(HOUR, 2 * DAY, n),
                    dq_after + lognormal(rng, dq_delay, 1.0, n).astype(np.int64) + 60)
    t_end = np.where(terminal == NEW, NEVER, np.where(terminal == DISQUALIFIED, t_dq, t4))
    stage_t = np.stack([t1, t2, t3, t_end], axis=1)

    n_loss = len(LOSS_REASONS)
    reason = np.where(
        terminal == LOST, choice(rng, LOSS_P, n),
        np.where(caught, len(_reasons()) - 1, n_loss + choice(rng, DISQUALIFY_P, n)),
    )

    # The lead's state now: the last transition that has happened.
    status = np.full(n, NEW)
    status_t = leads.ts.copy()
    for code, t in _transitions(reached, terminal, stage_t):
        done = (code >= 0) & (t <= now_s)
        status = np.where(done, code, status)
        status_t = np.where(done, t, status_t)
    return _Funnel(
        touched=touched, caught=caught, response=response, reached=reached, terminal=terminal, stage_t=stage_t,
        auto_mql=auto_mql, engagement=engagement, reason=reason, status=status, status_t=status_t,
    )


def _transitions(reached: np.ndarray, terminal: np.ndarray, stage_t: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
    """The j-th transition of every lead (j = 1..4) as (to_status code or -1, time)."""
    has_terminal = terminal != NEW
    for j in (1, 2, 3, 4):
        is_stage = j <= reached
        is_terminal = (j == reached + 1) & has_terminal
        code = np.where(is_stage, j, np.where(is_terminal, terminal, -1))
        yield code, np.where(is_stage, stage_t[:, min(j, 3) - 1], stage_t[:, 3])


def _stage_changes(leads: _Leads, f: _Funnel, org: _Org, now_s: int) -> pl.DataFrame:
    """Every lead's history: its creation, then each transition that has happened by now."""
    n_reps = len(org.rep_names)
    rule, system = n_reps, n_reps + 1  # actor codes beyond the reps
    reasons = [*STAGE_REASONS, *_reasons(), AUTO_QUALIFY_REASON]
    lead, step, frm, to, t, actor, reason = (
        [np.arange(leads.n)], [np.zeros(leads.n, dtype=np.int64)], [np.full(leads.n, -1)], [np.full(leads.n, NEW)],
        [leads.ts], [np.full(leads.n, system)], [np.zeros(leads.n, dtype=np.int64)],
    )
    for j, (code, tj) in enumerate(_transitions(f.reached, f.terminal, f.stage_t), start=1):
        rows = np.flatnonzero((code >= 0) & (tj <= now_s))
        c, tt = code[rows], tj[rows]
        by_rule = (j == 1) & f.auto_mql[rows]
        lead.append(rows)
        step.append(np.full(len(rows), j))
        frm.append(np.where(c <= OPPORTUNITY, c - 1, f.reached[rows]))
        to.append(c)
        t.append(tt)
        actor.append(np.where(by_rule, rule, _acting_rep(org, leads.owner[rows], tt // DAY)))
        code_reason = np.where(c <= WON, c, len(STAGE_REASONS) + f.reason[rows])
        reason.append(np.where(by_rule, len(reasons) - 1, code_reason))
    lead, step, frm, to, t, actor, reason = map(np.concatenate, (lead, step, frm, to, t, actor, reason))
    # ids in the order things happened, like a real event log; strings are built once, already in order
    order = np.lexsort((step, lead, t))
    return pl.DataFrame({
        "id": _ids(len(order)),
        "lead_id": pl.Series(lead[order] + 1, dtype=pl.Int32),
        "from_status": _strings(LEAD_STATUSES, np.maximum(frm[order], 0), frm[order] >= 0),
        "to_status": _strings(LEAD_STATUSES, to[order]),
        "changed_at": _datetimes(t[order]),
        "actor": _strings([*org.rep_names, "rule:auto-qualify", "system"], actor[order]),
        "reason": _strings(reasons, reason[order]),
    })


# ------------------------------------------------------------------ opportunities and customers


def _opportunities(rng: np.random.Generator, leads: _Leads, f: _Funnel, now_s: int) -> pl.DataFrame:
    created = f.stage_t[:, 2]
    rows = np.flatnonzero((f.reached == OPPORTUNITY) & (created <= now_s))
    rows = rows[np.argsort(created[rows], kind="stable")]
    m = len(rows)
    size = leads.size[rows]
    take = np.clip(rng.uniform(0.004, 0.012, m) - 0.0008 * size, 0.004, 0.012)  # big merchants negotiate
    amount = np.round(leads.volume[rows] * take * 12 * lognormal(rng, 1.0, 0.15, m), -1)
    close_t = f.stage_t[rows, 3]
    closed = close_t <= now_s
    won = f.terminal[rows] == WON
    age_days = (now_s - created[rows]) / DAY * rng.uniform(0.6, 1.4, m)
    open_stage = np.where(age_days < 7, "discovery", np.where(age_days < 21, "proposal", "negotiation"))
    stage = np.where(closed, np.where(won, "closed_won", "closed_lost"), open_stage)
    expected = (created[rows] + lognormal(rng, (25 + 6 * size) * DAY, 0.3, m).astype(np.int64)) // DAY
    return pl.DataFrame({
        "id": _ids(m),
        "lead_id": pl.Series(rows + 1, dtype=pl.Int32),
        "owner_id": pl.Series(leads.owner[rows] + 1, dtype=pl.Int32),
        "amount": amount,
        "stage": stage,
        "created_at": _datetimes(created[rows]),
        "expected_close": _dates(expected),
        "closed_at": _datetimes(close_t, closed),
        "won": _null_unless(pl.Series(won), closed),
        "loss_reason": _strings(_reasons(), np.minimum(f.reason[rows], len(LOSS_REASONS) - 1), closed & ~won),
    })


@dataclass
class _Customers:
    frame: pl.DataFrame
    won_day: np.ndarray
    churn_day: np.ndarray  # NEVER if still a customer
    vertical: np.ndarray
    base_daily: np.ndarray  # expected payments a day once onboarded
    ticket: np.ndarray
    growth: np.ndarray  # yearly log growth


def _customers(rng: np.random.Generator, leads: _Leads, f: _Funnel, now_s: int) -> _Customers:
    won_t = f.stage_t[:, 3]
    rows = np.flatnonzero((f.terminal == WON) & (won_t <= now_s))
    rows = rows[np.argsort(won_t[rows], kind="stable")]
    m = len(rows)
    today = now_s // DAY
    won_day = won_t[rows] // DAY
    v = leads.vertical[rows]
    # small merchants and some verticals churn more; the mean hazard stays at ANNUAL_CHURN
    log_volume = np.log(leads.volume[rows])
    center = float(np.median(log_volume)) if m else 0.0
    relative = np.exp(np.array(VERTICAL_CHURN)[v] - 0.15 * (log_volume - center))
    hazard = -np.log(1 - ANNUAL_CHURN) / 365 * relative / (float(relative.mean()) if m else 1.0)
    churn_day = won_day + np.ceil(rng.exponential(1 / hazard, m)).astype(np.int64) + 30
    churn_day = np.where(churn_day <= today, churn_day, NEVER)
    src = leads.frame.select(pl.all().gather(rows))
    frame = pl.DataFrame({
        "id": _ids(m),
        "lead_id": src["id"],
        # sales ops tidies the spacing when the account is opened; the casing stays as the merchant typed it
        "merchant_name": src["merchant_name"].str.replace_all(r"\s+", " ").str.strip_chars(),
        "vertical": src["vertical"],
        "region_id": src["region_id"],
        "owner_id": src["owner_id"],
        "won_at": _dates(won_day),
        "churned_at": _dates(np.minimum(churn_day, today), churn_day != NEVER),
    })
    ticket = np.array(TICKET)[v] * lognormal(rng, 1.0, 0.3, m)
    actual_volume = leads.volume[rows] * lognormal(rng, 1.0, 0.35, m)  # the form's estimate was off
    return _Customers(frame=frame, won_day=won_day, churn_day=churn_day, vertical=v,
                      base_daily=actual_volume / ticket / 30.4, ticket=ticket,
                      growth=rng.normal(0.15, 0.2, m))


def _routing(rng: np.random.Generator, org: _Org, reps: pl.DataFrame, leads: _Leads,
             funnel: _Funnel) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, pl.Series]]:
    """What assignment and qualification read: each seller's cap, working days and territories; each lead's
    language, whether its budget was confirmed, and when it was assigned. From a stream of its own, so the
    rest of the demo is the same with or without it."""
    n_reps = reps.height
    seller = ~org.rep_is_manager
    # A cap with room above the seller's open book today (at least OPEN_LEADS_PER_SELLER x capacity), so new
    # leads can still be routed; a cap below today's book would hold every new lead back.
    is_open = funnel.status <= OPPORTUNITY
    open_now = np.bincount(leads.owner[is_open], minlength=n_reps)
    caps = np.round(np.maximum(OPEN_LEADS_PER_SELLER * org.rep_capacity, 1.4 * open_now) / 5) * 5
    weekend = rng.random(n_reps) < 0.1
    reps = reps.with_columns(
        max_open_leads=_null_unless(pl.Series(caps.astype(np.int64), dtype=pl.Int32), seller),
        working_days=pl.Series(np.where(weekend, "tue,wed,thu,fri,sat", WEEKDAYS)),
    )
    # each seller covers one to three territories of their team's region
    territories = org.frames["territories"]
    rows = []
    for r in np.flatnonzero(seller):  # a loop over the few hundred reps
        region = int(org.team_region[org.rep_team[r]]) + 1
        ids = territories.filter(pl.col("region_id") == region)["id"].to_numpy()
        k = min(len(ids), int(rng.integers(1, 4)))
        rows += [(int(r) + 1, int(t)) for t in sorted(rng.choice(ids, size=k, replace=False))]
    rep_territories = pl.DataFrame(rows, schema={"rep_id": pl.Int32, "territory_id": pl.Int32}, orient="row")
    n = leads.n
    language = choice(rng, LEAD_LANGUAGES_P, n)
    qualified = funnel.reached >= SQL
    budget = np.where(qualified, rng.random(n) < 0.85, rng.random(n) < 0.03)
    assigned = leads.ts + rng.integers(1, 20 * 60, n)  # routed within minutes of arriving
    return reps, rep_territories, {
        "language": _strings(LEAD_LANGUAGES, language),
        "budget_confirmed": pl.Series(budget, dtype=pl.Boolean),
        "assigned_at": _datetimes(assigned),
    }


def _with_quotas(reps: pl.DataFrame, rng: np.random.Generator, org: _Org, opps: pl.DataFrame,
                 now: datetime) -> pl.DataFrame:
    """Quota: about what a seller of the team has won per month over the last year, set a bit above it."""
    won = opps.filter(pl.col("won").fill_null(False) & (pl.col("closed_at") > now - timedelta(days=365)))
    by_owner = np.bincount(won["owner_id"].to_numpy() - 1, weights=won["amount"].to_numpy(),
                           minlength=len(org.rep_team))
    sellers = ~org.rep_is_manager
    team_won = np.bincount(org.rep_team, weights=by_owner, minlength=len(org.team_region))
    team_per_seller = team_won / np.maximum(org.members_count, 1) / 12
    quota = np.round(team_per_seller[org.rep_team] * rng.uniform(0.95, 1.35, len(org.rep_team)), -3)
    # A manager carries no personal quota: the team's is the sum of its sellers'.
    return reps.with_columns(monthly_quota=pl.Series(np.where(sellers, np.maximum(quota, 5_000.0), 0.0)))


# ------------------------------------------------------------------ activities


def _activities(seed: int, chunk: int, lo: int, hi: int, leads: _Leads, f: _Funnel, org: _Org, now_s: int,
                calls_scale: float) -> pl.DataFrame:
    """The activities of leads lo..hi-1 (lead indices), one chunk."""
    rng = _rng(seed, 6, chunk)
    idx = np.arange(lo, hi)
    workable = f.touched[idx] & ~f.caught[idx]  # a caught duplicate gets its first response only
    k = f.reached[idx]
    e = f.engagement[idx]
    lam = np.stack([
        CALLS_BY_STAGE[k] * calls_scale,
        EMAILS_BY_STAGE[k] * calls_scale,
        MEETINGS_BY_STAGE[k] * np.exp(ENGAGED_MEETINGS * e),
        DEMOS_BY_STAGE[k] * np.exp(ENGAGED_MEETINGS * e),
    ], axis=1) * workable[:, None]
    counts = rng.poisson(lam)
    touch = f.touched[idx]
    # The first response is itself an activity: a call or an email at first_response_at.
    first_type = (rng.random(len(idx)) < 0.4).astype(np.int64)
    types, lead = [], []
    for t in range(4):
        types.append(np.full(counts[:, t].sum(), t))
        lead.append(np.repeat(idx, counts[:, t]))
    types.append(first_type[touch])
    lead.append(idx[touch])
    typ = np.concatenate(types)
    lead = np.concatenate(lead)
    first = np.zeros(len(typ), dtype=bool)
    first[len(typ) - touch.sum():] = True
    n = len(typ)

    start = f.response[lead]
    meeting = typ >= 2
    # meetings and demos come once the lead is qualified
    start = np.where(meeting & (f.reached[lead] >= MQL), np.maximum(start, f.stage_t[lead, 0]), start)
    end = np.where(f.terminal[lead] == NEW, now_s, np.maximum(f.stage_t[lead, 3], start))
    t = start + (rng.random(n) * (end - start)).astype(np.int64)
    # people work in office hours on weekdays, mostly
    day = t // DAY
    wd = weekday(day)
    day = np.where(rng.random(n) < 0.85, day + np.where(wd == 5, -1, np.where(wd == 6, 1, 0)), day)
    t = np.clip(day * DAY + 8 * HOUR + rng.integers(0, 10 * HOUR, n), start, end)
    t = np.where(first, f.response[lead], t)
    keep = t <= now_s
    typ, lead, t, first = typ[keep], lead[keep], t[keep], first[keep]
    n = len(typ)

    # outcomes: engaged merchants pick up, reply and show up more
    e = f.engagement[lead]
    stage = f.reached[lead]
    u = rng.random(n)
    p_connect = sigmoid(-0.6 + 0.5 * e + 0.25 * stage)
    p_reply = sigmoid(-1.4 + 0.5 * e + 0.25 * stage)
    p_show = sigmoid(1.6 + 0.6 * e)
    outcome = np.select(
        [typ == 0, typ == 1, typ == 2],
        [np.where(u < p_connect, 0, np.where(u < p_connect + (1 - p_connect) * 0.55, 1, 2)),
         np.where(u < p_reply, 4, 3),
         np.where(u < p_show, 5, 6)],
        np.where(u < p_show + 0.03, 7, 8),
    )
    duration = np.select(
        [outcome == 0, (outcome == 1) | (outcome == 2), (outcome == 5) | (outcome == 7)],
        [rng.integers(4, 31, n), rng.integers(2, 4, n), 5 * rng.integers(4, 13, n)],
        -1,
    )
    notes_count = np.array([len(o[2]) for o in OUTCOMES])
    notes = [x for o in OUTCOMES for x in o[2]]

    owner = leads.owner[lead]
    # a teammate covers some of the work; anyone who has left hands it to the manager
    team = org.rep_team[owner]
    mate = org.members_start[team] + (rng.random(n) * org.members_count[team]).astype(np.int64)
    tday = t // DAY

    def employed(r: np.ndarray) -> np.ndarray:
        return (org.rep_start[r] <= tday) & (tday < org.rep_depart[r])

    rep = np.where((rng.random(n) < 0.08) & employed(mate), mate, owner)
    rep = np.where(employed(rep), rep, org.rep_manager[owner])

    frame = pl.DataFrame({
        "lead_id": pl.Series(lead + 1, dtype=pl.Int32),
        "rep_id": pl.Series(rep + 1, dtype=pl.Int32),
        "type": _strings(ACTIVITY_TYPES, typ),
        "occurred_at": _datetimes(t),
        "duration_min": _null_unless(pl.Series(duration, dtype=pl.Int32), duration >= 0),
        "outcome": _strings([o[1] for o in OUTCOMES], outcome),
        "notes": _strings(notes, pick_within(rng, notes_count, outcome)),
        "_t": t,
        "_type": typ,
        "_u": rng.random(n),  # breaks ties between identical times without depending on sort stability
    })
    return frame.sort(["lead_id", "_t", "_type", "_u"]).drop("_t", "_type", "_u")


def _activity_scale(f: _Funnel, leads: _Leads) -> float:
    """Calls and emails are scaled so that leads average about TARGET_ACTIVITIES_PER_LEAD activities."""
    workable = f.touched & ~f.caught
    k = f.reached
    # engagement is standard normal, so E[exp(a e)] = exp(a^2 / 2)
    meetings = (MEETINGS_BY_STAGE[k] + DEMOS_BY_STAGE[k]) * np.exp(ENGAGED_MEETINGS**2 / 2)
    touches = (CALLS_BY_STAGE[k] + EMAILS_BY_STAGE[k]) * workable
    wanted = TARGET_ACTIVITIES_PER_LEAD * leads.n - f.touched.sum() - (meetings * workable).sum()
    return float(max(wanted, 0) / max(touches.sum(), 1))


# ------------------------------------------------------------------ usage


def _usage(seed: int, chunk: int, c: _Customers, lo: int, hi: int, now_s: int) -> pl.DataFrame:
    """Daily payments of customers lo..hi-1 over the last year, on the days they were customers."""
    rng = _rng(seed, 7, chunk)
    today = now_s // DAY
    first = np.maximum(c.won_day[lo:hi], today - USAGE_DAYS)
    last = np.minimum(c.churn_day[lo:hi], today)  # exclusive: no row for today, still in progress
    run, day = expand(first, np.maximum(last - first, 0))
    cust = lo + run
    n = len(day)
    age = day - c.won_day[cust]
    onboarding = 1 - 0.85 * np.exp(-age / 18)
    growth = np.exp(c.growth[cust] * age / 365)
    v = c.vertical[cust]
    weekly = WEEKLY[v, weekday(day)]
    month = month_index(day)
    season = 1 + np.array(HOLIDAY_SEASON)[v] * ((month == 10) | (month == 11))
    to_churn = c.churn_day[cust] - day
    decline = np.where(to_churn < 45, 0.3 + 0.7 * to_churn / 45, 1.0)  # the warning sign churn models learn
    lam = c.base_daily[cust] * onboarding * growth * weekly * season * decline * rng.gamma(20.0, 1 / 20.0, n)
    count = rng.poisson(lam)
    volume = np.round(count * c.ticket[cust] * lognormal(rng, 1.0, 0.1, n), 2)
    return pl.DataFrame({
        "customer_id": pl.Series(cust + 1, dtype=pl.Int32),
        "day": _dates(day),
        "payment_count": pl.Series(count, dtype=pl.Int32),
        "payment_volume": volume,
    })


def _usage_chunks(c: _Customers, today: int, rows_per_chunk: int) -> list[tuple[int, int]]:
    """Customer ranges (lo, hi) of about `rows_per_chunk` usage rows each."""
    first = np.maximum(c.won_day, today - USAGE_DAYS)
    rows = np.maximum(np.minimum(c.churn_day, today) - first, 0)
    chunk_of = np.cumsum(rows) // rows_per_chunk
    edges = [0, *(np.flatnonzero(np.diff(chunk_of)) + 1).tolist(), len(rows)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


# ------------------------------------------------------------------ writing


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    con.register("_demo_frame", frame)
    try:
        con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM _demo_frame')  # noqa: S608 (our own names)
    finally:
        con.unregister("_demo_frame")


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now().replace(second=0, microsecond=0)
    if now.tzinfo is not None:  # the store keeps naive local times
        return now.astimezone().replace(tzinfo=None)
    return now


def generate(store: Store, scale: str = "S", seed: int = 42, now: datetime | None = None,
             replace: bool = False, history: bool = True) -> dict[str, int]:
    """Fill the store with a synthetic sales org whose history ends at `now`; returns row counts per table.
    `history=False` leaves out the Phase 2 history (templates, tasks, emails: flashdash.demo_history).

    Same (scale, seed, now) gives identical tables. Everything is written in one unit of work: if anything
    fails, the store is left as it was.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown demo scale {scale!r}; choose one of {', '.join(SCALES)}")
    if seed < 0:
        raise ValueError(f"the seed must be a non-negative integer, not {seed}")
    sc = SCALES[scale]
    now = _now(now)
    now_s = to_seconds(now)
    today = now_s // DAY
    clock = time.perf_counter()
    store.ensure_schema()

    org = _org(_rng(seed, 1), sc, today)
    leads = _leads(_rng(seed, 2), sc, org, now_s)
    funnel = _funnel(_rng(seed, 3), leads, org, now_s)
    lead_frame = leads.frame.with_columns(
        first_response_at=_datetimes(funnel.response, funnel.touched & (funnel.response <= now_s)),
        status=_strings(LEAD_STATUSES, funnel.status),
        status_changed_at=_datetimes(funnel.status_t),
    )
    leads.frame = lead_frame
    changes = _stage_changes(leads, funnel, org, now_s)
    opps = _opportunities(_rng(seed, 4), leads, funnel, now_s)
    customers = _customers(_rng(seed, 5), leads, funnel, now_s)
    reps = _with_quotas(org.frames["reps"], _rng(seed, 8), org, opps, now)
    reps, rep_territories, routing = _routing(_rng(seed, 9), org, reps, leads, funnel)
    leads.frame = leads.frame.with_columns(**routing)
    log.info("demo %s: org, leads and funnel built in %.1f s", scale, time.perf_counter() - clock)

    counts: dict[str, int] = {}
    with store.write() as con:
        (existing,) = con.execute("SELECT count(*) FROM leads").fetchone()
        if existing and not replace:
            raise ValueError(
                f"The store at {store.path} already has {existing} leads. Pass replace=True "
                "(`--replace` on the command line) to delete the demo tables and generate again."
            )
        for table in DEMO_TABLES:
            con.execute(f'DELETE FROM "{table}"')  # noqa: S608
        sealed = pii.lead_frame(store.keyring, leads.frame)  # contact fields are stored sealed
        frames = {**org.frames, "reps": reps, "rep_territories": rep_territories, "leads": sealed,
                  "lead_stage_changes": changes, "opportunities": opps, "customers": customers.frame}
        for table, frame in frames.items():
            _insert(con, table, frame)
            counts[table] = frame.height
        # at L these frames are a few hundred MB that the activities and usage chunks can use instead
        del frames, lead_frame, changes, opps, sealed
        leads.frame = customers.frame = pl.DataFrame()

        scale_factor = _activity_scale(funnel, leads)
        next_id = 1
        for chunk, lo in enumerate(range(0, leads.n, sc.lead_chunk)):
            frame = _activities(seed, chunk, lo, min(lo + sc.lead_chunk, leads.n), leads, funnel, org, now_s,
                                scale_factor)
            _insert(con, "activities", frame.with_columns(id=_ids(frame.height, next_id)))
            next_id += frame.height
        counts["activities"] = next_id - 1

        counts.update(demo_revenue.add(store, con, now, seed))
        if history:
            counts.update(demo_history.add(store, con, now, seed))

        counts["customer_usage"] = 0
        for chunk, (lo, hi) in enumerate(_usage_chunks(customers, today, sc.usage_chunk_rows)):
            frame = _usage(seed, chunk, customers, lo, hi, now_s)
            _insert(con, "customer_usage", frame)
            counts["customer_usage"] += frame.height

        for table in DEMO_TABLES:
            if table not in ("customer_usage", "rep_territories", *demo_history.TABLES):  # keyed by what they join, not by a sequence
                store.advance_sequence(con, table)
        for key, value in (("demo_scale", scale), ("demo_seed", str(seed)), ("demo_as_of", now.isoformat())):
            con.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", [key, value])
    log.info("demo %s: %s rows written in %.1f s", scale, sum(counts.values()), time.perf_counter() - clock)
    return {t: counts[t] for t in reversed(DEMO_TABLES) if t in counts}
