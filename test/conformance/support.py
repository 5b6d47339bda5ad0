"""Shared helpers for the Longbow conformance suite (pyarrow.flight against a real server).

Everything here speaks the wire contract of ARCHITECTURE.md section 3 and nothing else: the
tests must pass against any server that honours the contract.
"""
from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_MAIN = "packages/server/src/main.ts"
STARTUP_TIMEOUT_S = 20.0
SHUTDOWN_TIMEOUT_S = 10.0

# gRPC status -> (exception classes pyarrow raises, how pyarrow's message starts, status code).
# As measured with pyarrow 25: INVALID_ARGUMENT -> ArrowInvalid, NOT_FOUND -> ArrowKeyError,
# UNIMPLEMENTED -> ArrowNotImplementedError, UNAUTHENTICATED -> FlightUnauthenticatedError (but
# plain OSError from FlightClient.get_schema), RESOURCE_EXHAUSTED -> ArrowInvalid with the text
# "gRPC returned resource exhausted error".
STATUS = {
    "INVALID_ARGUMENT": ((pa.ArrowInvalid,), "Flight returned invalid argument error", 3),
    "NOT_FOUND": ((pa.ArrowKeyError,), "Flight returned not found error", 5),
    "RESOURCE_EXHAUSTED": ((pa.ArrowInvalid, flight.FlightServerError), "gRPC returned resource exhausted error", 8),
    "UNIMPLEMENTED": ((pa.ArrowNotImplementedError,), "Flight returned unimplemented error", 12),
    "UNAUTHENTICATED": ((flight.FlightUnauthenticatedError, OSError), "Flight returned unauthenticated error", 16),
}


class LongbowServer:
    """One server process on free ports with its own temporary data directory."""

    running: list["LongbowServer"] = []

    def __init__(self, env: Mapping[str, str] | None = None, label: str = "server", data_dir: str | None = None):
        """data_dir: reuse the directory of an earlier (stopped) server, to test a restart."""
        self.label = label
        self.data_dir = data_dir or tempfile.mkdtemp(prefix=f"longbow-conformance-{label}-")
        self.log_path = Path(self.data_dir) / f"server-{time.monotonic_ns()}.log"
        self.exit_code: int | None = None
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not on PATH")
        # The caller's LONGBOW_* variables must not leak into the server under test.
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("LONGBOW_")}
        child_env.update({
            "LONGBOW_LISTEN_ADDR": "127.0.0.1:0",
            "LONGBOW_META_ADDR": "127.0.0.1:0",
            # Several servers run at once: no fixed port anywhere (ignored by servers without metrics).
            "LONGBOW_METRICS_ADDR": "127.0.0.1:0",
            "LONGBOW_DATA_PATH": str(Path(self.data_dir) / "data"),
            "LONGBOW_LOG_LEVEL": "info",
        })
        child_env.update(env or {})
        self.env = child_env
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [node, "--import", "tsx", SERVER_MAIN],
            cwd=REPO_ROOT, env=child_env, stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        try:
            self.data_port, self.meta_port = self._wait_listening()
        except BaseException:
            self.stop()
            raise
        LongbowServer.running.append(self)

    def _wait_listening(self) -> tuple[int, int]:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            for record in self.log_records():
                if record.get("msg") == "Longbow listening":
                    data = int(str(record["data_addr"]).rsplit(":", 1)[1])
                    meta = int(str(record["meta_addr"]).rsplit(":", 1)[1])
                    return data, meta
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode} before listening:\n{self.log_text()}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.label} did not log 'Longbow listening' within {STARTUP_TIMEOUT_S}s:\n{self.log_text()}")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_records(self) -> list[dict]:
        records = []
        for line in self.log_text().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except ValueError:
                    pass
        return records

    def error_records(self) -> list[dict]:
        return [r for r in self.log_records() if str(r.get("level", "")).upper() in ("ERROR", "FATAL")]

    @property
    def data_location(self) -> str:
        return f"grpc://127.0.0.1:{self.data_port}"

    @property
    def meta_location(self) -> str:
        return f"grpc://127.0.0.1:{self.meta_port}"

    def client(self, meta: bool = False) -> flight.FlightClient:
        return flight.FlightClient(self.meta_location if meta else self.data_location)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        """SIGTERM, wait up to 10 s, then SIGKILL. Returns the exit code (SIGKILL: negative)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=SHUTDOWN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.exit_code = self.proc.returncode
        self._log.close()
        if self in LongbowServer.running:
            LongbowServer.running.remove(self)
        return self.exit_code

    def kill(self) -> int:
        """SIGKILL, as a crash would. The kill is on purpose, so the exit check at teardown passes."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        code = self.proc.returncode
        self.exit_code = 0
        self._log.close()
        if self in LongbowServer.running:
            LongbowServer.running.remove(self)
        return code

    def cleanup(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)


@atexit.register
def _kill_leftover_servers() -> None:
    """Last resort (e.g. an interrupted run): no server outlives the test process."""
    for instance in list(LongbowServer.running):
        if instance.proc.poll() is None:
            instance.proc.kill()


# ---------------------------------------------------------------------------------------------
# Flight helpers


