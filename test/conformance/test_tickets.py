"""DoGet tickets: raw names, JSON tickets, limit, column projection and filters."""
from __future__ import annotations

import datetime as dt
import operator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from support import assert_tables_equal, expect_error, flight_message, get, path, put, simple_batch, unique_name, vectors

DAY_S = 86_400
BASE_S = 1_704_067_200  # 2024-01-01T00:00:00Z

TEXT = ["apple", "banana", None, "cherry", "apple pie", "date", None, "banana split", "elder", "fig", "Banana", ""]
QTY = [5, 3, None, 10, 5, -2, 7, None, 0, 12, 3, 1]
PRICE = [1.5, None, 2.25, -0.5, 1.5, 10.0, None, 3.75, 0.0, 2.25, 1e-3, -7.125]
DAYS = [0, 1, 2, 3, None, 5, 6, 7, 8, 9, 10, 11]
COLOR = ["red", "green", "blue", None, "green", "red", "blue", "teal", None, "red", "green", "blue"]
ROWS = len(TEXT)


def iso(day: int, suffix: str = "Z") -> str:
    return dt.datetime.fromtimestamp(BASE_S + day * DAY_S, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + suffix


def filter_table() -> pa.Table:
    ts = [None if d is None else (BASE_S + d * DAY_S) for d in DAYS]
    columns = {
        "id": pa.array(range(ROWS), pa.int64()),
        "vector": vectors(ROWS, 8),
        "text": pa.array(TEXT, pa.string()),
        "qty": pa.array(QTY, pa.int32()),
        "price": pa.array(PRICE, pa.float64()),
        "ts": pa.array([None if s is None else s * 1_000_000_000 for s in ts], pa.timestamp("ns")),
        "ts_ms": pa.array([None if s is None else s * 1000 for s in ts], pa.timestamp("ms")),
        "color": pa.array(COLOR, pa.string()).dictionary_encode(),
    }
    return pa.table(columns)


@pytest.fixture(scope="module")
def dataset(server):
    """The filter dataset, written as two puts (so results span stored batches)."""
    name = unique_name("filters")
    table = filter_table()
    with server.client() as connection:
        put(connection, name, [table.slice(0, 5)])
        put(connection, name, [table.slice(5)])
    return name, table


def ids(table: pa.Table) -> list[int]:
    return table.column("id").to_pylist()


OPS = {
    "=": operator.eq, "==": operator.eq, "eq": operator.eq,
    "!=": operator.ne, "neq": operator.ne,
    ">": operator.gt, "gt": operator.gt,
    "<": operator.lt, "lt": operator.lt,
    ">=": operator.ge, "ge": operator.ge,
    "<=": operator.le, "le": operator.le,
}


def expected_ids(values: list, op, pivot) -> list[int]:
    """Rows whose cell is not null and satisfies `op` against `pivot` (nulls never match)."""
    return [i for i, v in enumerate(values) if v is not None and op(v, pivot)]


def run_filter(client, name, filters) -> list[int]:
    return ids(get(client, {"name": name, "filters": filters}))


# --- tickets -------------------------------------------------------------------------------


def test_raw_ticket(client, dataset):
    name, table = dataset
    got = get(client, name.encode("utf-8"))
    assert_tables_equal(got, table)


def test_raw_ticket_utf8_name(client, make_name):
    name = make_name("données-ü-日本")
    batch = simple_batch(3)
    put(client, name, [batch])
    got = get(client, name.encode("utf-8"))
    assert got.column("id").to_pylist() == [0, 1, 2]
    assert client.get_flight_info(path(name)).total_records == 3


@pytest.mark.parametrize("key", ["name", "dataset"])
def test_json_ticket_name_keys(client, dataset, key):
    name, table = dataset
    got = get(client, {key: name})
    assert_tables_equal(got, table)


@pytest.mark.parametrize("limit, expected", [(0, []), (1, [0]), (3, [0, 1, 2]), (7, list(range(7))), (12, list(range(12))), (1000, list(range(12)))])
def test_limit(client, dataset, limit, expected):
    name, table = dataset
    got = get(client, {"name": name, "limit": limit})
    assert ids(got) == expected
    assert got.schema.equals(table.schema)


def test_limit_with_filter(client, dataset):
    name, _ = dataset
    got = get(client, {"name": name, "limit": 3, "filters": [{"field": "qty", "op": ">=", "value": 3}]})
    assert ids(got) == [0, 1, 3]


def test_columns_projection(client, dataset):
    name, table = dataset
    got = get(client, {"name": name, "columns": ["price", "id", "color"]})
    assert got.schema.names == ["price", "id", "color"]
    assert got.schema.field("price").type == pa.float64()
    assert got.schema.field("color").type == pa.dictionary(pa.int32(), pa.string())
    assert got.column("price").to_pylist() == PRICE
    assert got.column("id").to_pylist() == list(range(ROWS))
    assert got.column("color").to_pylist() == COLOR


def test_columns_projection_with_filter_on_other_column(client, dataset):
    name, _ = dataset
    got = get(client, {"name": name, "columns": ["text"], "filters": [{"field": "qty", "op": "=", "value": 5}], "limit": 10})
    assert got.schema.names == ["text"]
    assert got.column("text").to_pylist() == ["apple", "apple pie"]


# --- filters -------------------------------------------------------------------------------

COLUMN_CASES = {
    # column: (source values, pivot sent in the ticket, pivot for the Python reference)
    "text": (TEXT, "banana", "banana"),
    "id": (list(range(ROWS)), 4, 4),
    "qty": (QTY, 5, 5),
    "price": (PRICE, 2.25, 2.25),
    "ts": (DAYS, (BASE_S + 5 * DAY_S) * 1_000_000_000, 5),
    "ts_ms": (DAYS, (BASE_S + 5 * DAY_S) * 1000, 5),
}


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("column", list(COLUMN_CASES))
def test_filter_operator(client, dataset, column, op):
    name, _ = dataset
    values, pivot, reference = COLUMN_CASES[column]
    expected = expected_ids(values, OPS[op], reference)
    assert run_filter(client, name, [{"field": column, "op": op, "value": pivot}]) == expected


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("column, suffix", [("ts", "Z"), ("ts_ms", "Z"), ("ts", ".000Z"), ("ts_ms", "+00:00"), ("ts", ".000000000Z")])
def test_timestamp_filter_iso8601(client, dataset, column, suffix, op):
    name, _ = dataset
    expected = expected_ids(DAYS, OPS[op], 5)
    assert run_filter(client, name, [{"field": column, "op": op, "value": iso(5, suffix)}]) == expected


def test_timestamp_filter_iso8601_with_offset(client, dataset):
    name, _ = dataset
    # 2024-01-06T00:00:00Z written as 05:30 in +05:30.
    assert run_filter(client, name, [{"field": "ts", "op": "=", "value": "2024-01-06T05:30:00+05:30"}]) == [5]


def test_filter_operator_key_alias(client, dataset):
    name, _ = dataset
    assert run_filter(client, name, [{"field": "qty", "operator": ">", "value": 5}]) == [3, 6, 9]


@pytest.mark.parametrize("pivot, expected", [("an", [1, 7, 10]), ("apple", [0, 4]), ("", [0, 1, 3, 4, 5, 7, 8, 9, 10, 11]), ("zzz", [])])
def test_filter_contains(client, dataset, pivot, expected):
    name, _ = dataset
    assert run_filter(client, name, [{"field": "text", "op": "contains", "value": pivot}]) == expected
    assert expected == [i for i, v in enumerate(TEXT) if v is not None and pivot in v]


def test_filters_combined_with_and(client, dataset):
    name, _ = dataset
    filters = [
        {"field": "qty", "op": ">=", "value": 3},
        {"field": "price", "op": "<", "value": 3},
        {"field": "text", "op": "contains", "value": "a"},
    ]
    expected = [i for i in range(ROWS)
                if QTY[i] is not None and QTY[i] >= 3 and PRICE[i] is not None and PRICE[i] < 3
                and TEXT[i] is not None and "a" in TEXT[i]]
    assert expected == [0, 4, 10]
    assert run_filter(client, name, filters) == expected


def test_filters_combined_disjoint_is_empty(client, dataset):
    name, table = dataset
    got = get(client, {"name": name, "filters": [{"field": "id", "op": "<", "value": 3}, {"field": "id", "op": ">", "value": 8}]})
    assert got.num_rows == 0
    assert got.schema.equals(table.schema)


@pytest.mark.parametrize("column, pivot", [("text", "no such text"), ("qty", 999), ("price", 999.5), ("ts", 1), ("color", "no such color")])
def test_null_cells_never_match(client, dataset, column, pivot):
    name, table = dataset
    got = run_filter(client, name, [{"field": column, "op": "!=", "value": pivot}])
    values = table.column(column).to_pylist()
    assert got == [i for i, v in enumerate(values) if v is not None]
    assert len(got) < ROWS


@pytest.mark.parametrize("op, pivot, expected", [
    ("=", "red", [0, 5, 9]),
    ("==", "green", [1, 4, 10]),
    ("!=", "red", [1, 2, 4, 6, 7, 10, 11]),
    ("contains", "e", [0, 1, 2, 4, 5, 6, 7, 9, 10, 11]),
    (">", "red", [7]),
    ("<=", "blue", [2, 6, 11]),
    ("=", "purple", []),
])
def test_filter_on_dictionary_column(client, dataset, op, pivot, expected):
    name, _ = dataset
    reference = {"=": operator.eq, "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<=": operator.le,
                 "contains": lambda v, p: p in v}[op]
    assert expected == expected_ids(COLOR, reference, pivot)
    got = get(client, {"name": name, "filters": [{"field": "color", "op": op, "value": pivot}]})
    assert ids(got) == expected
    assert got.column("color").to_pylist() == [COLOR[i] for i in expected]




def test_timestamp_ns_integer_filter_full_precision(client, make_name):
    name = make_name("ns")
    base = 1_704_067_200_123_456_789
    table = pa.table({"id": pa.array(range(5), pa.int64()), "ts": pa.array([base + i for i in range(5)], pa.timestamp("ns"))})
    put(client, name, [table])
    assert run_filter(client, name, [{"field": "ts", "op": ">", "value": base + 2}]) == [3, 4]
    assert run_filter(client, name, [{"field": "ts", "op": "=", "value": base + 1}]) == [1]


def test_int64_filter_above_2_pow_53(client, make_name):
    name = make_name("big")
    table = pa.table({"id": pa.array([2**53 + i for i in range(4)], pa.int64())})
    put(client, name, [table])
    assert ids(get(client, {"name": name, "filters": [{"field": "id", "op": "=", "value": 2**53 + 1}]})) == [2**53 + 1]


def test_int64_filter_above_2_pow_53_as_string(client, make_name):
    name = make_name("bigstr")
    table = pa.table({"id": pa.array([2**53 + i for i in range(4)], pa.int64())})
    put(client, name, [table])
    assert ids(get(client, {"name": name, "filters": [{"field": "id", "op": "=", "value": str(2**53 + 1)}]})) == [2**53 + 1]


def test_timestamp_iso8601_sub_millisecond(client, make_name):
    name = make_name("us")
    base_us = BASE_S * 1_000_000
    table = pa.table({"id": pa.array(range(5), pa.int64()), "ts": pa.array([base_us + i for i in range(5)], pa.timestamp("us"))})
    put(client, name, [table])
    assert run_filter(client, name, [{"field": "ts", "op": "=", "value": "2024-01-01T00:00:00.000003Z"}]) == [3]
    assert run_filter(client, name, [{"field": "ts", "op": ">=", "value": "2024-01-01T00:00:00.000002Z"}]) == [2, 3, 4]


@pytest.fixture(scope="module")
def kolkata_server(server_factory):
    """A server whose local time zone is not UTC: results must not depend on it."""
    return server_factory({"TZ": "Asia/Kolkata"}, label="tz-kolkata")


def test_timestamp_iso8601_without_offset_ignores_server_time_zone(kolkata_server, make_name):
    name = make_name("tz")
    with kolkata_server.client() as connection:
        put(connection, name, [filter_table()])
        assert run_filter(connection, name, [{"field": "ts", "op": "=", "value": iso(5, "")}]) == [5]
        assert run_filter(connection, name, [{"field": "ts_ms", "op": ">=", "value": iso(9, "")}]) == [9, 10, 11]


def test_timestamp_iso8601_with_offset_on_non_utc_server(kolkata_server, make_name):
    name = make_name("tz-z")
    with kolkata_server.client() as connection:
        put(connection, name, [filter_table()])
        assert run_filter(connection, name, [{"field": "ts", "op": "=", "value": iso(5, "Z")}]) == [5]
        assert run_filter(connection, name, [{"field": "ts_ms", "op": "<", "value": iso(2, "+00:00")}]) == [0, 1]


# --- invalid tickets -----------------------------------------------------------------------


@pytest.mark.parametrize("ticket, prefix", [
    (b"{not json", "invalid ticket: "),
    (b"{\"name\": \"x\"} trailing", "invalid ticket: "),
    (b"  {\"name\": [1]}", "invalid ticket: "),
    (b'{"name": "x", "bogus": 1}', "invalid ticket: "),
    (b'{"limit": 3}', "invalid ticket: "),
    (b'{"name": ""}', "invalid ticket: "),
    (b'{"name": 7}', "invalid ticket: "),
    (b"", "invalid ticket: "),
    (b"\xff\xfe", "invalid ticket: "),
])
def test_invalid_ticket(client, ticket, prefix):
    expect_error(lambda: get(client, ticket), "INVALID_ARGUMENT", prefix, alive=client)


@pytest.mark.parametrize("extra", [{"limit": -1}, {"limit": 1.5}, {"limit": "3"}, {"columns": "id"}, {"columns": [1]}, {"filters": {"field": "id"}}])
def test_invalid_ticket_field_types(client, dataset, extra):
    name, _ = dataset
    expect_error(lambda: get(client, {"name": name, **extra}), "INVALID_ARGUMENT", "invalid ", alive=client)


@pytest.mark.parametrize("bad_filter, prefix", [
    ({"field": "nope", "op": "=", "value": 1}, "invalid filter: "),
    ({"field": "qty", "op": "~", "value": 1}, "invalid filter: "),
    ({"field": "qty", "op": "like", "value": 1}, "invalid filter: "),
    ({"field": "qty", "op": "=", "value": "abc"}, "invalid filter: "),
    ({"field": "qty", "op": "=", "value": None}, "invalid filter: "),
    ({"field": "id", "op": "=", "value": [1]}, "invalid filter: "),
    ({"field": "price", "op": ">", "value": "cheap"}, "invalid filter: "),
    ({"field": "text", "op": "=", "value": 5}, "invalid filter: "),
    ({"field": "ts", "op": ">", "value": "not a time"}, "invalid filter: "),
    ({"field": "qty", "op": "contains", "value": "1"}, "invalid filter: "),
    ({"field": "qty", "op": "="}, "invalid filter: "),
    ({"op": "=", "value": 1}, "invalid filter: "),
    ({"field": "qty", "value": 1}, "invalid filter: "),
])
def test_invalid_filter(client, dataset, bad_filter, prefix):
    name, _ = dataset
    expect_error(lambda: get(client, {"name": name, "filters": [bad_filter]}), "INVALID_ARGUMENT", prefix, alive=client)


def test_unknown_projection_column(client, dataset):
    name, _ = dataset
    expect_error(lambda: get(client, {"name": name, "columns": ["id", "nope"]}), "INVALID_ARGUMENT", "unknown column: ", alive=client)


@pytest.mark.parametrize("ticket", ["no-such-dataset-{}", '{{"name": "no-such-dataset-{}"}}', '{{"dataset": "no-such-dataset-{}"}}'])
def test_unknown_dataset(client, ticket):
    suffix = unique_name("x")
    missing = f"no-such-dataset-{suffix}"
    error = expect_error(lambda: get(client, ticket.format(suffix).encode()), "NOT_FOUND", "dataset not found: ", alive=client)
    assert flight_message(error) == f"dataset not found: {missing}"


# --- a dataset larger than one result batch ------------------------------------------------


@pytest.fixture(scope="module")
def large_dataset(server):
    """250,000 rows in three puts (~30 MB): results are streamed in several bounded batches."""
    rows = 250_000
    rng = np.random.default_rng(42)
    idx = np.arange(rows)
    words = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"])
    text = pa.array(np.char.add(words[idx % 6], (idx % 997).astype(str)).astype(object), pa.string())
    text = pa.array([None if i % 11 == 0 else v for i, v in enumerate(text.to_pylist())], pa.string())
    qty = pa.array(rng.integers(-1000, 1000, rows).astype(np.int32), mask=(idx % 7 == 0))
    price = pa.array(rng.standard_normal(rows), mask=(idx % 13 == 0))
    ts = pa.array((BASE_S * 1_000_000 + idx * 1_000_003).astype(np.int64), pa.timestamp("us"))
    color = pa.array([None if i % 17 == 0 else ["red", "green", "blue", "teal"][i % 4] for i in range(rows)]).dictionary_encode()
    table = pa.table({
        "id": pa.array(idx.astype(np.int64)), "vector": vectors(rows, 8), "text": text, "qty": qty,
        "price": price, "ts": ts, "color": color,
    })
    name = unique_name("large")
    with server.client() as connection:
        put(connection, name, [table.slice(0, 100_000)])
        put(connection, name, [table.slice(100_000, 100_000).to_batches(max_chunksize=30_000)[0], table.slice(130_000, 70_000)])
        put(connection, name, [table.slice(200_000)])
    return name, table


def reference_filter(table: pa.Table, filters: list[dict]) -> pa.Table:
    """What the filters select, computed by pyarrow (nulls never match)."""
    functions = {"=": pc.equal, "!=": pc.not_equal, ">": pc.greater, "<": pc.less, ">=": pc.greater_equal,
                 "<=": pc.less_equal, "contains": lambda column, value: pc.match_substring(column, value)}
    mask = pa.scalar(True)
    for f in filters:
        column = table.column(f["field"])
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        value = f["value"]
        if pa.types.is_timestamp(column.type):
            value = pa.scalar(value, column.type)
        mask = pc.and_(mask, pc.fill_null(functions[f["op"]](column, value), False))
    return table.filter(mask)


LARGE_QUERIES = [
    [{"field": "qty", "op": ">", "value": 500}],
    [{"field": "price", "op": "<=", "value": -1.5}],
    [{"field": "text", "op": "contains", "value": "ta9"}],
    [{"field": "text", "op": ">=", "value": "epsilon"}, {"field": "qty", "op": "!=", "value": 0}],
    [{"field": "color", "op": "=", "value": "teal"}, {"field": "price", "op": ">", "value": 0}],
    [{"field": "ts", "op": "<", "value": (BASE_S + 60) * 1_000_000}],
    [{"field": "id", "op": ">=", "value": 99_990}, {"field": "id", "op": "<", "value": 100_010}],
]


@pytest.mark.parametrize("filters", LARGE_QUERIES, ids=[f"q{i}" for i in range(len(LARGE_QUERIES))])
def test_large_dataset_filters_match_pyarrow(client, large_dataset, filters):
    name, table = large_dataset
    expected = reference_filter(table, filters)
    got = get(client, {"name": name, "filters": filters})
    assert 0 < expected.num_rows < table.num_rows
    assert got.num_rows == expected.num_rows
    assert_tables_equal(got, expected)


def test_large_dataset_full_read_and_limit(client, large_dataset):
    name, table = large_dataset
    got = get(client, name)
    assert_tables_equal(got, table)
    limited = get(client, {"name": name, "limit": 123_457, "columns": ["id", "color", "text"]})
    assert limited.schema.names == ["id", "color", "text"]
    assert_tables_equal(limited, table.select(["id", "color", "text"]).slice(0, 123_457))
    filtered = get(client, {"name": name, "limit": 1000, "filters": [{"field": "qty", "op": "<", "value": 0}]})
    assert_tables_equal(filtered, reference_filter(table, [{"field": "qty", "op": "<", "value": 0}]).slice(0, 1000))
