"""Client throughput: the TypeScript client (@longbow/client) against pyarrow's Flight client,
on the same Longbow server, with the same data, in the same run.

    npm run bench:client                  # = BENCH_ONLY=client bash scripts/bench.sh
    BENCH_REPEAT=9 .cache/venv/bin/python bench/client_throughput.py

One Longbow server (node --import tsx packages/server/src/main.ts, LONGBOW_MAX_MEMORY=0,
LONGBOW_WAL_SYNC=$BENCH_WAL_SYNC, default off) runs as a child process; so does one Node
worker (bench/client-throughput-worker.ts) holding a connected `Longbow` client. The data is
bench/flight_throughput.py's: BENCH_ROWS (default 100,000) rows of `id` int64 and `vector`
FixedSizeList<float32>[128] (~51 MB), as one single batch and as 8192-row batches. The worker
reads the same tables from Arrow IPC files written here.

Per layout and operation, each client makes BENCH_WARMUP (default 5) warm-up calls, then
BENCH_REPEAT (default 5) timed calls, interleaved in ABBA order: pyarrow, TS, TS, pyarrow,
pyarrow, TS, ... so that work one call leaves behind for the next (the server's collector, a
client's deferred marking) falls after each client equally often. Each call is
timed inside its own client process around the client call alone:
  - DoPut: pyarrow do_put + write_table + done_writing + read every PutResult + close;
           TS `await lb.put(dataset, table)` (which reads every acknowledgement). Each put goes
           to a new dataset; the one before it is dropped afterwards (not timed).
  - DoPut xN: BENCH_PUT_LOOP (default 10) of those puts back to back, each to a new dataset,
           timed as a whole (the figure is per put); the datasets are dropped afterwards (not
           timed). Sustained ingest, where a single timed put is one call's latency.
  - DoGet: pyarrow do_get(name).read_all(); TS `await lb.get(name)` (a Table). Both read the
           same dataset, put by pyarrow; the TS result is checked once against the table.
  - DoGet xN: BENCH_GET_LOOP (default 10) of those gets back to back, each result dropped,
           timed as a whole (the figure is per get). A single call leaves the release of its
           result out of the timing in pyarrow (freed when dropped, after the call) but not in
           TS (V8 collects it during a later call); a loop times both alike.
Each timed call starts after an untimed pause of BENCH_SETTLE_MS (default 250): without it, work
one client's process puts off past its call (V8's marking and sweeping) ran during the other
client's timed call, both clients and the server sharing the machine's cores.
A figure is table.nbytes / 1e6 / median seconds (MB/s); the ratio is TS / pyarrow. Goal: >= 0.9.
The worker calls the client's configureConcurrentMarking(BENCH_TS_CONCURRENT_MARKING) at startup
(default auto: V8's concurrent marking off on 2 cores or fewer, as docs/client.md advises);
BENCH_TS_CONCURRENT_MARKING=v8 leaves V8's default. The setting is printed and saved.
BENCH_TS_MALLOC_HUGE_PAGES=on starts the worker with glibc.malloc.hugetlb=1 in GLIBC_TUNABLES
(large allocations on transparent huge pages, see docs/client.md, "Memory pages for large
transfers"); the default, off, starts it with any glibc.malloc.hugetlb removed.
BENCH_SERVER_MALLOC_HUGE_PAGES does the same for the server (bench/flight_throughput.py). The
settings, and what the worker and the server report about their memory pages, are printed and
saved.
Results: a table on stdout and .cache/bench/client_throughput.json. Exit status 0 whatever the
ratio; non-zero only when the bench itself fails.
"""
from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import datetime as _dt
import os
import platform
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight

from flight_throughput import (  # same directory: servers, data and environment shared with the Flight bench
    DIM, OUT_DIR, REPEAT, ROOT, ROWS, SETTLE_S, START_TIMEOUT_S, WAL_SYNC, WARMUP, _git_state, _node_version, _spawn,
    _stop_children, interleaved, layouts, longbow_gc_state, longbow_memory_pages, make_table, malloc_huge_pages_env, memory_host,
    start_longbow, SERVER_MALLOC_HUGE_PAGES,
)

