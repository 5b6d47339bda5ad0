"""DoAction / ListActions: get_stats, drop_dataset, unknown actions."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from support import action, expect_error, flight_message, get, names, path, put, simple_batch, simple_bytes, stats, unique_name

MAX_MEMORY = 64 * 1024 * 1024


def test_list_actions(client):
    actions = {a.type: a.description for a in client.list_actions()}
    assert {"get_stats", "drop_dataset"} <= set(actions)
    for kind, description in actions.items():
        assert isinstance(description, str) and description.strip(), f"{kind} has no description"
        assert "\n" not in description.strip(), f"{kind}: the description should be one line"


def test_get_stats_exact_values(server_factory):
    """A server of its own, so every number is known. Rows are multiples of 8 so that buffer
    sizes do not depend on padding: 8 bytes per id, 16 per 4-dimension float32 vector."""
    instance = server_factory({"LONGBOW_MAX_MEMORY": "64MiB"}, label="stats")
    with instance.client() as connection:
        initial = stats(connection)
        assert {"current_memory", "max_memory", "datasets"} <= set(initial)
        assert initial["current_memory"] == 0
        assert initial["max_memory"] == MAX_MEMORY
        assert initial["datasets"] == 0

        put(connection, "a", [simple_batch(16)])
        after_a = stats(connection)
        assert after_a["current_memory"] == simple_bytes(16) == 384
        assert after_a["max_memory"] == MAX_MEMORY
        assert after_a["datasets"] == 1

        put(connection, "b", [simple_batch(8), simple_batch(24, 8)])
        put(connection, "b", [simple_batch(64, 32)])
        after_b = stats(connection)
        assert after_b["current_memory"] == simple_bytes(16) + simple_bytes(96)
        assert after_b["datasets"] == 2
        total_bytes = sum(info.total_bytes for info in connection.list_flights())
        assert after_b["current_memory"] == total_bytes

        assert action(connection, "drop_dataset", "a") == [{"status": "ok", "message": "dataset dropped"}]
        after_drop = stats(connection)
        assert after_drop["current_memory"] == simple_bytes(96)
        assert after_drop["datasets"] == 1
        assert after_drop["max_memory"] == MAX_MEMORY

        assert action(connection, "drop_dataset", {"name": "b"}) == [{"status": "ok", "message": "dataset dropped"}]
        final = stats(connection)
        assert (final["current_memory"], final["max_memory"], final["datasets"]) == (0, MAX_MEMORY, 0)


def test_get_stats_is_one_json_result(client):
    results = list(client.do_action(flight.Action("get_stats", b"")))
    assert len(results) == 1
    reply = json.loads(results[0].body.to_pybytes())
    assert all(isinstance(reply[key], int) for key in ("current_memory", "max_memory", "datasets"))


@pytest.mark.parametrize("body", ["raw", "json"])
def test_drop_dataset(client, name, body):
    put(client, name, [simple_batch(5)])
    other = unique_name("survivor")
    put(client, other, [simple_batch(2)])
    before = stats(client)
    payload = name if body == "raw" else {"name": name}
    assert action(client, "drop_dataset", payload) == [{"status": "ok", "message": "dataset dropped"}]

    assert name not in names(client)
    assert names(client, {"filters": [{"field": "name", "op": "=", "value": name}]}) == []
    error = expect_error(lambda: get(client, name), "NOT_FOUND", "dataset not found: ")
    assert flight_message(error) == f"dataset not found: {name}"
    expect_error(lambda: client.get_flight_info(path(name)), "NOT_FOUND", "dataset not found: ")
    after = stats(client)
    assert after["datasets"] == before["datasets"] - 1
    assert after["current_memory"] == before["current_memory"] - simple_bytes(5)
    assert get(client, other).num_rows == 2


def test_drop_then_recreate_with_new_schema(client, name):
    put(client, name, [simple_batch(3)])
    action(client, "drop_dataset", name)
    table = pa.table({"id": pa.array(["a", "b"], pa.string()), "note": pa.array([1.5, None])})
    results = put(client, name, [table])
    assert [r["total_rows"] for r in results] == [2]
    assert get(client, name).equals(table)


@pytest.mark.parametrize("body", ["raw", "json"])
def test_drop_unknown_dataset(client, body):
    missing = unique_name("never-created")
    payload = missing if body == "raw" else {"name": missing}
    error = expect_error(lambda: action(client, "drop_dataset", payload), "NOT_FOUND", "dataset not found: ", alive=client)
    assert flight_message(error) == f"dataset not found: {missing}"


def test_drop_twice(client, name):
    put(client, name, [simple_batch(1)])
    action(client, "drop_dataset", name)
    expect_error(lambda: action(client, "drop_dataset", name), "NOT_FOUND", f"dataset not found: {name}", alive=client)


@pytest.mark.parametrize("body", [b"", b"{}", b'{"name": 5}', b"{bad json"])
def test_drop_dataset_bad_body(client, body):
    expect_error(lambda: action(client, "drop_dataset", body), "INVALID_ARGUMENT", "invalid action body: ", alive=client)


@pytest.mark.parametrize("kind", ["no_such_action", "GET_STATS", "", "drop-dataset"])
def test_unknown_action(client, kind):
    expect_error(lambda: action(client, kind), "UNIMPLEMENTED", "unknown action: ", alive=client)


def test_puts_and_drops_survive_restart(server_factory):
    first = server_factory(label="durable-1")
    with first.client() as connection:
        put(connection, "kept", [simple_batch(8)])
        put(connection, "dropped", [simple_batch(8)])
        action(connection, "drop_dataset", "dropped")
    assert first.stop() == 0
    second = server_factory(label="durable-2", data_dir=first.data_dir)
    with second.client() as connection:
        assert names(connection) == ["kept"]
        assert get(connection, "kept").column("id").to_pylist() == list(range(8))
