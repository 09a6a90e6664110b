"""Settings for the test suite: the real settings with a throwaway key and fast hashing."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-used-anywhere-else-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")

# A developer's .env (./bin/demo) never changes what the tests see; tests that need one name it.
os.environ.setdefault("EXPONEA_PII_ENV_FILE", "")
from .settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Test data lives in a transaction the access log's background writer cannot see.
PERSONAL_DATA_ACCESS_LOG_ASYNC = False
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
WHITENOISE_USE_FINDERS = True
AXES_ENABLED = os.environ.get("AXES_ENABLED", "1") == "1"
# The live test server speaks plain HTTP; production keeps these on (see settings.py).
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
# Each test process appends anonymizations to a ledger of its own (created on first write).
ERASURE_LEDGER_DIR = os.environ.get("ERASURE_LEDGER_DIR") or os.path.join(
    tempfile.gettempdir(), f"exponea-pii-erasure-ledger-{os.getpid()}"
)
# Background jobs run in-process in tests unless a test starts a real worker itself.
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CELERY_TASK_ALWAYS_EAGER", "1") == "1"
if CACHES["default"]["BACKEND"].endswith("RedisCache"):  # noqa: F405
    CACHES["default"]["KEY_PREFIX"] = f"test-{os.getpid()}"  # noqa: F405