OUT_JSON = OUT_DIR / "client_throughput.json"
# Gets per timed call of the "DoGet xN" rows, puts per timed call of the "DoPut xN" rows.
GET_LOOP = int(os.environ.get("BENCH_GET_LOOP", "10"))
PUT_LOOP = int(os.environ.get("BENCH_PUT_LOOP", "10"))
# on: the TS worker starts with glibc.malloc.hugetlb=1 (see the docstring); off: without.
TS_MALLOC_HUGE_PAGES = os.environ.get("BENCH_TS_MALLOC_HUGE_PAGES", "off")
TARGET_RATIO = 0.9
# What the TS worker reports about its garbage collection setting and memory pages (see the docstring).
WORKER_INFO: dict = {}
# What the server logged at startup about the same (read once, after it starts).
SERVER_INFO: dict = {}


class PyarrowClient:
    name = "pyarrow"

    def __init__(self, port: int) -> None:
        self.client = flight.FlightClient(f"grpc://127.0.0.1:{port}")
        self.client.wait_for_available(timeout=START_TIMEOUT_S)

    def put(self, table: pa.Table, dataset: str) -> float:
        descriptor = flight.FlightDescriptor.for_path(dataset)
        start = time.perf_counter()
        writer, reader = self.client.do_put(descriptor, table.schema)
        writer.write_table(table)
        writer.done_writing()
        while reader.read() is not None:
            pass
        writer.close()
        return time.perf_counter() - start

    def put_loop(self, table: pa.Table, datasets: list[str]) -> float:
        start = time.perf_counter()
        for dataset in datasets:
            self.put(table, dataset)
        return time.perf_counter() - start

    def get(self, dataset: str) -> tuple[float, pa.Table]:
        start = time.perf_counter()
        got = self.client.do_get(flight.Ticket(dataset.encode())).read_all()
        return time.perf_counter() - start, got

    def get_loop(self, dataset: str, count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            got = self.client.do_get(flight.Ticket(dataset.encode())).read_all()  # the previous one is freed here
        seconds = time.perf_counter() - start
        del got
        return seconds

    def drop(self, dataset: str) -> None:
        list(self.client.do_action(flight.Action("drop_dataset", dataset.encode())))

    def close(self) -> None:
        self.client.close()


def ts_worker_env() -> dict[str, str]:
    """The worker's environment: glibc.malloc.hugetlb=1 in GLIBC_TUNABLES with
    BENCH_TS_MALLOC_HUGE_PAGES=on, no glibc.malloc.hugetlb with off (the default)."""
    return malloc_huge_pages_env(dict(os.environ), TS_MALLOC_HUGE_PAGES, "BENCH_TS_MALLOC_HUGE_PAGES")


class TsClient:
    """The Node worker: one JSON command per line in, one JSON reply per line out."""
    name = "ts"

    def __init__(self, port: int) -> None:
        self.log = OUT_DIR / "client-worker.log"
        self.err = open(self.log, "wb")
        self.proc = _spawn(["node", "--import", "tsx", "bench/client-throughput-worker.ts", f"grpc://127.0.0.1:{port}"],
                           cwd=ROOT, env=ts_worker_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err)

    def call(self, **command) -> dict:
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"TS worker exited ({self.proc.poll()}); see {self.log}: "
                               + self.log.read_text(errors="replace")[-2000:])
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"TS worker: {command['op']} failed: {reply['error']}")
        return reply

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.err.close()


def measure(first, second) -> dict[str, list[float]]:
    """pyarrow's calls (`first`) and the TS client's (`second`), interleaved in ABBA order after
    their warm-up (see the docstring)."""
    return interleaved({"pyarrow": first, "ts": second})


