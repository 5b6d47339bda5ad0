"""Durability as a pyarrow client sees it: acknowledged writes survive kill -9 and SIGTERM,
with and without a snapshot in between."""
from __future__ import annotations

import json
import signal
import threading

import pyarrow.flight as flight

from support import action, get, names, put_acked, simple_batch


def ids(table) -> list[int]:
    return sorted(table.column("id").to_pylist())


def test_put_snapshot_put_kill9_restart_reads_everything(server_factory):
    first = server_factory(label="kill9-1", env={"LONGBOW_SNAPSHOT_INTERVAL": "0"})
    with first.client() as connection:
        put_acked(connection, "durable", [simple_batch(100, start=0), simple_batch(100, start=100)])
        put_acked(connection, "other", [simple_batch(5, start=0)])
        reply = action(connection, "force_snapshot")[0]
        assert reply["status"] == "ok" and reply["message"] == "snapshot created"
        assert reply["rows"] == 205 and reply["datasets"] == 2 and reply["bytes"] > 0
        put_acked(connection, "durable", [simple_batch(50, start=200)])
        put_acked(connection, "late", [simple_batch(7, start=0)])
        action(connection, "drop_dataset", "other")
    assert first.kill() == -signal.SIGKILL
    second = server_factory(label="kill9-2", data_dir=first.data_dir)
    with second.client() as connection:
        assert names(connection) == ["durable", "late"]
        assert ids(get(connection, "durable")) == list(range(250))
        assert ids(get(connection, "late")) == list(range(7))
        expected = get(connection, "durable")
        assert expected.num_rows == 250
        # the vectors come back bit for bit
        original = simple_batch(100, start=100).column("vector").to_pylist()
        by_id = dict(zip(expected.column("id").to_pylist(), expected.column("vector").to_pylist()))
        assert [by_id[i] for i in range(100, 200)] == original


def test_sigterm_during_writes_exits_0_and_keeps_every_acknowledged_batch(server_factory):
    first = server_factory(label="sigterm-1")
    acked: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(worker: int) -> None:
        with first.client() as connection:
            k = 0
            while not stop.is_set():
                start = (worker * 100_000 + k) * 10
                try:
                    put_acked(connection, "term", [simple_batch(10, start=start)])
                except flight.FlightError:
                    return
                except (OSError, AssertionError):
                    return  # the server went away mid-call: this batch was not acknowledged
                with lock:
                    acked.append(start)
                k += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    while True:
        with lock:
            if len(acked) >= 20:
                break
        threading.Event().wait(0.01)
    assert first.stop() == 0, "SIGTERM with writes in flight must exit 0"
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    second = server_factory(label="sigterm-2", data_dir=first.data_dir)
    with second.client() as connection:
        got = ids(get(connection, "term"))
        present = set(got)
        assert len(got) == len(present), "no row twice"
        for start in acked:
            assert set(range(start, start + 10)) <= present, f"acknowledged batch {start} lost"
        for start in {value - value % 10 for value in present}:
            assert set(range(start, start + 10)) <= present, f"batch {start} is partial"
