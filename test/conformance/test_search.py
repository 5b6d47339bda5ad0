"""Vector search as a pyarrow client sees it: DoGet search tickets, the VectorSearch and
VectorSearchByID actions, DoExchange batch search, check_readiness, filters, the three
metrics (checked against numpy), deletes, errors, and results kept across a restart."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from support import action, expect_error, get, path, put

DIMS = 16
ROWS = 2000


def clustered(rows: int, dims: int, seed: int) -> np.ndarray:
    """A low-rank Gaussian mixture (like real embeddings, unlike iid noise)."""
    rng = np.random.default_rng(seed)
    rank, clusters = 6, 20
    centres = rng.normal(size=(clusters, rank))
    basis = rng.normal(size=(rank, dims)) / np.sqrt(rank)
    latent = centres[rng.integers(0, clusters, rows)] + 0.3 * rng.normal(size=(rows, rank))
    return (latent @ basis + 0.02 * rng.normal(size=(rows, dims))).astype(np.float32)


def table_of(vectors: np.ndarray, metric: str | None = None, first_id: int = 0) -> pa.Table:
    rows = len(vectors)
    schema = pa.schema([
        ("id", pa.int64()), ("vector", pa.list_(pa.float32(), DIMS)), ("category", pa.string()),
    ], metadata={"longbow.metric": metric} if metric else None)
    ids = np.arange(first_id, first_id + rows, dtype=np.int64)
    return pa.table({
        "id": ids,
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), DIMS),
        "category": ["rare" if i % 10 == 0 else "common" for i in ids],
    }, schema=schema)


def exact(vectors: np.ndarray, query: np.ndarray, k: int, metric: str, allowed=None) -> list[int]:
    if metric == "euclidean":
        key = ((vectors - query) ** 2).sum(axis=1)
    elif metric == "cosine":
        key = -(vectors @ query) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    else:
        key = -(vectors @ query)
    if allowed is not None:
        key = np.where(allowed, key, np.inf)
    return [int(i) for i in np.argsort(key, kind="stable")[:k]]


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return clustered(ROWS, DIMS, seed=3)


@pytest.fixture(scope="module")
def datasets(server, data) -> dict[str, str]:
    client = server.client()
    names = {}
    for metric in ("euclidean", "cosine", "dot_product"):
        name = f"search-{metric}"
        put(client, name, [table_of(data, metric)])
        names[metric] = name
    client.close()
    return names


def search_ticket(client, body: dict) -> pa.Table:
    return get(client, {"search": body})


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "dot_product"])
def test_search_ticket_matches_exact_search(client, datasets, data, metric):
    for row in (0, 17, 999):
        table = search_ticket(client, {"dataset": datasets[metric], "vector": data[row].tolist(), "k": 10})
        assert table.schema.names == ["id", "distance", "score"]
        assert table.schema.field("distance").type == pa.float32()
        assert table.schema.field("score").type == pa.float32()
        assert table.column("id").to_pylist() == exact(data, data[row], 10, metric)
        scores = table.column("score").to_pylist()
        assert scores == sorted(scores, reverse=True), "higher score is closer, results best first"


def test_scores_follow_the_documented_formulas(client, datasets, data):
    query = data[5]
    for metric, expected in (
        ("euclidean", lambda v: 1 / (1 + np.linalg.norm(v - query))),
        ("cosine", lambda v: (v @ query) / (np.linalg.norm(v) * np.linalg.norm(query))),
        ("dot_product", lambda v: v @ query),
    ):
        table = search_ticket(client, {"dataset": datasets[metric], "vector": query.tolist(), "k": 3})
        for ident, score in zip(table.column("id").to_pylist(), table.column("score").to_pylist()):
            assert score == pytest.approx(float(expected(data[ident])), rel=1e-4, abs=1e-4), metric


def test_filtered_search_and_columns(client, datasets, data):
    allowed = np.arange(ROWS) % 10 == 0
    table = search_ticket(client, {
        "dataset": datasets["euclidean"], "vector": data[3].tolist(), "k": 5,
        "filters": [{"field": "category", "op": "=", "value": "rare"}], "columns": ["category"],
    })
    assert table.schema.names == ["id", "distance", "score", "category"]
    assert set(table.column("category").to_pylist()) == {"rare"}
    assert table.column("id").to_pylist() == exact(data, data[3], 5, "euclidean", allowed)


def test_vector_search_action_one_ipc_stream_per_query(client, datasets, data):
    body = json.dumps({"dataset": datasets["cosine"], "vectors": [data[1].tolist(), data[2].tolist()], "k": 4}).encode()
    results = list(client.do_action(flight.Action("VectorSearch", body)))
    assert len(results) == 2
    for result, row in zip(results, (1, 2)):
        table = pa.ipc.open_stream(result.body.to_pybytes()).read_all()
        assert table.column("id").to_pylist() == exact(data, data[row], 4, "cosine")


def test_vector_search_by_id(client, datasets, data):
    body = json.dumps({"dataset": datasets["euclidean"], "id": 7, "k": 3}).encode()
    [result] = list(client.do_action(flight.Action("VectorSearchByID", body)))
    table = pa.ipc.open_stream(result.body.to_pybytes()).read_all()
    assert table.column("id").to_pylist() == [i for i in exact(data, data[7], 4, "euclidean") if i != 7][:3]


def test_do_exchange_batch_search(client, datasets, data):
    descriptor = path(datasets["euclidean"])
    writer, reader = client.do_exchange(descriptor)
    schema = pa.schema([("vector", pa.list_(pa.float32(), DIMS))])
    writer.begin(schema)
    queries = [data[10:14], data[20:22]]
    for block in queries:
        writer.write_batch(pa.record_batch({"vector": pa.FixedSizeListArray.from_arrays(pa.array(block.reshape(-1)), DIMS)}, schema=schema))
    writer.done_writing()
    results = reader.read_all()
    writer.close()
    assert results.schema.names == ["query_index", "id", "distance", "score"]
    all_queries = np.concatenate(queries)
    got = results.to_pydict()
    for q in range(len(all_queries)):
        ids = [i for qi, i in zip(got["query_index"], got["id"]) if qi == q]
        assert ids == exact(data, all_queries[q], 10, "euclidean")


def test_check_readiness(client, datasets):
    [reply] = action(client, "check_readiness", {"dataset": datasets["euclidean"]})
    assert reply["status"] in ("READY", "INDEXING") and reply["rows"] == ROWS
    assert action(client, "check_readiness", {"dataset": "no-such-dataset"})[0]["status"] == "NOT_FOUND"


def test_search_errors(client, datasets, data):
    name = datasets["euclidean"]
    expect_error(lambda: search_ticket(client, {"dataset": name, "vector": data[0].tolist(), "k": 0}),
                 "INVALID_ARGUMENT", 'invalid search: "k" must be an integer from 1', alive=client)
    expect_error(lambda: search_ticket(client, {"dataset": name, "vector": [1.0, 2.0]}),
                 "INVALID_ARGUMENT", f"invalid search: the query vector has 2 dimensions, dataset {name} has {DIMS}", alive=client)
    expect_error(lambda: search_ticket(client, {"dataset": name, "vector": [1e39] * DIMS}),
                 "INVALID_ARGUMENT", 'invalid search: "vector"[0] = 1e+39 does not fit in float32', alive=client)
    expect_error(lambda: get(client, b'{"search":{"dataset":"x","vector":[Infinity]}}'),
                 "INVALID_ARGUMENT", "invalid ticket", alive=client)
    put(client, "search-no-vector", [pa.table({"name": ["a"]})])
    expect_error(lambda: search_ticket(client, {"dataset": "search-no-vector", "vector": [1.0]}),
                 "INVALID_ARGUMENT", "invalid search: dataset search-no-vector has no vector column", alive=client)
    expect_error(lambda: search_ticket(client, {"dataset": "search-nope", "vector": [1.0]}),
                 "NOT_FOUND", "dataset not found: search-nope", alive=client)


def test_deleted_rows_are_never_found(client, data, name):
    put(client, name, [table_of(data[:200])])
    assert search_ticket(client, {"dataset": name, "vector": data[50].tolist(), "k": 1}).column("id").to_pylist() == [50]
    action(client, "delete", {"dataset": name, "ids": [50]})
    ids = search_ticket(client, {"dataset": name, "vector": data[50].tolist(), "k": 5}).column("id").to_pylist()
    assert 50 not in ids and len(ids) == 5


def test_results_identical_after_restart(server_factory, data):
    first = server_factory(label="search-restart")
    client = first.client()
    put(client, "kept", [table_of(data, "cosine")])
    action(client, "delete", {"dataset": "kept", "ids": [0]})
    before = [search_ticket(client, {"dataset": "kept", "vector": data[row].tolist(), "k": 10}).to_pydict() for row in (0, 1, 2)]
    client.close()
    assert first.stop() == 0
    second = server_factory(label="search-restart-2", data_dir=first.data_dir)
    client = second.client()
    after = [search_ticket(client, {"dataset": "kept", "vector": data[row].tolist(), "k": 10}).to_pydict() for row in (0, 1, 2)]
    client.close()
    assert after == before
