"""Vector search: Longbow's raw index (usearch HNSW, our exact kernel, DatasetIndex) against a
same-run faiss anchor (IndexHNSWFlat with the same M, efConstruction and ef).

    npm run bench:search                  # via scripts/bench.sh (creates .cache/venv)
    BENCH_SEARCH_BIG=1 npm run bench:search    # also 1M x 128

Data: seeded clustered vectors (a low-rank Gaussian mixture, packages/server/test/vectors.ts),
generated once by the Node side (bench/search_index.ts) into .cache/bench/*.f32 together with
the exact top-100 of every query; this script reads them with numpy.fromfile. Euclidean.

Measured, for ours and faiss in the same run:
  - build rate (vectors/s, BENCH_SEARCH_BUILD_THREADS threads each);
  - single-query QPS on one thread (every query once, one call each), and recall@10, at each ef
    of BENCH_SEARCH_EFS; repeated BENCH_SEARCH_REPEAT times interleaved ours/faiss (median);
  - batched QPS (all queries in one call) on 1 thread and on BENCH_SEARCH_BUILD_THREADS;
  - ours only: exact scan GB/s, and DatasetIndex (worker thread, exact re-scoring) single and
    batched QPS, indexing rate and event-loop delay during the ingest;
  - end to end through Flight: flight_end_to_end() below (a server process, pyarrow client).

Environment: BENCH_SEARCH_ROWS (100000), BENCH_SEARCH_QUERIES (1000), BENCH_SEARCH_M (16),
BENCH_SEARCH_EF_CONSTRUCTION (128), BENCH_SEARCH_EFS (16,32,64,128), BENCH_SEARCH_REPEAT (3),
BENCH_SEARCH_BUILD_THREADS (2), BENCH_SEARCH_STORAGES (i8+rescore,bf16+rescore,i8,bf16: the
graph's vector precision, `+rescore` meaning its candidates re-scored exactly as the server does,
in process; the first is the one the goal line reports), BENCH_SEARCH_BIG (0: when 1,
everything again with 1,000,000 rows).
Results: a table on stdout and .cache/bench/search.json. Exit status is non-zero only when the
bench itself fails.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / ".cache" / "bench"
OUT_JSON = OUT_DIR / "search.json"

ROWS = int(os.environ.get("BENCH_SEARCH_ROWS", "100000"))
QUERIES = int(os.environ.get("BENCH_SEARCH_QUERIES", "1000"))
M = int(os.environ.get("BENCH_SEARCH_M", "16"))
EF_CONSTRUCTION = int(os.environ.get("BENCH_SEARCH_EF_CONSTRUCTION", "128"))
EFS = [int(ef) for ef in os.environ.get("BENCH_SEARCH_EFS", "16,32,64,128").split(",")]
REPEAT = int(os.environ.get("BENCH_SEARCH_REPEAT", "3"))
# Untimed DoExchange runs first: the server's batch path runs at about half speed the first
# time and reaches its pace by the third or fourth (as single queries get 100 warm-ups).
EXCHANGE_WARMUP = 3
BUILD_THREADS = int(os.environ.get("BENCH_SEARCH_BUILD_THREADS", "2"))
STORAGES = os.environ.get("BENCH_SEARCH_STORAGES", "i8+rescore,bf16+rescore,i8,bf16").split(",")
# Graphs to build: one per precision, whether searched raw or re-scored.
GRAPHS = list(dict.fromkeys(storage.split("+")[0] for storage in STORAGES))
BIG = os.environ.get("BENCH_SEARCH_BIG", "0") == "1"
DIM = 128
K = 10
RECALL_TARGET = 0.95


def _set_pdeathsig() -> None:
    """In the child before exec (Linux): get SIGTERM if the bench dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except Exception:
        pass


class NodeSide:
    """bench/search_index.ts as a child: one JSON command per line, one JSON reply per line."""

    def __init__(self, rows: int) -> None:
        command = [
            "node", "--import", "tsx", str(ROOT / "bench" / "search_index.ts"),
            "--rows", str(rows), "--dimensions", str(DIM), "--queries", str(QUERIES),
            "--m", str(M), "--ef-construction", str(EF_CONSTRUCTION), "--build-threads", str(BUILD_THREADS),
        ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            preexec_fn=_set_pdeathsig if sys.platform == "linux" else None,
        )
        self.ready = self._read()

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the Node side exited (status {self.process.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"the Node side failed: {reply['error']}")
        return reply

    def call(self, **command) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        try:
            self.process.stdin.write('{"cmd":"quit"}\n')
            self.process.stdin.flush()
            self.process.wait(timeout=10)
        except Exception:
            self.process.kill()


def recall_at_10(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(found[q][:K]) & set(truth[q][:K])) / K for q in range(len(found))]))


