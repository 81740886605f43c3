"""Helpers for tests that race real database transactions against each other (PostgreSQL)."""

import threading

from django.db import connection


def run_at_once(count: int, work) -> list:
    """Run work() in `count` threads released together; each thread uses (and closes) its own connection."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(index: int):
        try:
            barrier.wait()
            results[index] = work()
        except Exception as error:  # collected and asserted on by the test
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
