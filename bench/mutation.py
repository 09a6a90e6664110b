"""Mutation testing of the masking layer: would the tests notice a subtly broken masking decision?

    .venv/bin/python bench/mutation.py                 # every target below
    .venv/bin/python bench/mutation.py --only masking  # targets whose module contains "masking"

Runs mutmut 3 (the ``dev`` extra) over the functions that decide masked output: the
``Masker`` and the PII catalog, the presenters behind the list, profile and page CSV, the
page CSV export, the API export's audit and rows, and the API readers. mutmut first runs
the selected tests once to learn which test calls which function, then runs each mutant
against only the tests that reach its function, in a forked process.

The working tree is shared, so nothing is mutated in place: the tracked and untracked
(not ignored) files are copied to a scratch directory (``--workdir``, by default under
the system temp dir, removed afterwards unless ``--keep``), mutmut's config is appended to
the copy's ``pyproject.toml`` and its ``mutants/`` directory is made there.

Prints ``killed K of N`` (N counts every mutant except the equivalent ones listed in
:data:`EQUIVALENT`, which are named with the reason), then each survivor with its diff.
A mutant no selected test reaches ("no tests") counts as a survivor; a timeout counts as
killed (mutmut's own rule: the mutant made the tests hang). Exit status 1 if any survived.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Target:
    """A module, the functions of it that make masking decisions, and the tests that guard them."""

    path: str
    functions: tuple[str, ...]  # mutmut's mangled names: "x_func" or "xǁClassǁmethod"; * glob
    tests: tuple[str, ...]
    # Printed with the score: what the score does not show (e.g. a method nothing calls yet).
    note: str = ""
    # The module decides masking in PostgreSQL's SQL too: its tests must run there.
    postgresql: bool = False

    @property
    def module(self) -> str:
        return self.path.removesuffix(".py").replace("/", ".")

    def patterns(self) -> list[str]:
        return [f"{self.module}.{function}__mutmut_*" for function in self.functions]


UNIT = "tests/datamanager/test_masking.py"
EVERY_TYPE = "tests/security/test_canaries_every_type.py"
KILLS = "tests/security/test_mutation_kills.py"
KILLS_READING = "tests/security/test_mutation_kills_reading.py"
KILLS_EXPORT = "tests/security/test_mutation_kills_export.py"

TARGETS = [
    Target(
        "datamanager/masking.py",
        ("xǁMaskerǁ*",),
        # The unit tests decide every Masker mutant; the egress tests (EVERY_TYPE) prove the
        # same on every path but cost a database per mutant, which this machine cannot pay.
        (UNIT, "tests/datamanager/test_masking_reveal.py"),
        note=(
            "Masker.check_event_fields was called by nothing until issue 22's event attribute "
            "conditions (commit 52180aa): the unit test "
            "test_check_event_fields_refuses_a_pii_event_attribute kills its mutants here; "
            "a no-op check_event_fields now also fails tests/customers/test_filter_groups.py "
            "(4 tests, checked by hand). event_value: tracked values call it only for "
            "attributes the principal may see, consent states (consents/selectors.py) for "
            "hidden ones too"
        ),
    ),
    Target(
        "datamanager/catalog.py",
        # Not catalog_lock: a PostgreSQL advisory lock against concurrent flag changes, not
        # a masking decision (the race tests of anonymization guard it on PostgreSQL).
        (
            "xǁPiiCatalogǁ*",
            "x_catalog_load",
            "x_catalog_for_project",
            "x_catalog_invalidate",
            "x__catalog_is_cached",
            "x__cache_key",
            "x__version_key",
            "x__current_version",
        ),
        (
            UNIT,
            "tests/datamanager/test_catalog_cache.py",
            "tests/datamanager/test_catalog_lifetime.py",
        ),
    ),
    Target(
        "customers/presenters.py",
        # Not display_text / cut_text / the JSON text helpers: they format a value already
        # masked (a marker stays the marker's text), they decide no masking.
        (
            "x__cell",
            "x_customer_cell",
            "x_id_cell",
            "x_columns_for",
            "x_customer_rows",
            "x_profile_ids",
            "x_profile_attributes",
            "x_event_items",
            "x_csv_safe",
        ),
        # Exact cells, rows, profile lines and event lines for a masker with and without
        # Personal data, no database: the egress tests (EVERY_TYPE, the page tests) read the
        # same cells through HTML at a database per mutant.
        (KILLS,),
    ),
    Target(
        "customers/services/export_engine.py",
        # Not customers_export (@transaction.atomic: mutmut skips decorated functions; its
        # masking is the column plan) nor the envelope (_header, _json_text, _blocks): they
        # frame cells already decided. copy_statement is the PostgreSQL path's masking, in
        # SQL: this module runs on PostgreSQL, and its test forces the Python path there too.
        ("x_column_plan", "x_copy_statement", "x__python_rows", "x__value", "x__csv_line"),
        (KILLS_EXPORT,),
        postgresql=True,
    ),
    # customers/api/data_views.py yields no mutant: mutmut skips decorated functions and
    # every view's post is @extend_schema; each one only hands Masker.for_principal(...) to
    # reading.* or the export engine (both mutated here) and access_record is the access
    # log's entry, not a masking decision (tests/accountability guards it).
    Target(
        "customers/api/reading.py",
        # Not customer_events: its checks are input validation; its one masking step is
        # _event_out, mutated here.
        (
            "x_customer_find",
            "x_ids_shaped",
            "x__event_out",
            "x_customer_export_one",
            "x_customer_attributes",
        ),
        (KILLS_READING,),
    ),
]

# Mutants that cannot change what any principal receives, by (module, mutated function,
# text of the mutated line after the change): the reason is printed with them.
_FIRST_READ_IS_A_SHORTCUT = (
    "the first read of the version is a shortcut only: when it answers None the function "
    "adds a fresh version (a no-op if one is stored) and reads the version again, so the "
    "stored version comes back all the same"
)
_DUMMY_STORES_NOTHING = (
    "Django's DummyCache stores nothing: taken for a shared cache, every read of it "
    "misses, so catalog_for_project loads the catalog from the database on every call, "
    "exactly as it does when it skips the cache (the 'locmem' half is killed)"
)
_CHUNK_IS_A_BATCH_SIZE = (
    "iterator(chunk_size=...) is how many rows each database round trip fetches (None is "
    "Django's default, 2000): the same events in the same order"
)
_CACHED_TEST = '"locmem" not in backend.lower() and'
_ROW_IS_ITS_COLUMNS = (
    "a row is built from the same columns it is zipped with (_python_rows: one value per "
    "column), so the lengths always agree and strict= never fires"
)
_ALIAS_IS_ALWAYS_GIVEN = (
    "the default alias is never used: the one caller (_pg_lines) passes the read alias"
)
_SQL_IS_CASE_FOLDED = (
    "only the case of SQL keywords or unquoted identifiers changes; PostgreSQL folds both "
    "(c.id is C.ID, FILTER is filter)"
)
_ID_TEXT_IS_THE_SAME = (
    "the internal id as integer or as text gives the same digits: COPY writes an integer "
    "column as its text, and text || integer casts the integer"
)
_ORDER_ONLY_COSTS_A_SORT = (
    "the IDs' subquery is sorted whenever an ID's values are shown, as before; the change "
    "only adds the sort where every ID column is masked (a bool_or, which needs no order)"
)
_COPY = "customers.services.export_engine"
EQUIVALENT: list[tuple[str, str, str, str]] = (
    [
        (_COPY, "x_copy_statement", line, _SQL_IS_CASE_FOLDED)
        for line in (
            'cells.append("C.ID::TEXT" if as_json else "c.id")',
            'cells.append("c.id::text" if as_json else "C.ID")',
            'values = "json_agg(i.value) filter (where i.name = %s)"',
            '" order by f.pk offset 0) c"',
            '" ORDER BY F.PK OFFSET 0) C"',
            'order = " order by customer_id, id" if ordered else ""',
            'order = " ORDER BY CUSTOMER_ID, ID" if ordered else ""',
            '" from (select customer_id, name, value from customers_customerid"',
            '" FROM (SELECT CUSTOMER_ID, NAME, VALUE FROM CUSTOMERS_CUSTOMERID"',
            '" group by i.customer_id) ids on ids.customer_id = c.id"',
            '" GROUP BY I.CUSTOMER_ID) IDS ON IDS.CUSTOMER_ID = C.ID"',
            'sql += " order by c.id"',
            'sql += " ORDER BY C.ID"',
        )
    ]
    + [
        (_COPY, "x_copy_statement", line, _ID_TEXT_IS_THE_SAME)
        for line in (
            'cells.append("c.id::text" if (as_json) and False else "c.id")',
            'cells.append("c.id::text" if (as_json) or True else "c.id")',
        )
    ]
    + [
        (_COPY, "x_copy_statement", line, _ORDER_ONLY_COSTS_A_SORT)
        for line in (
            "ordered = any(c.field.kind is FieldKind.ID or not c.hidden for c in columns)",
            'order = " ORDER BY customer_id, id" if (ordered) or True else ""',
        )
    ]
    + [
        (
            _COPY,
            "x_column_plan",
            'project=project, ).values_list("name", "kind", "hard")',
            "the name filter only narrows which of the project's attributes are read: the "
            "plan looks each field up by name in what was read",
        ),
    ]
    + [
        ("customers.services.export_engine", "x_copy_statement", line, _ALIAS_IS_ALWAYS_GIVEN)
        for line in ('alias: str = "XXdefaultXX",', 'alias: str = "DEFAULT",')
    ]
    + [
        (
            "customers.services.export_engine",
            "x_copy_statement",
            'null = "\'null\'" if as_json else "null"',
            "SQL keywords are case-insensitive: null is NULL",
        ),
    ]
    + [
        ("customers.services.export_engine", "x__csv_line", line, _ROW_IS_ITS_COLUMNS)
        for line in (
            "for value, column in zip(row, columns, strict=None):",
            "for value, column in zip(row, columns, ):",
            "for value, column in zip(row, columns, strict=False):",
        )
    ]
    + [
        (
            "customers.api.reading",
            "x_customer_export_one",
            '.order_by("timestamp", )',
            "not observable on SQLite: events of one timestamp come by id without the "
            "tiebreak too (the query reads the (customer, timestamp, id) index); the id makes "
            "the order a guarantee on any plan, and no masking depends on it",
        ),
        (
            "customers.api.reading",
            "x_customer_export_one",
            '"events": [_event_out(masker, e) for e in events.iterator(chunk_size=None)],',
            _CHUNK_IS_A_BATCH_SIZE,
        ),
        (
            "customers.api.reading",
            "x_customer_export_one",
            '"events": [_event_out(masker, e) for e in events.iterator(chunk_size=2001)],',
            _CHUNK_IS_A_BATCH_SIZE,
        ),
        ("datamanager.catalog", "x__current_version", "version = None", _FIRST_READ_IS_A_SHORTCUT),
        (
            "datamanager.catalog",
            "x__current_version",
            "version = cache.get(None)",
            _FIRST_READ_IS_A_SHORTCUT,
        ),
    ]
    + [
        (
            "datamanager.catalog",
            "x__catalog_is_cached",
            f"return {_CACHED_TEST} {rest}",
            _DUMMY_STORES_NOTHING,
        )
        for rest in (
            '"XXdummyXX" not in backend.lower()',
            '"DUMMY" not in backend.lower()',
            '"dummy" not in backend.upper()',
        )
    ]
)

STATUS_BY_EXIT_CODE = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    24: "timeout",
    -24: "timeout",
    152: "timeout",
    255: "timeout",
}


def scratch_copy(workdir: Path, *, head: bool, overlay: list[str]) -> None:
    """The working tree as it is now (committed or not), minus ignored files.

    With ``head``: the last commit instead, plus the ``overlay`` files as they are in the
    working tree (another engineer's half-done change elsewhere cannot break the run).
    """
    if head:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", "HEAD"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(workdir)], input=archive, check=True)
        for rel in overlay:
            dst = workdir / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dst)
        return
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = raw.decode()
        src = ROOT / rel
        if not src.is_file():
            continue  # deleted in the working tree
        dst = workdir / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def write_config(workdir: Path, targets: list[Target], *, postgresql: bool) -> None:
    packages = sorted(
        p.name for p in workdir.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    )
    extra = sorted(
        p.name
        for p in workdir.iterdir()
        if p.name not in packages and p.name not in {"tests", "mutants"} and p.name != ".git"
    )
    tests = sorted({t for target in targets for t in target.tests if (workdir / t).exists()})
    config = {
        "source_paths": [f"{p}/" for p in packages],
        "only_mutate": sorted({target.path for target in targets}),
        "also_copy": [f"{p}/" if (workdir / p).is_dir() else p for p in extra],
        "pytest_add_cli_args_test_selection": tests,
        # -x: a killed mutant stops at its first failing test.
        # --nomigrations: each mutant's pytest session builds its own in-memory SQLite
        # database, and migrating it cost 2-20 s per mutant on the loaded machine; the
        # migrations add only PostgreSQL indexes and grants to roles that already exist,
        # neither of which a fresh SQLite test database has or needs.
        "pytest_add_cli_args": [
            "-x",
            "-p",
            "no:cacheprovider",
            "-m",
            "not browser",
            "--nomigrations",
            # PostgreSQL: one test database made before the run (make_test_database) and
            # reused by every mutant, one mutant at a time.
            *(["--reuse-db"] if postgresql else []),
        ],
        "use_git_change_detection": False,
        # A busy machine makes a slow test look hung; a timeout must mean a real hang.
        "timeout_multiplier": 40.0,
        "timeout_constant": 20.0,
    }
    lines = ["", "[tool.mutmut]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in config.items()]
    with (workdir / "pyproject.toml").open("a") as fh:
        fh.write("\n".join(lines) + "\n")


def test_env(database_url: str | None) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "exponea_pii.test_settings"}
    env.pop("DATABASE_URL", None)  # in-memory SQLite: mutants run in parallel
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def make_test_database(workdir: Path, targets: list[Target], database_url: str) -> None:
    """Create the PostgreSQL test database the mutants reuse, with the tests passing on it."""
    tests = sorted({t for target in targets for t in target.tests})
    options = ["-q", "-x", "-p", "no:cacheprovider", "--create-db", "--nomigrations"]
    subprocess.run(
        [sys.executable, "-m", "pytest", *options, *tests],
        cwd=workdir,
        env=test_env(database_url),
        check=True,
    )


def mutmut(workdir: Path, *args: str, capture: bool = True, database_url: str | None = None) -> str:
    env = test_env(database_url)
    result = subprocess.run(
        [sys.executable, "-m", "mutmut", *args],
        cwd=workdir,
        env=env,
        check=False,
        text=True,
        capture_output=capture,
    )
    return result.stdout if capture else ""


def statuses(workdir: Path, targets: list[Target]) -> dict[str, str]:
    patterns = [p for target in targets for p in target.patterns()]
    out: dict[str, str] = {}
    for target in targets:
        meta = workdir / "mutants" / (target.path + ".meta")
        if not meta.exists():
            continue
        data = json.loads(meta.read_text())
        for name, code in data.get("exit_code_by_key", {}).items():
            if any(fnmatch.fnmatchcase(name, p) for p in patterns):
                out[name] = STATUS_BY_EXIT_CODE.get(code, "suspicious" if code else "not checked")
    return out


def diff_of(workdir: Path, name: str) -> str:
    text = mutmut(workdir, "show", name)
    return "\n".join(line for line in text.splitlines() if re.match(r"^[-+] ", line))


def equivalent_reason(name: str, diff: str) -> str | None:
    added = [line[2:].strip() for line in diff.splitlines() if line.startswith("+ ")]
    for module, function, text, reason in EQUIVALENT:
        if name.startswith(f"{module}.{function}__mutmut_") and any(text == a for a in added):
            return reason
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run only targets whose path contains this text")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--max-children", type=int, default=2, help="mutants run at once")
    parser.add_argument(
        "--head", action="store_true", help="mutate the last commit, not the working tree"
    )
    parser.add_argument(
        "--overlay",
        action="append",
        default=[],
        metavar="PATH",
        help="with --head: take this file from the working tree (repeatable)",
    )
    parser.add_argument(
        "--summary-only",
        action="store_true",
        help="with --workdir of a kept run: classify and print its results again, no run "
        "(after adding an equivalent mutant)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("MUTATION_DATABASE_URL"),
        help="PostgreSQL for the targets that need it (default: $MUTATION_DATABASE_URL); "
        "e.g. postgres://root@127.0.0.1:5432/h8 (its test_ database is made and reused)",
    )
    args = parser.parse_args()
    if args.summary_only and not args.workdir:
        parser.error("--summary-only needs the --workdir of a kept run")

    targets = [t for t in TARGETS if not args.only or args.only in t.path]
    if not targets:
        parser.error(f"no target path contains {args.only!r}")
    postgresql = any(t.postgresql for t in targets)
    if postgresql and not args.summary_only:
        if len(targets) > 1:
            parser.error("run the PostgreSQL target on its own: --only export")
        if not args.database_url:
            parser.error("--only export needs --database-url (or MUTATION_DATABASE_URL)")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="exponea-mutation-"))
    if not args.summary_only and workdir.exists() and any(workdir.iterdir()):
        sys.exit(f"{workdir} is not empty")
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        if not args.summary_only:
            scratch_copy(workdir, head=args.head, overlay=args.overlay)
            write_config(workdir, targets, postgresql=postgresql)
            patterns = [p for target in targets for p in target.patterns()]
            where = "PostgreSQL" if postgresql else "SQLite"
            print(f"mutating {', '.join(t.path for t in targets)} in {workdir} ({where})")
            sys.stdout.flush()
            children = "1" if postgresql else str(args.max_children)
            database_url = args.database_url if postgresql else None
            if database_url:
                make_test_database(workdir, targets, database_url)
            mutmut(
                workdir,
                "run",
                "--max-children",
                children,
                *patterns,
                capture=False,
                database_url=database_url,
            )
        found = statuses(workdir, targets)
        equivalent: dict[str, tuple[str, str]] = {}
        survivors: dict[str, tuple[str, str]] = {}
        killed = timeouts = 0
        for name, status in sorted(found.items()):
            if status in ("killed", "timeout"):
                killed += 1
                timeouts += status == "timeout"
                continue
            diff = diff_of(workdir, name)
            reason = equivalent_reason(name, diff)
            if reason is not None:
                equivalent[name] = (reason, diff)
            else:
                survivors[name] = (status, diff)
        elapsed = time.monotonic() - started
        counted = len(found) - len(equivalent)
        took = "summary of a kept run" if args.summary_only else f"{elapsed / 60:.1f} min"
        print()
        print(
            f"killed {killed} of {counted}  ({timeouts} of them by timeout, "
            f"{len(equivalent)} equivalent excluded, {took})"
        )
        for target in targets:
            if target.note:
                print(f"note on {target.path}: {target.note}")
        for name, (reason, diff) in equivalent.items():
            print(f"\nequivalent {name}: {reason}\n{diff}")
        for name, (status, diff) in survivors.items():
            print(f"\n{status.upper()} {name}\n{diff}")
        return 1 if survivors else 0
    finally:
        if not args.keep and not args.summary_only:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