class Faiss:
    """The anchor: faiss IndexHNSWFlat (float32 vectors), same M / efConstruction / ef."""

    def __init__(self, data: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> None:
        import faiss

        self.faiss = faiss
        self.queries = queries
        self.truth = truth
        self.index = faiss.IndexHNSWFlat(DIM, M)
        self.index.hnsw.efConstruction = EF_CONSTRUCTION
        faiss.omp_set_num_threads(BUILD_THREADS)
        started = time.perf_counter()
        self.index.add(data)
        seconds = time.perf_counter() - started
        self.build = {"build_seconds": seconds, "build_rate": len(data) / seconds}

    def single(self, ef: int) -> dict:
        self.faiss.omp_set_num_threads(1)
        self.index.hnsw.efSearch = ef
        for q in range(min(100, len(self.queries))):  # warm-up, as ours
            self.index.search(self.queries[q:q + 1], K)
        found = np.empty((len(self.queries), K), dtype=np.int64)
        started = time.perf_counter()
        for q in range(len(self.queries)):
            found[q] = self.index.search(self.queries[q:q + 1], K)[1][0]
        seconds = time.perf_counter() - started
        return {"ef": ef, "qps": len(self.queries) / seconds, "recall": recall_at_10(found, self.truth)}

    def batched(self, ef: int, threads: int) -> dict:
        self.faiss.omp_set_num_threads(threads)
        self.index.hnsw.efSearch = ef
        started = time.perf_counter()
        found = self.index.search(self.queries, K)[1]
        seconds = time.perf_counter() - started
        return {"ef": ef, "threads": threads, "qps": len(self.queries) / seconds, "recall": recall_at_10(found, self.truth)}


def _start_server(workdir: Path) -> tuple[subprocess.Popen, str, Path]:
    """A Longbow server (memory only: the WAL is not what this measures) with the bench's M and
    efConstruction; returns the process, its data address and its log file."""
    sys.path.insert(0, str(ROOT / "bench"))
    from flight_throughput import LONGBOW_SERVE, longbow_env  # one place builds bench servers' command and environment

    log = workdir / "server.log"
    env = longbow_env(workdir / "data", "off", LONGBOW_VECTOR_INDEX="hnsw", LONGBOW_HNSW_M=str(M), LONGBOW_HNSW_EF_CONSTRUCTION=str(EF_CONSTRUCTION),
                      LONGBOW_LOG_LEVEL="info")
    with open(log, "wb") as out:
        proc = subprocess.Popen(LONGBOW_SERVE, cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_set_pdeathsig)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if '"Longbow listening"' in line:
                return proc, json.loads(line)["data_addr"], log
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def flight_end_to_end(rows: int, files: dict) -> dict | None:
    """End-to-end search through a Longbow server from pyarrow.flight: DoPut the data as
    `id` + `vector`, wait until check_readiness says READY, then (a) single-query latency over
    DoGet search tickets (one query per call, p50/p99) and (b) batched search over DoExchange
    (all queries in batches of 1000). ef = 64 (the server default)."""
    import tempfile

    import pyarrow as pa
    import pyarrow.flight as flight

    data = np.fromfile(files["data"], dtype=np.float32).reshape(-1, DIM)
    queries = np.fromfile(files["queries"], dtype=np.float32).reshape(-1, DIM)
    truth = np.fromfile(files["truth"], dtype=np.int32).reshape(QUERIES, -1)
    with tempfile.TemporaryDirectory(prefix="longbow-search-bench-") as workdir:
        proc, address, log = _start_server(Path(workdir))
        try:
            client = flight.FlightClient(f"grpc://{address}")
            schema = pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), DIM))])
            started = time.perf_counter()
            writer, reader = client.do_put(flight.FlightDescriptor.for_path("bench"), schema)
            for first in range(0, rows, 50_000):
                block = data[first:first + 50_000]
                writer.write_batch(pa.record_batch({
                    "id": pa.array(np.arange(first, first + len(block), dtype=np.int64)),
                    "vector": pa.FixedSizeListArray.from_arrays(pa.array(block.reshape(-1)), DIM),
                }, schema=schema))
            writer.done_writing()
            writer.close()
            put_seconds = time.perf_counter() - started
            while True:
                [body] = [json.loads(r.body.to_pybytes()) for r in client.do_action(flight.Action("check_readiness", b"bench"))]
                if body["status"] == "READY":
                    break
                time.sleep(0.5)
            ready_seconds = time.perf_counter() - started
            print(f"Flight: put {rows:,} rows in {put_seconds:.1f} s, index READY after {ready_seconds:.1f} s", flush=True)

            def ticket(q: int) -> flight.Ticket:
                return flight.Ticket(json.dumps({"search": {"dataset": "bench", "vector": queries[q].tolist(), "k": K}}).encode())

            for q in range(min(100, QUERIES)):  # warm-up
                client.do_get(ticket(q)).read_all()
            latencies = []
            found = np.empty((QUERIES, K), dtype=np.int64)
            for q in range(QUERIES):
                t0 = time.perf_counter()
                table = client.do_get(ticket(q)).read_all()
                latencies.append(time.perf_counter() - t0)
                found[q] = table.column("id").to_numpy()
            single = {
                "p50_ms": float(np.percentile(latencies, 50) * 1000), "p99_ms": float(np.percentile(latencies, 99) * 1000),
                "qps": QUERIES / sum(latencies), "recall": recall_at_10(found, truth),
            }
            query_schema = pa.schema([("vector", pa.list_(pa.float32(), DIM))])
            runs = []
            for run in range(EXCHANGE_WARMUP + REPEAT):
                t0 = time.perf_counter()
                writer, stream = client.do_exchange(flight.FlightDescriptor.for_path("bench"))
                writer.begin(query_schema)
                for first in range(0, QUERIES, 1000):
                    block = queries[first:first + 1000]
                    writer.write_batch(pa.record_batch({"vector": pa.FixedSizeListArray.from_arrays(pa.array(block.reshape(-1)), DIM)}, schema=query_schema))
                writer.done_writing()
                results = stream.read_all()
                writer.close()
                if run >= EXCHANGE_WARMUP:
                    runs.append(QUERIES / (time.perf_counter() - t0))
            ids = results.column("id").to_numpy().reshape(QUERIES, K)
            batched = {"qps": statistics.median(runs), "recall": recall_at_10(ids, truth)}
            client.close()
            return {"put_seconds": put_seconds, "ready_seconds": ready_seconds, "single": single, "exchange": batched}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def measure(rows: int) -> dict:
    print(f"\n== {rows:,} x {DIM} clustered, {QUERIES} queries, M={M}, efConstruction={EF_CONSTRUCTION} ==", flush=True)
    node = NodeSide(rows)
    try:
        files = node.ready["files"]
        print(f"data: {files['data']} (ready in {node.ready['generated_seconds']:.1f} s)", flush=True)
        data = np.fromfile(files["data"], dtype=np.float32).reshape(-1, DIM)
        queries = np.fromfile(files["queries"], dtype=np.float32).reshape(-1, DIM)
        truth = np.fromfile(files["truth"], dtype=np.int32).reshape(QUERIES, -1)
        result: dict = {"rows": rows, "dimensions": DIM, "queries": QUERIES, "m": M, "ef_construction": EF_CONSTRUCTION}
        result["exact"] = node.call(cmd="exact")
        print(f"exact scan: {result['exact']['exact_single_gbps']:.1f} GB/s per query (one thread), "
              f"{result['exact']['exact_batch64_gbps_per_query']:.1f} GB/s per query in batches of 64", flush=True)
        result["build"] = {storage: node.call(cmd="build", storage=storage) for storage in GRAPHS}
        anchor = Faiss(data, queries, truth)
        result["build"]["faiss"] = anchor.build
        for name, build in result["build"].items():
            print(f"build {name}: {build['build_rate']:,.0f} vectors/s ({BUILD_THREADS} threads)", flush=True)

        single: dict[str, dict[int, list[dict]]] = {name: {ef: [] for ef in EFS} for name in [*STORAGES, "faiss"]}
        for _ in range(REPEAT):  # interleaved so that machine noise hits both alike
            for ef in EFS:
                for storage in STORAGES:
                    single[storage][ef].append(node.call(cmd="single", storage=storage, ef=ef))
                single["faiss"][ef].append(anchor.single(ef))
        result["single"] = {
            name: {str(ef): {"qps": median_of(runs, "qps"), "recall": runs[0]["recall"], "runs": [run["qps"] for run in runs]} for ef, runs in by_ef.items()}
            for name, by_ef in single.items()
        }
        result["batched"] = {}
        for threads in sorted({1, BUILD_THREADS}):
            for ef in EFS:
                for storage in STORAGES:
                    runs = [node.call(cmd="batched", storage=storage, ef=ef, threads=threads) for _ in range(REPEAT)]
                    result["batched"].setdefault(storage, {})[f"{ef}/{threads}"] = {"qps": median_of(runs, "qps"), "recall": runs[0]["recall"]}
                runs = [anchor.batched(ef, threads) for _ in range(REPEAT)]
                result["batched"].setdefault("faiss", {})[f"{ef}/{threads}"] = {"qps": median_of(runs, "qps"), "recall": runs[0]["recall"]}
        del anchor
        print("DatasetIndex: ingest, background indexing, searches ...", flush=True)
        result["dataset_index"] = node.call(cmd="dataset", ef=64)
        result["flight"] = flight_end_to_end(rows, files)
        report(result)
        return result
    finally:
        node.close()


