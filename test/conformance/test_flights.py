"""ListFlights (with and without criteria), GetFlightInfo and GetSchema."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from support import assert_tables_equal, expect_error, flight_message, get, names, path, put, simple_batch, unique_name

ROW_COUNTS = {"alpha": 1, "beta": 2, "gamma": 3, "delta": 5, "alphabet": 8}


@pytest.fixture(scope="module")
def listing(server_factory):
    """A server of its own so that the full listing is known exactly."""
    instance = server_factory(label="listing")
    datasets = {}
    with instance.client() as connection:
        for suffix, rows in ROW_COUNTS.items():
            table = pa.Table.from_batches([simple_batch(rows)])
            put(connection, suffix, [table])
            datasets[suffix] = table
    return instance, datasets


@pytest.fixture
def lclient(listing):
    with listing[0].client() as connection:
        yield connection


def test_list_flights_without_criteria(lclient):
    assert sorted(names(lclient)) == sorted(ROW_COUNTS)
    assert sorted(names(lclient, b"")) == sorted(ROW_COUNTS)


def test_list_flights_info_fields(lclient, listing):
    _, datasets = listing
    infos = list(lclient.list_flights())
    assert len(infos) == len(ROW_COUNTS)
    for info in infos:
        assert info.descriptor.descriptor_type == flight.DescriptorType.PATH
        assert len(info.descriptor.path) == 1
        name = info.descriptor.path[0].decode()
        assert info.schema.equals(datasets[name].schema)
        assert info.total_records == ROW_COUNTS[name]
        assert info.total_bytes > 0
        assert len(info.endpoints) == 1
        assert info.endpoints[0].ticket.ticket == name.encode()
        got = lclient.do_get(info.endpoints[0].ticket).read_all()
        assert_tables_equal(got, datasets[name])


def crit(*filters) -> dict:
    return {"filters": [{"field": f, "op": o, "value": v} for f, o, v in filters]}


@pytest.mark.parametrize("criteria, expected", [
    (crit(("name", "=", "beta")), ["beta"]),
    (crit(("name", "=", "nope")), []),
    (crit(("name", "!=", "beta")), ["alpha", "alphabet", "delta", "gamma"]),
    (crit(("name", "contains", "alpha")), ["alpha", "alphabet"]),
    (crit(("name", "contains", "ta")), ["beta", "delta"]),
    (crit(("rows", "=", 3)), ["gamma"]),
    (crit(("rows", ">", 2)), ["alphabet", "delta", "gamma"]),
    (crit(("rows", "<", 3)), ["alpha", "beta"]),
    (crit(("rows", ">=", 3)), ["alphabet", "delta", "gamma"]),
    (crit(("rows", "<=", 3)), ["alpha", "beta", "gamma"]),
    (crit(("rows", ">=", 2), ("rows", "<=", 5)), ["beta", "delta", "gamma"]),
    (crit(("name", "contains", "a"), ("rows", ">", 1), ("name", "!=", "delta")), ["alphabet", "beta", "gamma"]),
    ({"filters": []}, ["alpha", "alphabet", "beta", "delta", "gamma"]),
])
def test_list_flights_criteria(lclient, criteria, expected):
    assert sorted(names(lclient, criteria)) == expected


def test_list_flights_criteria_operator_key(lclient):
    assert names(lclient, {"filters": [{"field": "rows", "operator": ">", "value": 5}]}) == ["alphabet"]


def test_list_flights_counts_follow_writes(server, client, name):
    put(client, name, [simple_batch(4)])
    infos = {i.descriptor.path[0].decode(): i for i in client.list_flights(json.dumps(crit(("name", "=", name))).encode())}
    assert list(infos) == [name]
    first_bytes = infos[name].total_bytes
    assert infos[name].total_records == 4
    put(client, name, [simple_batch(6, 4)])
    info = client.get_flight_info(path(name))
    assert info.total_records == 10
    assert info.total_bytes > first_bytes
    assert names(client, crit(("name", "=", name), ("rows", "=", 10))) == [name]
    assert names(client, crit(("name", "=", name), ("rows", "<", 10))) == []


@pytest.mark.parametrize("criteria", [
    b"not json",
    b"[]",
    json.dumps({"filters": [], "extra": 1}).encode(),
    json.dumps(crit(("size", "=", 1))).encode(),
    json.dumps(crit(("name", ">", "a"))).encode(),
    json.dumps(crit(("rows", "contains", "1"))).encode(),
    json.dumps(crit(("rows", "=", "many"))).encode(),
    json.dumps(crit(("rows", "~", 1))).encode(),
])
def test_list_flights_invalid_criteria(client, criteria):
    expect_error(lambda: list(client.list_flights(criteria)), "INVALID_ARGUMENT", "invalid criteria: ", alive=client)


def test_get_flight_info_by_path(client, name):
    table = pa.Table.from_batches([simple_batch(7)])
    put(client, name, [table])
    info = client.get_flight_info(path(name))
    assert info.descriptor.descriptor_type == flight.DescriptorType.PATH
    assert [p.decode() for p in info.descriptor.path] == [name]
    assert info.schema.equals(table.schema)
    assert info.total_records == 7
    assert info.total_bytes > 0
    assert len(info.endpoints) == 1
    assert info.endpoints[0].ticket.ticket == name.encode()
    assert_tables_equal(client.do_get(info.endpoints[0].ticket).read_all(), table)


def test_get_schema_by_path(client, name):
    table = pa.table({"id": pa.array([1], pa.int64()), "note": pa.array(["x"]), "tag": pa.array(["t"]).dictionary_encode()})
    put(client, name, [table])
    result = client.get_schema(path(name))
    assert result.schema.equals(table.schema)
    assert result.schema.names == ["id", "note", "tag"]


def test_schema_metadata_is_kept(client, name):
    table = pa.Table.from_batches([simple_batch(2)]).replace_schema_metadata({"longbow.metric": "cosine"})
    put(client, name, [table])
    schema = client.get_schema(path(name)).schema
    assert schema.metadata == {b"longbow.metric": b"cosine"}
    assert client.get_flight_info(path(name)).schema.metadata == {b"longbow.metric": b"cosine"}


@pytest.mark.parametrize("call", ["get_flight_info", "get_schema"])
def test_unknown_dataset_not_found(client, call):
    missing = unique_name("missing")
    error = expect_error(lambda: getattr(client, call)(path(missing)), "NOT_FOUND", "dataset not found: ", alive=client)
    assert flight_message(error) == f"dataset not found: {missing}"


@pytest.mark.parametrize("call", ["get_flight_info", "get_schema"])
@pytest.mark.parametrize("descriptor", [flight.FlightDescriptor.for_path(), flight.FlightDescriptor.for_path("")])
def test_descriptor_without_name(client, call, descriptor):
    expect_error(lambda: getattr(client, call)(descriptor), "INVALID_ARGUMENT", "invalid descriptor: ", alive=client)


def test_do_get_after_get_flight_info_on_meta_port(client, meta_client, name):
    table = pa.Table.from_batches([simple_batch(3)])
    put(client, name, [table])
    info = meta_client.get_flight_info(path(name))
    assert_tables_equal(meta_client.do_get(info.endpoints[0].ticket).read_all(), table)
    assert_tables_equal(get(meta_client, name), table)
