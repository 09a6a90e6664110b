"""The first hour of a new user: after ``./bin/demo`` every ``manage.py`` command works from
the same shell, with nothing exported; the environment wins over the ``.env``; a production
start without ``SECRET_KEY`` is one clear line, not a traceback.

Every run uses a temporary ``.env`` (``EXPONEA_PII_ENV_FILE``) and the SQLite database the
demo writes beside it, so the checkout is never touched.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# What a new user's shell does not have: no settings module, no DEBUG, no SECRET_KEY.
UNSET = {
    "DJANGO_SETTINGS_MODULE",
    "DEBUG",
    "SECRET_KEY",
    "DATABASE_URL",
    "DATABASE_REPLICA_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "ALLOWED_HOSTS",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "EXPONEA_PII_ENV_FILE",
}


def project_commands() -> list[str]:
    """Every management command the project ships (a new one is checked without editing here)."""
    names = []
    for app in ("access", "customers", "datamanager"):
        folder = ROOT / app / "management" / "commands"
        names += [p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")]
    return sorted(names)


def shell(env_file: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(EXPONEA_PII_ENV_FILE=str(env_file), DEMO_SKIP_INSTALL="1", **extra)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run([PYTHON, "manage.py", *args], env)


def read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs if not k.startswith("#")}


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``./bin/demo --setup-only`` from a bare shell: writes the .env, migrates, seeds."""
    env_file = tmp_path_factory.mktemp("demo") / ".env"
    result = run([str(ROOT / "bin" / "demo"), "--setup-only", "--customers", "3"], shell(env_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Project 'Demo shop' token" in result.stdout
    assert "API key 'Demo full access'" in result.stdout
    return env_file


def test_demo_writes_a_private_env_with_key_debug_and_sqlite(demo_env: Path) -> None:
    values = read_env(demo_env)
    assert values["DEBUG"] == "1"
    assert len(values["SECRET_KEY"]) >= 50 and "insecure" not in values["SECRET_KEY"]
    assert values["DATABASE_URL"] == f"sqlite:///{demo_env.parent / 'db.sqlite3'}"
    assert (demo_env.parent / "db.sqlite3").is_file()
    assert stat.S_IMODE(demo_env.stat().st_mode) == 0o600


def test_every_command_answers_help_after_the_demo(demo_env: Path) -> None:
    env = shell(demo_env)
    listing = manage(env, "help")
    assert listing.returncode == 0, listing.stderr
    commands = project_commands()
    assert {"seed_demo", "create_api_key", "anonymize_customers"} <= set(commands)
    for name in commands:
        assert name in listing.stdout, name
        result = manage(env, name, "--help")
        assert result.returncode == 0, (name, result.stderr)
        assert "usage: manage.py " + name in result.stdout, name


def test_the_demo_database_is_the_one_commands_use(demo_env: Path) -> None:
    result = manage(
        shell(demo_env),
        "shell",
        "-c",
        "from access.models import Project; print(list(Project.objects.values_list('name', flat=True)))",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['Demo shop']"


def test_the_environment_wins_over_the_env_file(demo_env: Path) -> None:
    code = "from django.conf import settings as s; print(s.DEBUG, s.SECRET_KEY)"
    from_file = manage(shell(demo_env), "shell", "-c", code)
    assert from_file.stdout.splitlines()[-1].split() == ["True", read_env(demo_env)["SECRET_KEY"]]
    overridden = manage(
        shell(demo_env, DEBUG="0", SECRET_KEY="k" * 60, ALLOWED_HOSTS="x.test"), "shell", "-c", code
    )
    assert overridden.returncode == 0, overridden.stderr
    assert overridden.stdout.splitlines()[-1].split() == ["False", "k" * 60]


def test_re_running_the_demo_keeps_the_env(demo_env: Path) -> None:
    before = demo_env.read_text()
    result = run([str(ROOT / "bin" / "demo"), "--setup-only", "--customers", "3"], shell(demo_env))
    assert result.returncode == 0, result.stderr
    assert "Kept " + str(demo_env) in result.stderr
    assert demo_env.read_text() == before


@pytest.mark.parametrize(
    "args",
    [
        ["manage.py", "help"],
        ["manage.py", "migrate"],
        ["-c", "import exponea_pii.wsgi"],
    ],
)
def test_production_without_secret_key_is_one_clear_line(tmp_path: Path, args: list[str]) -> None:
    result = run([PYTHON, *args], shell(tmp_path / "absent.env"))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "exponea_pii: SECRET_KEY must be set when DEBUG is off: export SECRET_KEY for "
        "production, or run ./bin/demo to write a development .env."
    ]