def report(result: dict) -> None:
    faiss_single = result["single"]["faiss"]
    print(f"\nSingle-query search, one thread, k={K} (QPS median of {REPEAT}; ratio = ours / faiss):")
    header = f"{'ef':>5} | {'faiss QPS':>10} {'recall':>7}"
    for storage in STORAGES:
        header += f" | {'ours ' + storage + ' QPS':>15} {'recall':>7} {'ratio':>6}"
    print(header)
    for ef in EFS:
        anchor = faiss_single[str(ef)]
        line = f"{ef:>5} | {anchor['qps']:>10,.0f} {anchor['recall']:>7.3f}"
        for storage in STORAGES:
            ours = result["single"][storage][str(ef)]
            line += f" | {ours['qps']:>15,.0f} {ours['recall']:>7.3f} {ours['qps'] / anchor['qps']:>6.2f}"
        print(line)
    print(f"\nBatched search ({QUERIES} queries per call), QPS:")
    for key in result["batched"]["faiss"]:
        ef, threads = key.split("/")
        anchor = result["batched"]["faiss"][key]
        line = f"  ef {ef:>4}, {threads} thread(s): faiss {anchor['qps']:>9,.0f}"
        for storage in STORAGES:
            ours = result["batched"][storage][key]
            line += f" | ours {storage} {ours['qps']:>9,.0f} ({ours['qps'] / anchor['qps']:.2f}x, recall {ours['recall']:.3f})"
        print(line)
    goal = [
        f"ef {ef}: {result['single'][STORAGES[0]][str(ef)]['qps'] / faiss_single[str(ef)]['qps']:.2f}x"
        for ef in EFS if result["single"][STORAGES[0]][str(ef)]["recall"] >= RECALL_TARGET
    ]
    print(f"\nGoal (recall@10 >= {RECALL_TARGET} at >= 1.0x faiss single-thread QPS), ours {STORAGES[0]}: {', '.join(goal) or 'no ef reaches the recall target'}")
    ds = result["dataset_index"]
    print(f"DatasetIndex (worker thread, exact re-scoring), ef {ds['ef']}: indexing {ds['index_rate']:,.0f} vectors/s in the background; "
          f"single {ds['single_qps']:,.0f} QPS (recall {ds['single_recall']:.3f}), batched {ds['batched_qps']:,.0f} QPS "
          f"(recall {ds['batched_recall']:.3f}); event loop during ingest max {ds['event_loop_max_ms']:.1f} ms, "
          f"p99 {ds['event_loop_p99_ms']:.1f} ms (V8 concurrent marking {'on' if ds.get('gc_concurrent_marking') else 'off'}, as the server sets it); "
          f"index memory {ds['memory_bytes'] / 2**20:,.0f} MiB")
    flight_result = result["flight"]
    raw = result["batched"][STORAGES[0]].get(f"64/{BUILD_THREADS}") or result["batched"][STORAGES[0]].get("64/1")
    single, exchange = flight_result["single"], flight_result["exchange"]
    print(f"End to end through Flight (pyarrow client, ef 64): DoGet search ticket p50 {single['p50_ms']:.2f} ms, "
          f"p99 {single['p99_ms']:.2f} ms, {single['qps']:,.0f} QPS, recall {single['recall']:.3f}; "
          f"DoExchange batched {exchange['qps']:,.0f} QPS, recall {exchange['recall']:.3f}"
          + (f" = {exchange['qps'] / raw['qps']:.2f}x the raw index batched ({raw['qps']:,.0f} QPS; goal >= 0.5x)" if raw else ""))


def machine() -> dict:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.split("\n")
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "commit": commit, "uncommitted": [line for line in dirty if line]}


def main() -> int:
    results = {"when": _dt.datetime.now(_dt.timezone.utc).isoformat(), "machine": machine(), "runs": []}
    for rows in [ROWS, *([1_000_000] if BIG and ROWS != 1_000_000 else [])]:
        results["runs"].append(measure(rows))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    OUT_JSON.write_text(json.dumps(results, indent=2))
    print(f"\nsaved {OUT_JSON}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
