# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""A readers-writer lock for the memory bank: many searches at once, or one change at a time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReadWriteLock:
    """Shared (read) and exclusive (write) sections. Reads may nest in the same thread and in a write; a write waits
    for the reads in progress, and reads wait for a write in progress. Writes may nest in the same thread; a thread
    holding a read must not ask for a write (it would wait for itself)."""

    def __init__(self):
        self._condition = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer: int | None = None  # the thread that holds the write lock
        self._write_depth = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._condition:
            if self._writer != me:  # a writer may read what it is changing
                while self._writer is not None:
                    self._condition.wait()
                self._readers += 1
                counted = True
            else:
                counted = False
        try:
            yield
        finally:
            if counted:
                with self._condition:
                    self._readers -= 1
                    if not self._readers:
                        self._condition.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._condition:
            if self._writer == me:
                self._write_depth += 1
            else:
                while self._writer is not None or self._readers:
                    self._condition.wait()
                self._writer, self._write_depth = me, 1
        try:
            yield
        finally:
            with self._condition:
                self._write_depth -= 1
                if not self._write_depth:
                    self._writer = None
                    self._condition.notify_all()


__all__ = ["ReadWriteLock"]