def row_of(op: str, layout: str, times: dict[str, list[float]], nbytes: int, extra: dict) -> dict:
    med = {who: statistics.median(ts) for who, ts in times.items()}
    mbps = {who: nbytes / 1e6 / s for who, s in med.items()}
    return {
        "operation": op,
        "layout": layout,
        "pyarrow_mb_s": round(mbps["pyarrow"], 1),
        "ts_mb_s": round(mbps["ts"], 1),
        "ratio": round(mbps["ts"] / mbps["pyarrow"], 3),
        "pyarrow_spread": round(max(times["pyarrow"]) / min(times["pyarrow"]), 2),
        "ts_spread": round(max(times["ts"]) / min(times["ts"]), 2),
        "pyarrow_seconds": [round(s, 5) for s in times["pyarrow"]],
        "ts_seconds": [round(s, 5) for s in times["ts"]],
        **extra,
    }


def main() -> int:
    if REPEAT < 1:
        raise SystemExit("BENCH_REPEAT must be >= 1")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="longbow-client-bench-"))
    clients: list = []
    rows: list[dict] = []
    try:
        table = make_table(ROWS)
        nbytes = table.nbytes
        print(f"data: {ROWS} rows, id int64 + vector FixedSizeList<float32>[{DIM}], {nbytes / 1e6:.1f} MB; "
              f"{REPEAT} repetitions after {WARMUP} warm-up, interleaved; server with LONGBOW_WAL_SYNC={WAL_SYNC}", flush=True)
        port = start_longbow(workdir)
        SERVER_INFO.update(gc=longbow_gc_state(), memory_pages=longbow_memory_pages())
        print(f"server: V8 concurrent marking {SERVER_INFO['gc']}; memory pages {SERVER_INFO['memory_pages']}", flush=True)
        py = PyarrowClient(port)
        clients.append(py)
        ts = TsClient(port)
        clients.append(ts)
        gc = ts.call(op="info")
        WORKER_INFO.update(gc)
        print(f"TS client: BENCH_TS_CONCURRENT_MARKING={gc['gc_setting']}, V8 concurrent marking "
              + {True: "on", False: "off", None: "left at V8's default"}[gc["concurrent_marking"]]
              + f"; memory pages {gc['memory_pages']}", flush=True)

        counter = {"n": 0}

        def fresh(prefix: str) -> str:
            counter["n"] += 1
            return f"{prefix}-{counter['n']}"

        for index, (layout, t) in enumerate(layouts(table).items()):
            path = workdir / f"layout-{index}.arrow"
            with pa.ipc.new_file(path, t.schema) as writer:
                writer.write_table(t)
            ts.call(op="load", name=layout, path=str(path))

            last = {"pyarrow": None, "ts": None}
            ts_batches = {"n": 0}

            def put_with(who: str, call):
                dataset = fresh(f"client-{who}")
                seconds = call(dataset)
                if last[who] is not None:
                    py.drop(last[who])
                last[who] = dataset
                return seconds

            def py_put() -> float:
                return put_with("pyarrow", lambda d: py.put(t, d))

            def ts_put() -> float:
                def call(d: str) -> float:
                    reply = ts.call(op="put", name=layout, dataset=d)
                    ts_batches["n"] = reply["batches"]
                    return reply["seconds"]
                return put_with("ts", call)

            times = measure(py_put, ts_put)
            rows.append(row_of("DoPut", layout, times, nbytes, {"batches_sent": {"pyarrow": t.to_batches().__len__(), "ts": ts_batches["n"]}}))
            print_row(rows[-1])

            def put_loop_with(who: str, call) -> float:
                datasets = [fresh(f"client-{who}-loop") for _ in range(PUT_LOOP)]
                seconds = call(datasets)
                for dataset in datasets:
                    py.drop(dataset)
                return seconds / PUT_LOOP

            times = measure(lambda: put_loop_with("pyarrow", lambda ds: py.put_loop(t, ds)),
                            lambda: put_loop_with("ts", lambda ds: ts.call(op="putloop", name=layout, datasets=ds)["seconds"]))
            rows.append(row_of(f"DoPut x{PUT_LOOP}", layout, times, nbytes, {}))
            print_row(rows[-1])

            source = last["pyarrow"]
            if not ts.call(op="check", name=layout, dataset=source)["equal"]:
                raise RuntimeError(f"TS client: DoGet of {source} returned different data than was put")
            _, got = py.get(source)
            if not got.equals(t):
                raise RuntimeError(f"pyarrow: DoGet of {source} returned different data than was put")
            times = measure(lambda: py.get(source)[0], lambda: ts.call(op="get", dataset=source)["seconds"])
            rows.append(row_of("DoGet", layout, times, nbytes, {}))
            print_row(rows[-1])
            # The same gets back to back: each client also pays, inside the loop, for releasing
            # the results it drops (pyarrow when the next result replaces it, V8 when it collects).
            times = measure(lambda: py.get_loop(source, GET_LOOP) / GET_LOOP,
                            lambda: ts.call(op="getloop", dataset=source, count=GET_LOOP)["seconds"] / GET_LOOP)
            rows.append(row_of(f"DoGet x{GET_LOOP}", layout, times, nbytes, {}))
            print_row(rows[-1])
            for dataset in last.values():
                if dataset is not None:
                    py.drop(dataset)
    finally:
        for client in clients:
            try:
                client.close()
            except Exception:
                pass
        _stop_children()
        shutil.rmtree(workdir, ignore_errors=True)

    print_table(rows)
    write_json(rows, nbytes)
    return 0


