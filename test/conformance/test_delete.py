"""Deletes and upserts as a pyarrow client sees them: the `delete` action, DoPut of existing ids
(upsert), reads and counts that leave deleted rows out, errors, and durability across a kill -9
with and without a snapshot."""
from __future__ import annotations

import signal

import pyarrow as pa

from support import action, expect_error, get, put, put_acked, rows_of, simple_batch, stats


def ids(table: pa.Table) -> list:
    return table.column("id").to_pylist()


def labelled(ids_: list, labels: list[str], id_type: pa.DataType = pa.int64()) -> pa.RecordBatch:
    return pa.record_batch({"id": pa.array(ids_, id_type), "label": pa.array(labels, pa.string())})


def test_delete_action_reply_and_reads(client, name):
    put(client, name, [simple_batch(10)])
    reply = action(client, "delete", {"dataset": name, "ids": [1, 3, "5", 5, 42]})
    assert len(reply) == 1
    assert reply[0]["status"] == "ok" and reply[0]["dataset"] == name
    assert reply[0]["deleted"] == 3 and reply[0]["not_found"] == 1
    assert isinstance(reply[0]["seq"], int) and reply[0]["seq"] > 0
    assert ids(get(client, name)) == [0, 2, 4, 6, 7, 8, 9]
    assert ids(get(client, {"name": name, "limit": 2})) == [0, 2]
    assert ids(get(client, {"name": name, "filters": [{"field": "id", "op": "<=", "value": 4}]})) == [0, 2, 4]
    assert rows_of(client, name) == 7
    entry = next(d for d in stats(client)["dataset_stats"] if d["name"] == name)
    assert entry["rows"] == 7 and entry["deleted_rows"] == 3
    again = action(client, "delete", {"name": name, "ids": [1, 3]})[0]
    assert again["deleted"] == 0 and again["not_found"] == 2


def test_delete_is_listed(client):
    actions = {a.type: a.description for a in client.list_actions()}
    assert "delete" in actions and actions["delete"].strip()


def test_upsert_replaces_rows_with_the_same_id(client, name):
    put(client, name, [labelled([1, 2, 3], ["a1", "a2", "a3"])])
    results = put(client, name, [labelled([2, 4, 4], ["b2", "b4", "b4-last"])])
    assert results[0]["rows"] == 3 and results[0]["total_rows"] == 4
    table = get(client, name)
    assert ids(table) == [1, 3, 2, 4]
    assert table.column("label").to_pylist() == ["a1", "a3", "b2", "b4-last"]
    assert rows_of(client, name) == 4


def test_string_and_large_int64_ids(client, make_name):
    strings = make_name("s")
    put(client, strings, [labelled(["x", "y", "z"], ["1", "2", "3"], pa.string())])
    assert action(client, "delete", {"dataset": strings, "ids": ["y"]})[0]["deleted"] == 1
    assert ids(get(client, strings)) == ["x", "z"]
    big = make_name("big")
    base = 2**60
    put(client, big, [labelled([base, base + 1, base + 2], ["p", "q", "r"])])
    # json.dumps writes the exact integer; the server keeps integers beyond 2^53 exact.
    assert action(client, "delete", {"dataset": big, "ids": [base + 1]})[0]["deleted"] == 1
    assert ids(get(client, big)) == [base, base + 2]


def test_delete_errors(client, make_name):
    with_ids = make_name("ids")
    put(client, with_ids, [simple_batch(3)])
    no_ids = make_name("plain")
    put(client, no_ids, [pa.record_batch({"x": pa.array([1, 2], pa.int32())})])
    expect_error(lambda: action(client, "delete", {"dataset": make_name("missing"), "ids": [1]}),
                 "NOT_FOUND", "dataset not found: ")
    expect_error(lambda: action(client, "delete", {"dataset": no_ids, "ids": [1]}),
                 "INVALID_ARGUMENT", "no id column: ")
    expect_error(lambda: action(client, "delete", {"dataset": with_ids, "ids": ["abc"]}),
                 "INVALID_ARGUMENT", "invalid id: ")
    expect_error(lambda: action(client, "delete", {"dataset": with_ids, "ids": [1.5]}),
                 "INVALID_ARGUMENT", "invalid id: ")
    expect_error(lambda: action(client, "delete", {"dataset": with_ids}),
                 "INVALID_ARGUMENT", "invalid action body: ", alive=client)
    assert ids(get(client, with_ids)) == [0, 1, 2]


def test_deletes_and_upserts_survive_kill9_with_and_without_snapshot(server_factory):
    first = server_factory(label="delete-1", env={"LONGBOW_SNAPSHOT_INTERVAL": "0"})
    with first.client() as connection:
        put_acked(connection, "d", [simple_batch(20)])
        action(connection, "delete", {"dataset": "d", "ids": [0, 1]})
        put_acked(connection, "d", [simple_batch(2, start=18)])  # upsert 18 and 19
        assert action(connection, "force_snapshot")[0]["rows"] == 18
        action(connection, "delete", {"dataset": "d", "ids": [5]})  # only in the log
        put_acked(connection, "d", [simple_batch(1, start=2)])  # upsert after the snapshot
    assert first.kill() == -signal.SIGKILL
    expected = [i for i in range(3, 20) if i != 5] + [2]
    second = server_factory(label="delete-2", data_dir=first.data_dir)
    with second.client() as connection:
        table = get(connection, "d")
        assert sorted(ids(table)) == sorted(expected)
        assert ids(table)[-1] == 2, "the re-put row comes last (insertion order)"
        assert rows_of(connection, "d") == len(expected)
        vectors = dict(zip(ids(table), table.column("vector").to_pylist()))
        original = simple_batch(2, start=18).column("vector").to_pylist()
        assert [vectors[18], vectors[19]] == original
        action(connection, "delete", {"dataset": "d", "ids": [3]})
    assert second.stop() == 0
    third = server_factory(label="delete-3", data_dir=first.data_dir)
    with third.client() as connection:
        assert sorted(ids(get(connection, "d"))) == sorted(i for i in expected if i != 3)
        entry = next(d for d in stats(connection)["dataset_stats"] if d["name"] == "d")
        assert entry["deleted_rows"] == 23 - len(expected) + 1
