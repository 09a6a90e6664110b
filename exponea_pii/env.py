"""The project's ``.env`` file: where it is, reading it (python-dotenv), writing the demo's.

``./bin/demo`` writes ``.env`` beside the project (a generated ``SECRET_KEY``, ``DEBUG=1``, the
SQLite URL), so every ``manage.py`` command works from the same shell afterwards without
exporting anything. The settings read the file first and never override a variable that is
already in the environment: the environment wins over the file.

``EXPONEA_PII_ENV_FILE`` names another file; set to the empty string, no file is read (the
test settings do that, so a developer's ``.env`` never changes what the tests see).

This module imports nothing from Django's settings: ``manage.py``, ``wsgi.py`` and
``bin/demo`` use it before (or instead of) configuring Django.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
ENV_FILE_VAR = "EXPONEA_PII_ENV_FILE"


class MissingSetting(ImproperlyConfigured):
    """A required setting is absent. ``manage.py`` and ``wsgi.py`` print the message as one
    line and exit non-zero instead of showing a traceback."""


def env_file_path() -> Path | None:
    value = os.environ.get(ENV_FILE_VAR)
    if value is None:
        return BASE_DIR / ".env"
    return Path(value).expanduser().resolve() if value else None


def load_env_file() -> Path | None:
    """Read the ``.env`` file into ``os.environ`` without overriding what is already set."""
    path = env_file_path()
    if path is None or not path.is_file():
        return None
    load_dotenv(path, override=False)
    return path


def demo_env_text(folder: Path) -> str:
    database = folder / "db.sqlite3"
    return (
        "# Written by ./bin/demo for development; never commit it (it is git-ignored).\n"
        "# Variables set in the environment win over these lines.\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        "DEBUG=1\n"
        f"DATABASE_URL=sqlite:///{database}\n"
    )


def write_demo_env_file() -> tuple[Path, bool]:
    """Create the demo's ``.env`` unless one exists (a kept file keeps its ``SECRET_KEY``, so
    sessions survive a re-run). Returns the path and whether it was written now."""
    path = env_file_path()
    if path is None:
        raise MissingSetting(f"{ENV_FILE_VAR} is empty: there is no .env file to write.")
    if path.exists():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    # Owner-only from the first byte: the file holds the secret key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(demo_env_text(path.parent))
    return path, True


def exit_on_missing_setting(start: Callable[[], Any], exit_code: int = 1) -> Any:
    """Run ``start``; a :class:`MissingSetting` becomes one line on stderr and ``exit_code``."""
    try:
        return start()
    except MissingSetting as exc:
        print(f"exponea_pii: {exc}", file=sys.stderr)
        raise SystemExit(exit_code) from None


def main(argv: list[str]) -> int:
    if argv != ["write-demo"]:
        print("usage: python -m exponea_pii.env write-demo", file=sys.stderr)
        return 2
    path, written = exit_on_missing_setting(write_demo_env_file)
    print(f"{'Wrote' if written else 'Kept'} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