def unique_name(base: str) -> str:
    """A dataset name no other test uses: the base (made name-safe) and a random suffix."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", base).strip("_")[:80]
    return f"{cleaned}-{uuid.uuid4().hex[:8]}"


def path(name: str) -> flight.FlightDescriptor:
    return flight.FlightDescriptor.for_path(name)


def put(client: flight.FlightClient, name: str | None, batches: Iterable[pa.RecordBatch | pa.Table],
        schema: pa.Schema | None = None, descriptor: flight.FlightDescriptor | None = None,
        options: flight.FlightCallOptions | None = None) -> list[dict]:
    """One DoPut; each item is written with write_batch/write_table. Returns the PutResults' JSON."""
    items = list(batches)
    if schema is None:
        schema = items[0].schema
    if descriptor is None:
        descriptor = path(name)
    writer, reader = client.do_put(descriptor, schema, options=options)
    results: list[dict] = []
    try:
        for item in items:
            if isinstance(item, pa.Table):
                writer.write_table(item)
            else:
                writer.write_batch(item)
        writer.done_writing()
        while True:
            buf = reader.read()
            if buf is None:
                break
            results.append(json.loads(buf.to_pybytes()))
    finally:
        writer.close()
    return results


def put_acked(client: flight.FlightClient, name: str, batches: Iterable[pa.RecordBatch]) -> list[dict]:
    """One DoPut that waits for each batch's PutResult before writing the next batch."""
    items = list(batches)
    writer, reader = client.do_put(path(name), items[0].schema)
    results = []
    try:
        for batch in items:
            writer.write_batch(batch)
            buf = reader.read()
            assert buf is not None, "the server sent no PutResult for a batch"
            results.append(json.loads(buf.to_pybytes()))
        writer.done_writing()
        assert reader.read() is None, "the server sent more PutResults than batches"
    finally:
        writer.close()
    return results


def get(client: flight.FlightClient, ticket: bytes | str | dict,
        options: flight.FlightCallOptions | None = None) -> pa.Table:
    if isinstance(ticket, dict):
        ticket = json.dumps(ticket).encode()
    elif isinstance(ticket, str):
        ticket = ticket.encode()
    return client.do_get(flight.Ticket(ticket), options=options).read_all()


def action(client: flight.FlightClient, kind: str, body: bytes | str | dict = b"",
           options: flight.FlightCallOptions | None = None) -> list[dict]:
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    results = client.do_action(flight.Action(kind, body), options=options)
    return [json.loads(r.body.to_pybytes()) for r in results]


def stats(client: flight.FlightClient, options: flight.FlightCallOptions | None = None) -> dict:
    replies = action(client, "get_stats", options=options)
    assert len(replies) == 1, replies
    return replies[0]


def rows_of(client: flight.FlightClient, name: str) -> int:
    return client.get_flight_info(path(name)).total_records


def names(client: flight.FlightClient, criteria: bytes | dict = b"") -> list[str]:
    if isinstance(criteria, dict):
        criteria = json.dumps(criteria).encode()
    return [info.descriptor.path[0].decode() for info in client.list_flights(criteria)]


def flight_message(error: BaseException) -> str:
    """The server's message out of pyarrow's error text."""
    text = str(error)
    match = re.search(r"with message: (.*?)(?:\. gRPC client debug context:|\. Client context:|$)", text, re.S)
    return match.group(1) if match else text


def expect_error(fn: Callable[[], object], status: str, prefix: str,
                 alive: flight.FlightClient | None = None,
                 alive_options: flight.FlightCallOptions | None = None) -> BaseException:
    """fn() must fail with `status` and a server message starting with `prefix`; then, when
    `alive` is given, the server must still answer get_stats."""
    classes, words, code = STATUS[status]
    with pytest.raises((pa.ArrowException, OSError)) as info:
        fn()
    error = info.value
    text = str(error)
    assert isinstance(error, classes), f"expected {status} {classes}, got {type(error).__name__}: {text}"
    assert text.startswith(words) or f"{words}," in text, f"expected {status}: {text}"
    grpc_code = re.search(r"grpc_status:(\d+)", text)
    if grpc_code:
        assert int(grpc_code.group(1)) == code, text
    message = flight_message(error)
    assert message.startswith(prefix), f"message {message!r} does not start with {prefix!r}"
    if alive is not None:
        reply = stats(alive, alive_options)
        assert isinstance(reply["current_memory"], int)
    return error


# ---------------------------------------------------------------------------------------------
# Data


def vectors(rows: int, dims: int, start: int = 0) -> pa.FixedSizeListArray:
    values = np.arange(start * dims, (start + rows) * dims, dtype=np.float32) / np.float32(7)
    return pa.FixedSizeListArray.from_arrays(pa.array(values, pa.float32()), dims)


def simple_batch(rows: int, start: int = 0, dims: int = 4) -> pa.RecordBatch:
    """int64 id + FixedSizeList<float32>[dims] vector, no nulls: start..start+rows."""
    return pa.record_batch({
        "id": pa.array(np.arange(start, start + rows, dtype=np.int64)),
        "vector": vectors(rows, dims, start),
    })


def simple_bytes(rows: int, dims: int = 4) -> int:
    """Bytes of simple_batch buffers: 8 per id + 4 per vector element (no validity bitmaps)."""
    return rows * 8 + rows * dims * 4


def normalize(table: pa.Table) -> pa.Table:
    """One chunk per column with dictionaries unified, for equality checks."""
    return table.unify_dictionaries().combine_chunks()


def assert_tables_equal(got: pa.Table, expected: pa.Table) -> None:
    assert got.schema.equals(expected.schema), f"schema:\n{got.schema}\n!=\n{expected.schema}"
    assert got.num_rows == expected.num_rows
    a, b = normalize(got), normalize(expected)
    for field in expected.schema:
        left, right = a.column(field.name), b.column(field.name)
        if pa.types.is_dictionary(field.type):
            # Dictionaries may be laid out differently; the decoded values must match.
            left = left.cast(field.type.value_type)
            right = right.cast(field.type.value_type)
        assert left.equals(right), f"column {field.name} differs:\n{left}\n!=\n{right}"
