"""The export's COPY reader (customers/services/export_copy.py): the same bytes as psycopg's
own row-by-row reading, in blocks; a COPY failing mid-stream raises its error and leaves
the connection usable; JSON rows framed from their delimited cells."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from django.db import connection, transaction

from customers.services.export_copy import copy_blocks, json_body

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the COPY reader is PostgreSQL's path"
)

# Rows of varying width (some longer than a network packet), enough that libpq's buffer
# runs dry several times (psycopg then waits) and the end arrives with the last rows.
ROWS = 5000
COPY_ROWS = (
    "COPY (SELECT g, repeat(chr(97 + g %% 26), (g * 37) %% 3000) FROM generate_series(1, %s) g)"
    " TO STDOUT WITH (FORMAT csv)"
)


def psycopg_rows(cursor: Any) -> bytes:
    with cursor.copy(COPY_ROWS, [ROWS]) as copy:
        return b"".join(bytes(row) for row in copy)


@postgres_only
@pytest.mark.django_db
@pytest.mark.parametrize("rows_per_block", [1, 7, 500, ROWS + 1])
def test_blocks_hold_the_same_bytes_as_psycopgs_rows(rows_per_block: int) -> None:
    connection.ensure_connection()
    with connection.cursor() as cursor:
        expected = psycopg_rows(cursor.cursor)
        blocks = list(copy_blocks(cursor.cursor, COPY_ROWS, [ROWS], rows_per_block))
        assert b"".join(blocks) == expected
        assert expected.count(b"\n") == ROWS
        # Every block but the last is full, and ends at a row's end.
        assert [b.count(b"\n") for b in blocks[:-1]] == [rows_per_block] * (len(blocks) - 1)
        assert all(b.endswith(b"\n") for b in blocks)
        cursor.execute("SELECT 1")  # the COPY's result was fetched: the connection is idle
        assert cursor.fetchone() == (1,)


@postgres_only
@pytest.mark.django_db
def test_a_copy_failing_mid_stream_raises_its_error_and_the_connection_recovers() -> None:
    failing = (
        "COPY (SELECT g, 1 / (g - %s) FROM generate_series(1, 20000) g) TO STDOUT WITH (FORMAT csv)"
    )
    connection.ensure_connection()
    with connection.cursor() as cursor:
        with pytest.raises(psycopg.errors.DivisionByZero), transaction.atomic():
            for _ in copy_blocks(cursor.cursor, failing, [15000], 100):
                pass
        cursor.execute("SELECT 2")
        assert cursor.fetchone() == (2,)


@postgres_only
@pytest.mark.django_db(transaction=True)  # as when streaming: a cancel ends the transaction
def test_a_reader_closed_early_cancels_the_copy() -> None:
    connection.ensure_connection()
    with connection.cursor() as cursor:
        blocks = copy_blocks(cursor.cursor, COPY_ROWS, [ROWS], 10)
        assert next(blocks).count(b"\n") == 10
        blocks.close()
        cursor.execute("SELECT 3")
        assert cursor.fetchone() == (3,)


def test_json_rows_are_framed_from_delimited_cells() -> None:
    block = b'1\x02"a, b"\x02null\n[2, 3]\x02{"k": "\\n"}\x02true\n'
    assert json_body(block) == b'[1, "a, b", null],[[2, 3], {"k": "\\n"}, true]'
    assert json_body(b"7\n") == b"[7]"
