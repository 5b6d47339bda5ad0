"""Both ports serve the full service; concurrent writers from independent clients."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from support import action, assert_tables_equal, get, names, path, put, simple_batch, stats

WRITERS = 8
PUTS_PER_WRITER = 3
BATCHES_PER_PUT = 5
ROWS_PER_BATCH = 200


def test_data_port_writes_are_read_on_meta_port(client, meta_client, name):
    table = pa.Table.from_batches([simple_batch(10), simple_batch(5, 10)])
    put(client, name, [table])
    assert name in names(meta_client)
    assert meta_client.get_flight_info(path(name)).total_records == 15
    assert meta_client.get_schema(path(name)).schema.equals(table.schema)
    assert_tables_equal(get(meta_client, name), table)
    assert_tables_equal(get(meta_client, {"name": name, "filters": [{"field": "id", "op": ">=", "value": 10}]}), table.slice(10))


def test_meta_port_writes_are_read_on_data_port(client, meta_client, name):
    put(meta_client, name, [simple_batch(4)])
    assert get(client, name).column("id").to_pylist() == [0, 1, 2, 3]
    assert action(meta_client, "drop_dataset", name) == [{"status": "ok", "message": "dataset dropped"}]
    assert name not in names(client)


def test_both_ports_answer_every_rpc(server, name):
    for meta in (False, True):
        with server.client(meta=meta) as connection:
            dataset = f"{name}-{'meta' if meta else 'data'}"
            assert put(connection, dataset, [simple_batch(2)])[-1]["total_rows"] == 2
            assert get(connection, dataset).num_rows == 2
            assert dataset in names(connection)
            assert connection.get_flight_info(path(dataset)).total_records == 2
            assert connection.get_schema(path(dataset)).schema.names == ["id", "vector"]
            assert {"get_stats", "drop_dataset"} <= {a.type for a in connection.list_actions()}
            assert stats(connection)["datasets"] >= 1


def writer_batches(writer: int) -> list[list[pa.RecordBatch]]:
    """Distinct id ranges per writer, put and batch."""
    per_writer = PUTS_PER_WRITER * BATCHES_PER_PUT * ROWS_PER_BATCH
    puts = []
    for p in range(PUTS_PER_WRITER):
        start = writer * per_writer + p * BATCHES_PER_PUT * ROWS_PER_BATCH
        puts.append([simple_batch(ROWS_PER_BATCH, start + b * ROWS_PER_BATCH, dims=16) for b in range(BATCHES_PER_PUT)])
    return puts


def run_writers(server, dataset_for) -> list[dict]:
    barrier = threading.Barrier(WRITERS)

    def work(writer: int) -> list[dict]:
        results = []
        with server.client(meta=writer % 2 == 1) as connection:
            barrier.wait(timeout=30)
            for batches in writer_batches(writer):
                results.extend(put(connection, dataset_for(writer), batches))
        return results

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        futures = [pool.submit(work, w) for w in range(WRITERS)]
        return [r for f in futures for r in f.result(timeout=120)]


def test_concurrent_writers_same_dataset(server, client, name):
    results = run_writers(server, lambda writer: name)
    total = WRITERS * PUTS_PER_WRITER * BATCHES_PER_PUT * ROWS_PER_BATCH
    assert len(results) == WRITERS * PUTS_PER_WRITER * BATCHES_PER_PUT
    assert all(r["dataset"] == name and r["rows"] == ROWS_PER_BATCH for r in results)
    seqs = [r["seq"] for r in results]
    assert len(set(seqs)) == len(seqs), "every batch must get its own sequence number"
    # total_rows values are the running totals after each batch: all distinct, the last is the total.
    totals = sorted(r["total_rows"] for r in results)
    assert totals == [ROWS_PER_BATCH * (i + 1) for i in range(len(results))]

    assert client.get_flight_info(path(name)).total_records == total
    got = get(client, name)
    assert got.num_rows == total
    ids = np.sort(got.column("id").combine_chunks().to_numpy())
    np.testing.assert_array_equal(ids, np.arange(total, dtype=np.int64))
    # Rows of one batch stay together and keep their vectors.
    sample = get(client, {"name": name, "filters": [{"field": "id", "op": ">=", "value": 4000}, {"field": "id", "op": "<", "value": 4200}]})
    assert_tables_equal(sample.sort_by("id"), pa.Table.from_batches([simple_batch(200, 4000, dims=16)]))


def test_concurrent_writers_different_datasets(server, client, name):
    datasets = [f"{name}-{w}" for w in range(WRITERS)]
    results = run_writers(server, lambda writer: datasets[writer])
    per_writer = PUTS_PER_WRITER * BATCHES_PER_PUT * ROWS_PER_BATCH
    for writer, dataset in enumerate(datasets):
        mine = [r for r in results if r["dataset"] == dataset]
        assert [r["total_rows"] for r in mine] == [ROWS_PER_BATCH * (i + 1) for i in range(len(mine))]
        assert client.get_flight_info(path(dataset)).total_records == per_writer
        ids = get(client, {"name": dataset, "columns": ["id"]}).column("id").to_pylist()
        assert ids == list(range(writer * per_writer, (writer + 1) * per_writer))
    seqs = [r["seq"] for r in results]
    assert len(set(seqs)) == len(seqs)
    listed = names(client, {"filters": [{"field": "name", "op": "contains", "value": name}]})
    assert sorted(listed) == sorted(datasets)


def test_concurrent_readers_and_writers(server, client, name):
    """Readers see whole batches only while writers append."""
    put(client, name, [simple_batch(ROWS_PER_BATCH, 0, dims=16)])
    stop = threading.Event()
    errors: list[BaseException] = []

    def read_loop():
        try:
            with server.client() as connection:
                while not stop.is_set():
                    rows = get(connection, {"name": name, "columns": ["id"]}).num_rows
                    assert rows % ROWS_PER_BATCH == 0, rows
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    readers = [threading.Thread(target=read_loop) for _ in range(2)]
    for thread in readers:
        thread.start()
    try:
        with server.client() as connection:
            for i in range(1, 20):
                put(connection, name, [simple_batch(ROWS_PER_BATCH, i * ROWS_PER_BATCH, dims=16)])
    finally:
        stop.set()
        for thread in readers:
            thread.join(timeout=30)
    assert not errors, errors
    assert client.get_flight_info(path(name)).total_records == 20 * ROWS_PER_BATCH
