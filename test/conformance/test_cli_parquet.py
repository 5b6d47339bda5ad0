"""The `longbow` CLI with Parquet files that pyarrow writes and reads: embeddings stored as
plain lists (as Parquet writers other than Arrow store them) go in as a vector column, and what
`longbow get -o *.parquet` writes is read back by pyarrow with the vectors as fixed-size lists."""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from support import REPO_ROOT, get

CLI = str(REPO_ROOT / "packages" / "server" / "bin" / "longbow.js")
DIMS = 8
ROWS = 500


def longbow(server, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGBOW_")}
    env["LONGBOW_URL"] = server.data_location
    return subprocess.run(["node", CLI, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)


def table_with_list_embeddings() -> pa.Table:
    rng = np.random.default_rng(7)
    values = rng.random(ROWS * DIMS, dtype=np.float32)
    offsets = np.arange(0, ROWS * DIMS + 1, DIMS, dtype=np.int32)
    return pa.table({
        "id": pa.array(np.arange(ROWS), pa.int64()),
        "embedding": pa.ListArray.from_arrays(pa.array(offsets), pa.array(values)),
        "label": pa.array([None if i % 5 == 0 else f"row {i}" for i in range(ROWS)], pa.string()),
    })


def test_pyarrow_parquet_in_and_out(server, client, name):
    source = table_with_list_embeddings()
    with tempfile.TemporaryDirectory() as directory:
        source_path = Path(directory) / "in.parquet"
        pq.write_table(source, source_path, compression="snappy", row_group_size=200)

        put = longbow(server, "put", name, str(source_path), "--batch-rows", "128")
        assert put.returncode == 0, put.stderr
        assert put.stdout.startswith(f"put {ROWS} rows into {name}")

        # Through Flight, as any pyarrow client sees it: the lists became a vector column.
        stored = get(client, name)
        assert stored.schema.field("embedding").type == pa.list_(pa.float32(), DIMS)
        assert stored.column("id").to_pylist() == source.column("id").to_pylist()
        assert np.array_equal(
            stored.column("embedding").combine_chunks().flatten().to_numpy(),
            source.column("embedding").combine_chunks().flatten().to_numpy(),
        )
        assert stored.column("label").to_pylist() == source.column("label").to_pylist()

        out_path = Path(directory) / "out.parquet"
        out = longbow(server, "get", name, "-o", str(out_path))
        assert out.returncode == 0, out.stderr
        written = pq.read_table(out_path)
        assert written.schema.field("embedding").type == pa.list_(pa.float32(), DIMS)
        assert written.column("id").to_pylist() == source.column("id").to_pylist()
        assert written.column("embedding").to_pylist() == stored.column("embedding").to_pylist()
        assert written.column("label").to_pylist() == source.column("label").to_pylist()
