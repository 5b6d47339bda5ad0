"""Anchor for the throughput bench: the pyarrow (Arrow C++) Flight server, tables kept in memory.

Run as a child process by flight_throughput.py:

    python bench/anchor_server.py

It listens on a free 127.0.0.1 port and prints one line `{"port": N}` to stdout once ready,
then serves until SIGTERM/SIGINT (or until its stdin is closed, so it never outlives the bench).

DoPut reads the whole stream (read_all) and stores it under the PATH descriptor's first
component (the bench puts every table under a new name, so all are kept); DoGet with ticket = dataset name streams it back
as a RecordBatchStream (batches as they were put). DoAction `drop_dataset` is accepted too.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading

import pyarrow.flight as flight


class AnchorServer(flight.FlightServerBase):
    def __init__(self, location: str = "grpc://127.0.0.1:0") -> None:
        super().__init__(location)
        self._tables: dict[str, object] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _name(descriptor: flight.FlightDescriptor) -> str:
        if descriptor.descriptor_type == flight.DescriptorType.PATH and descriptor.path:
            return descriptor.path[0].decode()
        return descriptor.command.decode()

    def do_put(self, context, descriptor, reader, writer):
        table = reader.read_all()
        with self._lock:
            self._tables[self._name(descriptor)] = table

    def do_get(self, context, ticket):
        name = ticket.ticket.decode()
        with self._lock:
            table = self._tables.get(name)
        if table is None:
            raise flight.FlightServerError(f"unknown dataset {name!r}")
        return flight.RecordBatchStream(table)

    def do_action(self, context, action):
        if action.type == "drop_dataset":
            with self._lock:
                self._tables.pop(action.body.to_pybytes().decode(), None)
            return []
        raise flight.FlightServerError(f"unknown action {action.type!r}")

    def list_actions(self, context):
        return [("drop_dataset", "Forget a stored table.")]


def main() -> None:
    server = AnchorServer()
    print(json.dumps({"port": server.port}), flush=True)

    def stop(*_args) -> None:
        # shutdown() blocks until serve() returns; do it off the signal handler's thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def watch_stdin() -> None:
        # The parent holds our stdin open; EOF means it died without stopping us.
        try:
            sys.stdin.buffer.read()
        finally:
            stop()

    if os.environ.get("ANCHOR_WATCH_STDIN", "1") == "1":
        threading.Thread(target=watch_stdin, daemon=True).start()
    server.serve()


if __name__ == "__main__":
    main()