def print_row(row: dict) -> None:
    print(f"  {row['operation']:9} {row['layout']:22} pyarrow {row['pyarrow_mb_s']:8.1f} MB/s  "
          f"TS {row['ts_mb_s']:8.1f} MB/s  ratio {row['ratio']:.2f}", flush=True)


def print_table(rows: list[dict]) -> None:
    header = ("operation", "layout", "pyarrow MB/s", "TS MB/s", "TS/pyarrow", "spread pyarrow/TS")
    body = [(r["operation"], r["layout"], f"{r['pyarrow_mb_s']:.1f}", f"{r['ts_mb_s']:.1f}", f"{r['ratio']:.2f}",
             f"{r['pyarrow_spread']:.1f}x / {r['ts_spread']:.1f}x") for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    right = (False, False, True, True, True, True)

    def fmt(cells) -> str:
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right))

    print()
    print(fmt(header))
    print("  ".join("-" * w for w in widths))
    for cells in body:
        print(fmt(cells))
    print()
    print(f"goal: TS/pyarrow >= {TARGET_RATIO} (MB = 1e6 bytes of table.nbytes; median of {REPEAT} after {WARMUP} warm-up; "
          f"spread = slowest/fastest repetition)")
    below = [r for r in rows if r["ratio"] < TARGET_RATIO]
    print("below the goal: " + "; ".join(f"{r['operation']} {r['layout']} ({r['ratio']:.2f})" for r in below)
          if below else "all rows meet the goal")
    print(f"results: {OUT_JSON.relative_to(ROOT)}")


def write_json(rows: list[dict], nbytes: int) -> None:
    result = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "rows": ROWS,
        "dim": DIM,
        "table_nbytes": nbytes,
        "repeat": REPEAT,
        "warmup": WARMUP,
        "wal_sync": WAL_SYNC,
        "settle_ms": SETTLE_S * 1000,
        "ts_gc": {key: value for key, value in WORKER_INFO.items() if key != "memory_pages"},
        "ts_malloc_huge_pages_setting": TS_MALLOC_HUGE_PAGES,
        "ts_memory_pages": WORKER_INFO.get("memory_pages"),
        "server_malloc_huge_pages_setting": SERVER_MALLOC_HUGE_PAGES,
        "server_gc": SERVER_INFO.get("gc"),
        "server_memory_pages": SERVER_INFO.get("memory_pages"),
        "mb": "1e6 bytes of table.nbytes",
        "target_ratio": TARGET_RATIO,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "pyarrow": pa.__version__,
            "node": _node_version(),
            "memory": memory_host(),
        },
        "git": _git_state(),
        "results": rows,
    }
    OUT_JSON.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        _stop_children()
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
