"""Reading the export's ``COPY (SELECT ...) TO STDOUT`` in blocks of rows.

PostgreSQL sends a COPY's output as one message per row. psycopg's ``Copy`` hands them out
one per ``read()``, each through its generator and wait machinery: at 200 k rows that was
half the app's CPU of an export (0.12 of 0.23 s for the bare COPY of the bench's columns).
Here the rows libpq has already received are taken by a plain loop of non-blocking
``PQgetCopyData`` calls; only when its buffer is empty does psycopg's own ``read()`` wait
for the socket (and, if the data ends there, fetch and check the COPY's result itself).
"""

from __future__ import annotations

import select
from collections.abc import Generator, Sequence
from typing import Any

from psycopg import Cursor, pq
from psycopg.errors import error_from_result

# A JSON row leaves the COPY as its cells' JSON texts joined by DELIMITER (see
# export_sql.COPY_JSON: no JSON text holds that byte, so no cell is ever quoted).
_JSON_DELIMITER = b"\x02"


def copy_blocks(
    cursor: Cursor[Any], sql: str, params: Sequence[Any], rows_per_block: int
) -> Generator[bytes, None, None]:
    """The rows of ``COPY ... TO STDOUT`` (each ending in a newline), joined
    ``rows_per_block`` at a time, in the order PostgreSQL sends them.

    Closing the iterator early (a client gone mid-download) leaves psycopg's ``Copy``
    block by an exception, which cancels the COPY and drains it as before.
    """
    with cursor.copy(sql, params) as copy:
        pgconn = cursor.connection.pgconn
        get = pgconn.get_copy_data
        batch: list[Any] = []
        while True:
            nbytes, received = get(1)  # async: never waits, 0 = nothing received yet
            data: Any = received
            if nbytes == 0:
                data = copy.read()  # psycopg waits for the socket; b"" once finished
                if not data:
                    break
            elif nbytes < 0:  # -1: the data ended (-2 raises in psycopg)
                _finish(cursor)
                break
            batch.append(data)
            if len(batch) >= rows_per_block:
                yield b"".join(batch)
                batch = []
        if batch:
            yield b"".join(batch)


def _finish(cursor: Cursor[Any]) -> None:
    """Fetch the results that follow the data (as psycopg's reader does after it sees the
    end), waiting on the socket rather than inside libpq, and raise a failed COPY's error."""
    pgconn = cursor.connection.pgconn
    results = []
    while True:
        while pgconn.is_busy():
            select.select([pgconn.socket], [], [])
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:
            break
        results.append(result)
    for result in results:  # all fetched first: the connection is idle again
        if result.status != pq.ExecStatus.COMMAND_OK:
            raise error_from_result(result, encoding=cursor.connection.info.encoding)


def json_body(block: bytes) -> bytes:
    """COPY rows of delimited JSON cells as JSON arrays separated by commas (no newline):
    ``a\\x02b\\n c\\x02d\\n`` -> ``[a, b],[c, d]`` (the separators of ``json.dumps``)."""
    rows = block[:-1].replace(_JSON_DELIMITER, b", ").replace(b"\n", b"],[")
    return b"[" + rows + b"]"
