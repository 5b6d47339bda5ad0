"""Metrics port: /metrics (Prometheus text) and /healthz, scraped with urllib after pyarrow calls."""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from support import LongbowServer, path, put, unique_name

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metrics_port(server: LongbowServer) -> int:
    """The bound metrics port, from the 'Longbow listening' log line (the server runs on port 0)."""
    for record in server.log_records():
        if record.get("msg") == "Longbow listening":
            return int(str(record["metrics_addr"]).rsplit(":", 1)[1])
    raise AssertionError("no 'Longbow listening' line with metrics_addr")


def http_get(server: LongbowServer, path_: str) -> tuple[int, str, str]:
    """(status, content type, body) of GET http://127.0.0.1:<metrics port><path_>."""
    url = f"http://127.0.0.1:{metrics_port(server)}{path_}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read().decode()


def scrape(server: LongbowServer) -> dict[tuple[str, frozenset], float]:
    status, content_type, body = http_get(server, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    samples = {}
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"unparsable metrics line: {line!r}"
        labels = frozenset(LABEL.findall(match.group(2) or ""))
        samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def metered(server_factory) -> LongbowServer:
    """A server of its own, so counters move only with this module's calls."""
    return server_factory(label="metrics")


def vectors_table(rows: int, dim: int) -> pa.Table:
    values = np.random.default_rng(7).random(rows * dim, dtype=np.float32)
    vector = pa.FixedSizeListArray.from_arrays(pa.array(values), dim)
    return pa.table({"id": pa.array(np.arange(rows, dtype=np.int64)), "vector": vector})


def test_put_and_get_move_counters_and_gauges(metered: LongbowServer):
    name = unique_name("metered")
    table = vectors_table(20_000, 32)
    client = metered.client()
    try:
        before = scrape(metered)
        put(client, name, [table])
        after_put = scrape(metered)
        read = client.do_get(flight.Ticket(name.encode())).read_all()
        assert read.num_rows == table.num_rows
        after_get = scrape(metered)
    finally:
        client.close()

    assert value(after_put, "longbow_flight_operations_total", method="DoPut", status="OK") \
        - value(before, "longbow_flight_operations_total", method="DoPut", status="OK") == 1
    put_bytes = value(after_put, "longbow_flight_bytes_processed_total", method="DoPut") \
        - value(before, "longbow_flight_bytes_processed_total", method="DoPut")
    # Arrow IPC bytes: the buffers plus a few hundred bytes of headers (and alignment padding).
    assert table.nbytes <= put_bytes <= table.nbytes * 1.05 + 4096, (put_bytes, table.nbytes)
    get_bytes = value(after_get, "longbow_flight_bytes_processed_total", method="DoGet") \
        - value(after_put, "longbow_flight_bytes_processed_total", method="DoGet")
    assert table.nbytes <= get_bytes <= table.nbytes * 1.05 + 64 * 1024, (get_bytes, table.nbytes)
    assert value(after_get, "longbow_flight_operations_total", method="DoGet", status="OK") >= 1

    assert value(after_put, "longbow_wal_writes_total", status="ok") > value(before, "longbow_wal_writes_total", status="ok")
    assert value(after_put, "longbow_wal_bytes_written_total") - value(before, "longbow_wal_bytes_written_total") >= table.nbytes
    assert value(after_put, "longbow_wal_fsync_duration_seconds_count") >= 1
    assert value(after_put, "longbow_rows", dataset=name) == table.num_rows
    assert value(after_put, "longbow_datasets") >= 1
    assert value(after_put, "longbow_memory_used_bytes") >= table.nbytes
    assert ("process_cpu_user_seconds_total", frozenset()) in after_put


def test_errors_are_counted_by_status_name(metered: LongbowServer):
    client = metered.client()
    try:
        before = scrape(metered)
        with pytest.raises(pa.ArrowKeyError):
            client.do_get(flight.Ticket(unique_name("missing").encode())).read_all()
        after = scrape(metered)
    finally:
        client.close()
    assert value(after, "longbow_flight_operations_total", method="DoGet", status="NOT_FOUND") \
        - value(before, "longbow_flight_operations_total", method="DoGet", status="NOT_FOUND") == 1


def test_force_snapshot_is_counted(metered: LongbowServer):
    client = metered.client()
    try:
        put(client, unique_name("snap"), [vectors_table(100, 4)])
        before = scrape(metered)
        list(client.do_action(flight.Action("force_snapshot", b"")))
        after = scrape(metered)
    finally:
        client.close()
    assert value(after, "longbow_snapshot_operations_total", status="ok") \
        - value(before, "longbow_snapshot_operations_total", status="ok") == 1
    assert value(after, "longbow_snapshot_duration_seconds_count") >= 1


def test_healthz_and_unknown_paths(metered: LongbowServer):
    status, content_type, body = http_get(metered, "/healthz")
    assert status == 200
    assert content_type.startswith("application/json")
    assert json.loads(body)["status"] == "ok"
    assert http_get(metered, "/nothing-here")[0] == 404


def test_metrics_need_no_token(server_factory):
    secured = server_factory({"LONGBOW_AUTH_TOKEN": "metrics-secret"}, label="metrics-auth")
    client = secured.client()
    try:
        with pytest.raises((flight.FlightUnauthenticatedError, OSError)):
            client.get_schema(path("anything"))
    finally:
        client.close()
    samples = scrape(secured)
    assert value(samples, "longbow_flight_operations_total", method="GetSchema", status="UNAUTHENTICATED") == 1
    assert http_get(secured, "/healthz")[0] == 200
