"""DoPut errors and schema rules: descriptors, names, vector/id/metric rules, schema mismatch and
additive evolution. After each error the server still serves and nothing of the put is kept."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from support import assert_tables_equal, expect_error, get, names, path, put, rows_of, vectors


def base_table(rows: int = 3, start: int = 0) -> pa.Table:
    return pa.table({
        "id": pa.array(range(start, start + rows), pa.int64()),
        "vector": vectors(rows, 4, start),
        "note": pa.array([f"n{i}" for i in range(start, start + rows)], pa.string()),
    })


def assert_absent(client, name):
    assert name not in names(client)
    expect_error(lambda: client.get_flight_info(path(name)), "NOT_FOUND", "dataset not found: ")


# --- descriptors and names -----------------------------------------------------------------


@pytest.mark.parametrize("descriptor", [
    pytest.param(flight.FlightDescriptor.for_path(), id="no-path"),
    pytest.param(flight.FlightDescriptor.for_path(""), id="empty-name"),
    pytest.param(flight.FlightDescriptor.for_command(b"dataset"), id="cmd"),
])
def test_put_without_dataset_name(client, descriptor):
    count = len(names(client))
    expect_error(lambda: put(client, None, [base_table()], descriptor=descriptor), "INVALID_ARGUMENT", "invalid descriptor: ", alive=client)
    assert len(names(client)) == count


@pytest.mark.parametrize("bad", ["a\x01b", "tab\tname", "x" * 256])
def test_put_invalid_dataset_name(client, bad):
    expect_error(lambda: put(client, bad, [base_table()]), "INVALID_ARGUMENT", "invalid dataset name: ", alive=client)
    assert bad not in names(client)


# --- schema rules for a new dataset --------------------------------------------------------


def fsl(values: pa.Array, size: int) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(values, size)


@pytest.mark.parametrize("column, array", [
    pytest.param("vector", fsl(pa.array([1, 2, 3, 4], pa.int32()), 2), id="fsl-int32"),
    pytest.param("vector", pa.array([[1.0, 2.0], [3.0, 4.0]], pa.list_(pa.float32())), id="list-float32"),
    pytest.param("vector", pa.array([1.0, 2.0], pa.float32()), id="scalar-float32"),
    pytest.param("vector", fsl(pa.array([1, 2], pa.int16()), 1), id="fsl-int16"),
    pytest.param("embedding", fsl(pa.array([1, 2, 3, 4], pa.int64()), 2), id="embedding-fsl-int64"),
    pytest.param("embedding", pa.array([[1.0], [2.0]], pa.large_list(pa.float64())), id="embedding-large-list"),
])
def test_bad_vector_column(client, name, column, array):
    table = pa.table({"id": pa.array(range(len(array)), pa.int64()), column: array})
    expect_error(lambda: put(client, name, [table]), "INVALID_ARGUMENT", "invalid schema: ", alive=client)
    assert_absent(client, name)


@pytest.mark.parametrize("array", [
    pytest.param(pa.array([1.0, 2.0], pa.float64()), id="float64"),
    pytest.param(pa.array([1, 2], pa.int16()), id="int16"),
    pytest.param(pa.array([True, False]), id="bool"),
    pytest.param(pa.array([b"a", b"b"], pa.binary()), id="binary"),
])
def test_bad_id_column(client, name, array):
    table = pa.table({"id": array, "vector": vectors(2, 4)})
    expect_error(lambda: put(client, name, [table]), "INVALID_ARGUMENT", "invalid schema: ", alive=client)
    assert_absent(client, name)


@pytest.mark.parametrize("metric", ["manhattan", "", "COSINE", "l2"])
def test_bad_metric(client, name, metric):
    table = base_table().replace_schema_metadata({"longbow.metric": metric})
    expect_error(lambda: put(client, name, [table]), "INVALID_ARGUMENT", "invalid schema: ", alive=client)
    assert_absent(client, name)


@pytest.mark.parametrize("element, dtype", [(pa.float32(), np.float32), (pa.float16(), np.float16), (pa.float64(), np.float64),
                                            (pa.int8(), np.int8), (pa.uint8(), np.uint8)], ids=str)
@pytest.mark.parametrize("column", ["vector", "embedding"])
def test_valid_vector_types(client, make_name, column, element, dtype):
    name = make_name(f"{column}-{element}")
    dims = 3
    raw = np.arange(5 * dims) % 100
    values = pa.array(raw.astype(dtype), element)
    table = pa.table({"id": pa.array(range(5), pa.int64()), column: fsl(values, dims)})
    put(client, name, [table])
    got = get(client, name)
    assert_tables_equal(got, table)


@pytest.mark.parametrize("id_type, values", [
    (pa.int64(), [1, 2]), (pa.uint64(), [1, 2**64 - 1]), (pa.int32(), [-1, 2]), (pa.uint32(), [0, 2**32 - 1]),
    (pa.string(), ["a", "b"]),
])
def test_valid_id_types(client, make_name, id_type, values):
    name = make_name(str(id_type))
    table = pa.table({"id": pa.array(values, id_type), "vector": vectors(2, 4)})
    put(client, name, [table])
    assert get(client, name).equals(table)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "dot_product"])
def test_valid_metrics(client, make_name, metric):
    name = make_name(metric)
    table = base_table().replace_schema_metadata({"longbow.metric": metric})
    put(client, name, [table])
    assert client.get_schema(path(name)).schema.metadata == {b"longbow.metric": metric.encode()}


# --- schema mismatch -----------------------------------------------------------------------


MISMATCHES = {
    "different-type": pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), 4)), ("note", pa.large_string())]),
    "different-name": pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), 4)), ("text", pa.string())]),
    "different-dims": pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), 8)), ("note", pa.string())]),
    "different-id-type": pa.schema([("id", pa.int32()), ("vector", pa.list_(pa.float32(), 4)), ("note", pa.string())]),
    "reordered": pa.schema([("vector", pa.list_(pa.float32(), 4)), ("id", pa.int64()), ("note", pa.string())]),
    "now-not-nullable": pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), 4)), pa.field("note", pa.string(), nullable=False)]),
    "non-nullable-added": pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), 4)), ("note", pa.string()),
                                     pa.field("extra", pa.int32(), nullable=False)]),
    "added-in-the-middle": pa.schema([("id", pa.int64()), ("extra", pa.int32()), ("vector", pa.list_(pa.float32(), 4)), ("note", pa.string())]),
    "other-metric": pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), 4)), ("note", pa.string())],
                              metadata={"longbow.metric": "cosine"}),
}


def table_for(schema: pa.Schema, rows: int = 2) -> pa.Table:
    arrays = []
    for field in schema:
        if pa.types.is_fixed_size_list(field.type):
            arrays.append(vectors(rows, field.type.list_size))
        elif pa.types.is_integer(field.type):
            arrays.append(pa.array(range(rows), field.type))
        else:
            arrays.append(pa.array([f"s{i}" for i in range(rows)], field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


@pytest.mark.parametrize("case", list(MISMATCHES))
def test_schema_mismatch(client, name, case):
    original = base_table(3)
    put(client, name, [original])
    expect_error(lambda: put(client, name, [table_for(MISMATCHES[case])]), "INVALID_ARGUMENT", "schema mismatch: ", alive=client)
    assert rows_of(client, name) == 3
    assert client.get_schema(path(name)).schema.equals(original.schema)
    assert_tables_equal(get(client, name), original)


def test_schema_mismatch_inside_one_put_keeps_earlier_puts(client, name):
    put(client, name, [base_table(3)])
    put(client, name, [base_table(2, 3)])
    expect_error(lambda: put(client, name, [table_for(MISMATCHES["different-name"], 5)]), "INVALID_ARGUMENT", "schema mismatch: ", alive=client)
    assert rows_of(client, name) == 5
    assert get(client, name).column("id").to_pylist() == [0, 1, 2, 3, 4]


def test_additive_schema_evolution(client, name):
    original = base_table(3)
    put(client, name, [original])
    evolved = original.slice(0, 0).schema.append(pa.field("extra", pa.float64())).append(pa.field("tag", pa.string()))
    newer = pa.Table.from_arrays(
        [pa.array([3, 4], pa.int64()), vectors(2, 4, 3), pa.array(["n3", "n4"]), pa.array([0.5, None]), pa.array(["t3", "t4"])],
        schema=evolved)
    results = put(client, name, [newer])
    assert results[-1]["total_rows"] == 5

    assert client.get_schema(path(name)).schema.equals(evolved)
    info = client.get_flight_info(path(name))
    assert info.schema.equals(evolved) and info.total_records == 5
    got = get(client, name)
    assert got.schema.equals(evolved)
    assert got.column("id").to_pylist() == [0, 1, 2, 3, 4]
    assert got.column("note").to_pylist() == ["n0", "n1", "n2", "n3", "n4"]
    assert got.column("extra").to_pylist() == [None, None, None, 0.5, None]
    assert got.column("tag").to_pylist() == [None, None, None, "t3", "t4"]
    assert got.column("vector").to_pylist() == original.column("vector").to_pylist() + newer.column("vector").to_pylist()

    # Filters and projections see the new columns, the old rows hold nulls there.
    assert get(client, {"name": name, "filters": [{"field": "tag", "op": "!=", "value": "zz"}]}).column("id").to_pylist() == [3, 4]
    assert get(client, {"name": name, "columns": ["tag", "id"], "limit": 4}).to_pydict() == {"tag": [None, None, None, "t3"], "id": [0, 1, 2, 3]}

    # The evolved schema is now the dataset's schema: a put with it is the same schema.
    again = put(client, name, [newer])
    assert again[-1]["total_rows"] == 5  # ids 3 and 4 again: an upsert replaces those rows
    assert get(client, name).column("id").to_pylist() == [0, 1, 2, 3, 4]


def test_put_missing_trailing_columns_is_a_mismatch(client, name):
    put(client, name, [base_table(3)])
    fewer = pa.table({"id": pa.array([9], pa.int64())})
    expect_error(lambda: put(client, name, [fewer]), "INVALID_ARGUMENT", "schema mismatch: ", alive=client)
    assert rows_of(client, name) == 3


# --- other DoPut errors --------------------------------------------------------------------


def random_table(rows: int = 1000) -> pa.Table:
    """Random bytes: IPC compression cannot shrink them, so pyarrow sends such buffers with the
    'uncompressed' marker (an 8-byte length prefix of -1 before the raw bytes)."""
    rng = np.random.default_rng(7)
    return pa.table({
        "id": pa.array(rng.integers(-2**62, 2**62, rows), pa.int64()),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(rng.integers(0, 2**20, rows * 4).astype(np.float32)), 4),
    })


@pytest.mark.parametrize("data", ["sequential", "random"])
@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_put_compressed_batches(client, name, codec, data):
    table = base_table(1000) if data == "sequential" else random_table()
    options = flight.FlightCallOptions(write_options=pa.ipc.IpcWriteOptions(compression=codec))
    expect_error(lambda: put(client, name, [table], options=options), "UNIMPLEMENTED",
                 "compressed IPC bodies are not supported: ", alive=client)
    assert name not in names(client)


def test_failed_put_does_not_block_the_next_put(client, name):
    put(client, name, [base_table(2)])
    for _ in range(3):
        expect_error(lambda: put(client, name, [table_for(MISMATCHES["different-type"])]), "INVALID_ARGUMENT", "schema mismatch: ")
    put(client, name, [base_table(2, 2)])
    assert get(client, name).column("id").to_pylist() == [0, 1, 2, 3]
