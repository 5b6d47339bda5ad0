"""Longbow from Python with pyarrow.flight: put, get with filters, list, actions.

    npm start                                    # a server on localhost:3000, in another terminal
    python examples/python/quickstart.py         # or: python ... grpc://host:port

Needs pyarrow (with flight) and numpy: pip install pyarrow numpy.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight

url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("LONGBOW_URL", "grpc://localhost:3000")
client = flight.FlightClient(url)
token = os.environ.get("LONGBOW_TOKEN")
options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())] if token else [])


def action(kind: str, body: bytes = b"") -> dict:
    return [json.loads(r.body.to_pybytes()) for r in client.do_action(flight.Action(kind, body), options=options)][0]


# A fresh start: drop what an earlier run left behind.
if any(info.descriptor.path[0] == b"py_docs" for info in client.list_flights(options=options)):
    action("drop_dataset", b"py_docs")

rng = np.random.default_rng(0)
rows, dim = 1000, 16
vectors = rng.random((rows, dim), dtype=np.float32)
table = pa.table({
    "id": pa.array(np.arange(rows), pa.int64()),
    "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim),
    "category": pa.array(["even" if i % 2 == 0 else "odd" for i in range(rows)]),
}).replace_schema_metadata({"longbow.metric": "euclidean"})

# DoPut: one PutResult per stored batch, JSON in app_metadata.
writer, reader = client.do_put(flight.FlightDescriptor.for_path("py_docs"), table.schema, options=options)
writer.write_table(table, max_chunksize=250)
writer.done_writing()
acks = []
while (ack := reader.read()) is not None:
    acks.append(json.loads(ack.to_pybytes()))
writer.close()
print(f"stored {sum(a['rows'] for a in acks)} rows in {len(acks)} batches; dataset has {acks[-1]['total_rows']} rows")

# DoGet: a JSON ticket with filters, columns and a limit.
ticket = {"name": "py_docs", "filters": [{"field": "category", "op": "=", "value": "odd"},
                                         {"field": "id", "op": "<", "value": 10}], "columns": ["id", "category"]}
odd = client.do_get(flight.Ticket(json.dumps(ticket).encode()), options=options).read_all()
print(f"odd ids below 10: {odd.column('id').to_pylist()}")

# Everything back, vectors intact.
everything = client.do_get(flight.Ticket(b"py_docs"), options=options).read_all()
same = np.array_equal(everything.column("vector").combine_chunks().flatten().to_numpy().reshape(rows, dim), vectors)
print(f"read back {everything.num_rows} rows; vectors identical: {same}")

# ListFlights and the server's actions.
for info in client.list_flights(options=options):
    if info.descriptor.path[0] == b"py_docs":
        print(f"listed py_docs: {info.total_records} rows, schema metric {info.schema.metadata[b'longbow.metric'].decode()}")
stats = action("get_stats")
print(f"server holds {stats['datasets']} dataset(s), {stats['current_memory']} bytes")
