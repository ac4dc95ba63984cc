"""Settings of the public-pages load benchmark (bench/public_load.py): production-like, served over
plain HTTP on the loopback by gunicorn. CACHES stay as configured (local memory unless REDIS_URL)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls_public"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = LANGUAGE_COOKIE_SECURE = False
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
