
# --- parity's reference overlay ---------------------------------------------------------------
# The database comes from DATABASE_URL, as on every host that provides one (SQLite where none is
# set); Django picks psycopg 3 for PostgreSQL.
import os

import dj_database_url

DATABASES = {
    "default": dj_database_url.config(
        default="sqlite:///" + os.path.join(BASE_DIR, "db.sqlite3"), conn_max_age=600),
}

INSTALLED_APPS += ["articles", "wagtail.api.v2", "rest_framework"]
