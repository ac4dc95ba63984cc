"""Test settings: the real settings, with fast hashing, in-process tasks and the project's own databases.

Tests run on PostgreSQL (our constraints, locks and trigram search live there). Outside CI a machine
without PostgreSQL falls back to SQLite, and tests marked `postgres` are skipped with a message.
"""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")
# The test run uses its own Redis database number; Redis-backed tests opt in through TEST_REDIS_URL.
os.environ.pop("REDIS_URL", None)
# One database: tests of the replica router set it up themselves (tests/registry/test_db_router.py).
os.environ.pop("REPLICA_DATABASE_URL", None)
# Tests decide DEBUG themselves; the embedded demo's development keys would hide a refused one.
os.environ.pop("DJANGO_EMBEDDED_DEMO", None)

from .settings import *  # noqa: F403
from .settings import DATABASES, bound_by_server, env

TEST_DATABASE_URL = env("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/carbon_registry")
TEST_REDIS_URL = env("TEST_REDIS_URL", "redis://127.0.0.1:6379/11")


def _postgres_reachable(url: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(url.replace("postgres://", "postgresql://", 1), connect_timeout=2):
            return True
    except Exception:
        return False


if _postgres_reachable(TEST_DATABASE_URL.rsplit("/", 1)[0] + "/postgres"):
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(TEST_DATABASE_URL)}
    # A second checkout or a parallel run on the same machine names its own test database.
    DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", "test_carbon_registry")}
    bound_by_server(DATABASES["default"])  # as production's connections: bound by the server, prepared
else:
    DATABASES["default"] = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
RUN_PERIODIC_IN_PROCESS = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Django's test runner turns DEBUG off, which refuses the development checkpoint key: tests sign with this
# fixed one (base64 of 32 bytes), and override it to test a missing key.
CHECKPOINT_SIGNING_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
