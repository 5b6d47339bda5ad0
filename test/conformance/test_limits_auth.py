"""Memory limit (RESOURCE_EXHAUSTED) and bearer-token authentication (UNAUTHENTICATED)."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from support import action, expect_error, get, names, path, put, rows_of, simple_batch, simple_bytes, stats, unique_name

MIB = 1024 * 1024


# --- memory limit --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_server(server_factory):
    return server_factory({"LONGBOW_MAX_MEMORY": "1MiB"}, label="max-memory-1MiB")


@pytest.fixture
def sclient(small_server):
    with small_server.client() as connection:
        yield connection


def too_big(start: int = 0) -> pa.RecordBatch:
    rows = 50_000  # 50,000 x 24 bytes = 1.2 MB > 1 MiB
    assert simple_bytes(rows) > MIB
    return simple_batch(rows, start)


def test_memory_limit_reported(sclient):
    assert stats(sclient)["max_memory"] == MIB


def test_memory_limit_exceeded(sclient):
    name = unique_name("mem")
    put(sclient, name, [simple_batch(1000)])
    before = stats(sclient)
    error = expect_error(lambda: put(sclient, name, [too_big(1000)]), "RESOURCE_EXHAUSTED", "memory limit exceeded", alive=sclient)
    assert "memory limit exceeded" in str(error)

    # Nothing of the rejected batch is stored.
    assert rows_of(sclient, name) == 1000
    assert get(sclient, name).column("id").to_pylist() == list(range(1000))
    after = stats(sclient)
    assert after["current_memory"] == before["current_memory"]
    assert after["datasets"] == before["datasets"]

    # The server still takes writes that fit.
    results = put(sclient, name, [simple_batch(500, 1000)])
    assert results[-1]["total_rows"] == 1500
    assert stats(sclient)["current_memory"] == before["current_memory"] + simple_bytes(500)
    action(sclient, "drop_dataset", name)


def test_memory_limit_batches_are_all_or_nothing(sclient):
    """In one put: batches acknowledged before the failing one stay, the failing one is dropped."""
    name = unique_name("mem-partial")
    writer, reader = sclient.do_put(path(name), simple_batch(1).schema)
    acked = []
    def write_all():
        try:
            for batch in (simple_batch(100), simple_batch(200, 100), too_big(300), simple_batch(5, 50_300)):
                writer.write_batch(batch)
                buf = reader.read()
                if buf is None:
                    break
                acked.append(json.loads(buf.to_pybytes()))
            writer.done_writing()
        finally:
            writer.close()

    expect_error(write_all, "RESOURCE_EXHAUSTED", "memory limit exceeded", alive=sclient)
    assert [a["total_rows"] for a in acked] == [100, 300]
    assert rows_of(sclient, name) == 300
    assert get(sclient, name).column("id").to_pylist() == list(range(300))
    action(sclient, "drop_dataset", name)
    assert stats(sclient)["current_memory"] == 0


def test_memory_limit_many_small_puts(sclient):
    """Fill up to the limit with small puts: the first put that does not fit fails, exactly."""
    name = unique_name("mem-fill")
    rows = 4096  # 98,304 bytes per put: 10 fit in 1 MiB, the 11th does not.
    stored = 0
    for i in range(10):
        put(sclient, name, [simple_batch(rows, i * rows)])
        stored += rows
    assert stats(sclient)["current_memory"] == 10 * simple_bytes(rows)
    expect_error(lambda: put(sclient, name, [simple_batch(rows, stored)]), "RESOURCE_EXHAUSTED", "memory limit exceeded", alive=sclient)
    assert rows_of(sclient, name) == stored
    # Dropping frees the memory: the same put now succeeds.
    action(sclient, "drop_dataset", name)
    assert stats(sclient)["current_memory"] == 0
    assert put(sclient, name, [simple_batch(rows)])[-1]["total_rows"] == rows
    action(sclient, "drop_dataset", name)


def test_memory_limit_on_new_dataset_leaves_nothing(sclient):
    name = unique_name("mem-new")
    before = stats(sclient)
    expect_error(lambda: put(sclient, name, [too_big()]), "RESOURCE_EXHAUSTED", "memory limit exceeded", alive=sclient)
    assert stats(sclient)["datasets"] == before["datasets"]
    assert name not in names(sclient)


# --- authentication ------------------------------------------------------------------------

TOKEN = "secret"
GOOD = flight.FlightCallOptions(headers=[(b"authorization", b"Bearer " + TOKEN.encode())])
WRONG = flight.FlightCallOptions(headers=[(b"authorization", b"Bearer not-the-secret")])
MALFORMED = flight.FlightCallOptions(headers=[(b"authorization", TOKEN.encode())])


@pytest.fixture(scope="module")
def auth_server(server_factory):
    instance = server_factory({"LONGBOW_AUTH_TOKEN": TOKEN}, label="auth")
    with instance.client() as connection:
        put(connection, "existing", [simple_batch(3)], options=GOOD)
    return instance


@pytest.fixture
def aclient(auth_server):
    with auth_server.client() as connection:
        yield connection


CALLS = {
    "do_put": lambda c, o: put(c, "new-" + unique_name("put"), [simple_batch(2)], options=o),
    "do_get": lambda c, o: get(c, "existing", options=o),
    "list_flights": lambda c, o: list(c.list_flights(b"", options=o)),
    "get_flight_info": lambda c, o: c.get_flight_info(path("existing"), options=o),
    "get_schema": lambda c, o: c.get_schema(path("existing"), options=o),
    "do_action": lambda c, o: action(c, "get_stats", options=o),
    "list_actions": lambda c, o: list(c.list_actions(options=o)),
}


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("options", [None, WRONG, MALFORMED], ids=["no-header", "wrong-token", "no-bearer"])
def test_auth_refuses(aclient, call, options):
    expect_error(lambda: CALLS[call](aclient, options), "UNAUTHENTICATED", "unauthenticated", alive=aclient, alive_options=GOOD)


@pytest.mark.parametrize("call", list(CALLS))
def test_auth_accepts_bearer_token(aclient, call):
    CALLS[call](aclient, GOOD)


def test_auth_on_both_ports(auth_server):
    with auth_server.client(meta=True) as meta:
        expect_error(lambda: stats(meta), "UNAUTHENTICATED", "unauthenticated")
        assert get(meta, "existing", options=GOOD).column("id").to_pylist() == [0, 1, 2]


def test_auth_refused_put_stores_nothing(aclient):
    name = unique_name("refused")
    expect_error(lambda: put(aclient, name, [simple_batch(2)]), "UNAUTHENTICATED", "unauthenticated")
    listed = [i.descriptor.path[0].decode() for i in aclient.list_flights(b"", options=GOOD)]
    assert name not in listed
    assert get(aclient, "existing", options=GOOD).num_rows == 3
