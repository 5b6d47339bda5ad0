"""Durability as a pyarrow client sees it: acknowledged writes survive kill -9 and SIGTERM,
with and without a snapshot in between."""
from __future__ import annotations

import json
import signal
import threading
import urllib.request

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


def metric(server, name: str) -> float:
    """A counter's value from /metrics (the address comes from the 'Longbow listening' log line)."""
    address = next(str(record["metrics_addr"]) for record in server.log_records() if record.get("msg") == "Longbow listening")
    text = urllib.request.urlopen(f"http://{address}/metrics", timeout=10).read().decode()
    return float(next(line.split()[1] for line in text.splitlines() if line.startswith(name + " ")))


def test_large_batches_logged_while_they_arrive_survive_kill9(server_factory):
    """pyarrow sends a whole batch as one message: batches over LONGBOW_WAL_STREAM_SIZE are
    written to the log while they arrive (put regions); after kill -9 every acknowledged one is back."""
    env = {"LONGBOW_SNAPSHOT_INTERVAL": "0", "LONGBOW_WAL_STREAM_SIZE": "1MiB"}
    first = server_factory(label="stream-1", env=env)
    big = [simple_batch(20_000, start=k * 20_000, dims=32) for k in range(3)]  # ~2.7 MB each
    with first.client() as connection:
        put_acked(connection, "wide", big[:2])
        put_acked(connection, "wide", [simple_batch(10, start=60_000, dims=32)])  # small: logged whole
        put_acked(connection, "wide", big[2:])
        assert metric(first, "longbow_wal_streamed_puts_total") == 3
    assert first.kill() == -signal.SIGKILL
    second = server_factory(label="stream-2", data_dir=first.data_dir, env=env)
    with second.client() as connection:
        table = get(connection, "wide")
        assert ids(table) == list(range(60_010))
        by_id = dict(zip(table.column("id").to_pylist(), table.column("vector").to_pylist()))
        assert [by_id[i] for i in range(20_000, 40_000)] == big[1].column("vector").to_pylist()


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
