"""Superset configuration for growthflow's BI server.

Everything that differs between machines comes from the environment that
`bin/growthflow bi up` (growthflow_tools.bi) or the compose `bi` profile sets:
the metadata database URL, the secret key and the port. Nothing here is a secret.
"""

import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
# Superset's own metadata (users, dashboards, charts) lives in PostgreSQL, in a database
# and role of its own, never in SQLite.
SQLALCHEMY_DATABASE_URI = os.environ["SUPERSET_DATABASE_URL"]
SQLALCHEMY_TRACK_MODIFICATIONS = False

# A local, single-node server on http://127.0.0.1: no CDN, no HTTPS redirect, no telemetry.
# Behind TLS in a deployment, turn Talisman on with a content security policy
# (Superset logs a warning at start while it is off).
TALISMAN_ENABLED = os.environ.get("SUPERSET_TALISMAN_ENABLED", "false").lower() == "true"
ENABLE_PROXY_FIX = False
SCARF_ANALYTICS = False
RATELIMIT_ENABLED = False
WTF_CSRF_ENABLED = True
# Superset's API takes a bearer token; scripts (asset import, tests) log in through it.
WTF_CSRF_EXEMPT_LIST = ["superset.views.core.log", "superset.charts.data.api.data"]

FEATURE_FLAGS = {
    "DASHBOARD_NATIVE_FILTERS": True,
    "DASHBOARD_CROSS_FILTERS": True,
    "ALERT_REPORTS": False,
    "THUMBNAILS": False,
    "ENABLE_TEMPLATE_PROCESSING": False,
}

# Dashboards query the warehouse's marts on every view (the marts are small): no cache
# to go stale after a nightly build.
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}

# CSV export of table charts, without a row cap below the marts' size.
CSV_EXPORT = {"encoding": "utf-8"}
ROW_LIMIT = 50000
SQL_MAX_ROW = 100000

# Dates and numbers the way the growth team reads them (Asia/Seoul business days are in the marts).
DEFAULT_FEATURE_FLAGS_LOCALE = "en"
BABEL_DEFAULT_LOCALE = "en"
LANGUAGES = {}

SUPERSET_WEBSERVER_PORT = int(os.environ.get("SUPERSET_PORT", "8088"))
SUPERSET_WEBSERVER_TIMEOUT = 120
SQLLAB_TIMEOUT = 120
