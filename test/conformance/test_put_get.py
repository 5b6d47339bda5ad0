"""DoPut / DoGet round trips and PutResult metadata."""
from __future__ import annotations

import json
import time

import numpy as np
import pyarrow as pa

from support import action, assert_tables_equal, get, normalize, path, put, put_acked, rows_of, simple_batch, vectors

DIMS = 128


def mixed_batch(rows: int, start: int = 0) -> pa.RecordBatch:
    """Every column type of the round-trip contract, with nulls where the type allows them."""
    ids = np.arange(start, start + rows, dtype=np.int64)
    colors = ["red", "green", "blue", None, "green"]
    return pa.record_batch({
        "id": pa.array(ids),
        "vector": vectors(rows, DIMS, start),
        "text": pa.array([None if i % 3 == 0 else f"text-{i}-é" for i in ids], pa.string()),
        "ts": pa.array(1_700_000_000_000_000_000 + ids * 1_000_000_007, pa.timestamp("ns")),
        "color": pa.array([colors[i % 5] for i in ids], pa.string()).dictionary_encode(),
        "score": pa.array([None if i % 4 == 1 else i * 0.25 - 3.5 for i in ids], pa.float64()),
    })


def test_mixed_types_round_trip(client, name):
    table = pa.Table.from_batches([mixed_batch(50)])
    assert table.schema.field("color").type == pa.dictionary(pa.int32(), pa.string())
    results = put(client, name, [table])
    assert results == [{"dataset": name, "rows": 50, "total_rows": 50, "seq": results[0]["seq"]}]

    got = get(client, name)
    assert got.schema.equals(table.schema)
    assert normalize(got).equals(normalize(table))
    assert_tables_equal(got, table)
    assert got.column("text").null_count == 17
    assert got.column("score").null_count == 13
    assert got.column("color").null_count == 10


def test_several_batches_in_one_put(client, name):
    batches = [mixed_batch(10 + i, start=sum(10 + j for j in range(i))) for i in range(5)]
    results = put(client, name, batches)
    assert [r["rows"] for r in results] == [10, 11, 12, 13, 14]
    assert [r["total_rows"] for r in results] == [10, 21, 33, 46, 60]
    got = get(client, name)
    expected = pa.Table.from_batches(batches)
    assert got.num_rows == 60
    assert got.column("id").to_pylist() == list(range(60))
    assert_tables_equal(got, expected)


def test_several_puts_to_one_dataset(client, name):
    first = mixed_batch(7, start=0)
    second = mixed_batch(5, start=7)
    third = mixed_batch(9, start=12)
    assert put(client, name, [first])[0]["total_rows"] == 7
    assert put(client, name, [second])[0]["total_rows"] == 12
    assert put(client, name, [third])[0]["total_rows"] == 21
    got = get(client, name)
    assert_tables_equal(got, pa.Table.from_batches([first, second, third]))
    assert rows_of(client, name) == 21


def test_dictionaries_differ_between_batches(client, name):
    """Each batch carries its own dictionary (pyarrow sends a replacement); values must survive."""
    b1 = pa.record_batch({"id": pa.array([1, 2], pa.int64()), "tag": pa.array(["a", "b"]).dictionary_encode()})
    b2 = pa.record_batch({"id": pa.array([3, 4], pa.int64()), "tag": pa.array(["c", "a"]).dictionary_encode()})
    b3 = pa.record_batch({"id": pa.array([5], pa.int64()), "tag": pa.array(["zz"]).dictionary_encode()})
    put(client, name, [b1, b2])
    put(client, name, [b3])
    got = get(client, name)
    assert got.column("id").to_pylist() == [1, 2, 3, 4, 5]
    assert got.column("tag").to_pylist() == ["a", "b", "c", "a", "zz"]
    assert_tables_equal(got, pa.Table.from_batches([b1, b2, b3]))


def test_put_result_metadata_per_batch(client, name):
    batches = [simple_batch(3, 0), simple_batch(4, 3), simple_batch(5, 7)]
    results = put_acked(client, name, batches)
    assert [set(r) for r in results] == [{"dataset", "rows", "total_rows", "seq"}] * 3
    assert [r["dataset"] for r in results] == [name] * 3
    assert [r["rows"] for r in results] == [3, 4, 5]
    assert [r["total_rows"] for r in results] == [3, 7, 12]
    seqs = [r["seq"] for r in results]
    assert all(isinstance(s, int) and s > 0 for s in seqs)
    assert seqs[0] < seqs[1] < seqs[2]

    # A later put continues the sequence and the row count.
    later = put_acked(client, name, [simple_batch(2, 12)])
    assert later == [{"dataset": name, "rows": 2, "total_rows": 14, "seq": later[0]["seq"]}]
    assert later[0]["seq"] > seqs[-1]


def test_put_results_are_json_objects(client, name):
    writer, reader = client.do_put(path(name), simple_batch(1).schema)
    try:
        writer.write_batch(simple_batch(6))
        raw = reader.read()
        assert raw is not None
        document = json.loads(raw.to_pybytes().decode("utf-8"))
        assert document["dataset"] == name and document["rows"] == 6 and document["total_rows"] == 6
        writer.done_writing()
    finally:
        writer.close()


def test_schema_only_put_creates_empty_dataset(client, name):
    schema = simple_batch(1).schema
    writer, _ = client.do_put(path(name), schema)
    writer.close()
    info = client.get_flight_info(path(name))
    assert info.total_records == 0
    got = get(client, name)
    assert got.num_rows == 0
    assert got.schema.equals(schema)


def test_one_million_rows(client, name):
    rows = 1_000_000
    values = np.arange(rows * DIMS, dtype=np.int32).astype(np.float32)
    table = pa.table({
        "id": pa.array(np.arange(rows, dtype=np.int64)),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(values), DIMS),
    })
    started = time.monotonic()
    try:
        results = put(client, name, [table])
        assert sum(r["rows"] for r in results) == rows
        assert results[-1]["total_rows"] == rows
        info = client.get_flight_info(path(name))
        assert info.total_records == rows
        assert info.total_bytes >= rows * (8 + DIMS * 4)

        sample = [0, 1, 4_095, 123_456, 500_000, 777_777, 999_999]
        for row in sample:
            got = get(client, {"name": name, "filters": [{"field": "id", "op": "=", "value": row}]})
            assert got.num_rows == 1
            assert got.column("id").to_pylist() == [row]
            vector = got.column("vector").combine_chunks().flatten().to_numpy()
            np.testing.assert_array_equal(vector, np.arange(row * DIMS, (row + 1) * DIMS, dtype=np.int32).astype(np.float32))

        everything = get(client, {"name": name, "columns": ["id"]})
        assert everything.num_rows == rows
        ids = everything.column("id").combine_chunks().to_numpy()
        np.testing.assert_array_equal(ids, np.arange(rows, dtype=np.int64))

        head = get(client, {"name": name, "limit": 3})
        np.testing.assert_array_equal(head.column("vector").combine_chunks().flatten().to_numpy(),
                                      np.arange(3 * DIMS, dtype=np.float32))
    finally:
        try:
            action(client, "drop_dataset", name)
        except (pa.ArrowException, OSError):
            pass
    assert time.monotonic() - started < 60
