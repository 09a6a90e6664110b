"""The access log's background writer: page views hand their entry over and move on.

With ``PERSONAL_DATA_ACCESS_LOG_ASYNC`` on (production settings), an entry written outside
a transaction is put on an in-process queue; one daemon thread per process takes whatever
has queued up (up to :data:`BATCH` entries) and inserts it with one ``bulk_create`` in
its own connection, committing without waiting for the WAL flush on PostgreSQL. The page
does not wait for the database at all (docs/benchmarks.md: one round trip under load was
most of the log's cost).

What it costs: an entry reaches the table a few milliseconds after the page was sent,
and a process killed hard (SIGKILL, power loss) loses what was still queued; a normal
exit drains the queue (``atexit``). A batch the database refuses is logged by count (an
entry holds no values) and dropped. Sealing waits five minutes before covering entries
(``trail.SETTLE``), far longer than the queue ever holds one.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading

from django.db import close_old_connections, connection, transaction

from .models import PersonalDataAccess

logger = logging.getLogger(__name__)

BATCH = 500
_STOP = object()  # queued by stop(): the thread closes its connection and ends


class AccessLogWriter:
    """One queue and one daemon thread per process (restarted after a fork)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def put(self, entry: PersonalDataAccess) -> None:
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            self._start()
        self._queue.put(entry)

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            if self._pid != os.getpid():
                self._queue = queue.Queue()  # a forked child does not inherit the parent's
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="access-log-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        stop = False
        while not stop:
            taken = [self._queue.get()]
            while len(taken) < BATCH and taken[-1] is not _STOP:
                try:
                    taken.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = taken[-1] is _STOP
            batch = [e for e in taken if isinstance(e, PersonalDataAccess)]
            try:
                if batch:
                    self._write(batch)
            finally:
                if stop:
                    connection.close()
                for _ in taken:
                    self._queue.task_done()

    @staticmethod
    def _write(batch: list[PersonalDataAccess]) -> None:
        close_old_connections()
        try:
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute("SET LOCAL synchronous_commit TO OFF")
                PersonalDataAccess.objects.bulk_create(batch)
        except Exception:
            # Names and ids only in an entry, but say no more than the count.
            logger.exception("Personal-data access log: a batch of %d entries was lost", len(batch))
            connection.close()

    def flush(self) -> None:
        """Wait until every queued entry is written (tests, benchmarks)."""
        if self._running():
            self._queue.join()

    def stop(self) -> None:
        """Write what is queued, close the thread's connection and end it (process exit,
        and before a test database is dropped). The next entry starts a new thread."""
        thread = self._thread
        if thread is not None and self._running():
            self._queue.put(_STOP)
            thread.join()
        self._thread = None

    def _running(self) -> bool:
        return self._thread is not None and self._pid == os.getpid() and self._thread.is_alive()


access_log_writer = AccessLogWriter()
atexit.register(access_log_writer.stop)


def access_log_flush() -> None:
    """Block until the background writer has written everything queued so far."""
    access_log_writer.flush()


def access_log_writer_stop() -> None:
    """Drain the queue and close the writer's database connection."""
    access_log_writer.stop()
