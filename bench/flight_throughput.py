"""Flight DoPut/DoGet throughput: Longbow against a same-run pyarrow (Arrow C++) anchor.

    npm run bench                         # via scripts/bench.sh (creates .cache/venv)
    BENCH_REPEAT=5 .cache/venv/bin/python bench/flight_throughput.py

Both servers run as child processes on free 127.0.0.1 ports during the same run:
  - ours:   node --import tsx packages/server/src/main.ts (LONGBOW_MAX_MEMORY=0,
            LONGBOW_WAL_SYNC=$BENCH_WAL_SYNC, default off: memory only, like the anchor;
            BENCH_SERVER_MALLOC_HUGE_PAGES=on starts it with glibc.malloc.hugetlb=1, see
            docs/performance.md, "Memory pages"; default off)
  - anchor: bench/anchor_server.py, a pyarrow flight.FlightServerBase keeping tables in memory

Data: BENCH_ROWS (default 100,000) rows of `id` int64 and `vector` FixedSizeList<float32>[128],
random with a fixed seed (~51 MB), in two layouts: one single batch, and 8192-row batches.

For each layout and operation (DoPut, DoGet) each server gets BENCH_WARMUP (default 5) warm-up calls, then
BENCH_REPEAT (default 5) timed calls, interleaved in ABBA order (ours, anchor, anchor, ours,
ours, ...) so that machine noise, and work one call leaves behind for the next, hit both
alike. Each timed call starts after an untimed pause of BENCH_SETTLE_MS (default 250), so that
work a server put off until after its call (V8's incremental marking, freeing memory) runs
before the other server's call rather than during it. A figure is table.nbytes / 1e6 /
median seconds (MB/s).
Both servers keep everything they receive: every put goes to a new dataset name, so neither
can reuse the memory of an earlier put (a store that drops or overwrites between puts would
measure allocator reuse, not ingest). DoGet reads the dataset of the latest put. Results: a table on stdout and .cache/bench/flight_throughput.json.

Exit status is 0 whatever the ratio (targets are printed); non-zero only when the bench
itself fails (a server does not start, a call fails, DoGet returns wrong data).
"""
from __future__ import annotations

import atexit
import datetime as _dt
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / ".cache" / "bench"
OUT_JSON = OUT_DIR / "flight_throughput.json"

ROWS = int(os.environ.get("BENCH_ROWS", "100000"))
DIM = 128
SEED = 42
SMALL_BATCH_ROWS = 8192
REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
# Untimed pause before each timed call (see the docstring); shared with the client bench.
SETTLE_S = float(os.environ.get("BENCH_SETTLE_MS", "250")) / 1000
WARMUP = int(os.environ.get("BENCH_WARMUP", "5"))
WAL_SYNC = os.environ.get("BENCH_WAL_SYNC", "off")
START_TIMEOUT_S = float(os.environ.get("BENCH_START_TIMEOUT", "60"))
DATASET = "bench_throughput"

TARGET_NOW = 0.8
TARGET_GOAL = 1.0
# What our server logged at startup about its collector and memory pages (read once, after it starts).
SERVER_INFO: dict = {}


# ---------------------------------------------------------------------------------------------
# Child processes: started in their own process group, killed on every way out.

_children: list[subprocess.Popen] = []


def _set_pdeathsig() -> None:
    """In the child before exec (Linux): get SIGTERM if the bench dies, even by SIGKILL."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except Exception:
        pass


def _spawn(args: list[str], **kwargs) -> subprocess.Popen:
    preexec = _set_pdeathsig if sys.platform.startswith("linux") else None
    proc = subprocess.Popen(args, start_new_session=True, preexec_fn=preexec, **kwargs)
    _children.append(proc)
    return proc


def _stop_children() -> None:
    for proc in _children:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 10
    for proc in _children:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        if proc.stdin:
            try:
                proc.stdin.close()
            except OSError:
                pass
    _children.clear()


def _on_signal(signum, _frame) -> None:
    # Turn SIGTERM/SIGHUP into an exception so `finally` blocks and atexit run.
    raise SystemExit(128 + signum)


atexit.register(_stop_children)
signal.signal(signal.SIGTERM, _on_signal)
if hasattr(signal, "SIGHUP"):
    signal.signal(signal.SIGHUP, _on_signal)


def _wait_for(predicate: Callable[[], object], proc: subprocess.Popen, what: str, log: Path):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
            raise RuntimeError(f"{what} exited with status {proc.returncode} before listening:\n{tail}")
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start listening within {START_TIMEOUT_S:.0f} s (log: {log})")


# The data-plane benches measure Flight and the log, not graph building: a dataset of 100k x 128
# vectors would otherwise start an HNSW build in the background after every put, competing for
# the same cores. BENCH_VECTOR_INDEX=hnsw measures ingest with indexing on (the server default).
VECTOR_INDEX = os.environ.get("BENCH_VECTOR_INDEX", "exact")
# BENCH_SERVER_MALLOC_HUGE_PAGES=on starts every bench server with glibc.malloc.hugetlb=1 in
# GLIBC_TUNABLES (docs/performance.md, "Memory pages"); off (the default) with it removed.
SERVER_MALLOC_HUGE_PAGES = os.environ.get("BENCH_SERVER_MALLOC_HUGE_PAGES", "off")


def memory_host() -> dict:
    """What the kernel says about memory that shapes these figures: its transparent huge page
    mode, and whether free memory is handed back to a VM's host (virtio-balloon free page
    reporting; the Flight bench's late puts then meet memory the host took back, see
    docs/performance.md, "Memory pages")."""
    try:
        thp = re.search(r"\[(\w+)\]", Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text())
    except OSError:
        thp = None
    reporting = Path("/sys/module/page_reporting").exists() and Path("/sys/bus/virtio/drivers/virtio_balloon").exists()
    return {"thp": thp.group(1) if thp else None, "free_page_reporting": reporting}


def malloc_huge_pages_env(env: dict[str, str], setting: str, variable: str) -> dict[str, str]:
    """`env` with glibc.malloc.hugetlb=1 in GLIBC_TUNABLES (setting "on") or without any
    glibc.malloc.hugetlb (setting "off"); other tunables are kept. `variable` names the setting
    in the error for any other value."""
    if setting not in ("on", "off"):
        raise SystemExit(f"{variable} must be on or off, not {setting!r}")
    pairs = [pair for pair in env.get("GLIBC_TUNABLES", "").split(":")
             if pair and not pair.startswith("glibc.malloc.hugetlb=")]
    if setting == "on":
        pairs.append("glibc.malloc.hugetlb=1")
    if pairs:
        env["GLIBC_TUNABLES"] = ":".join(pairs)
    else:
        env.pop("GLIBC_TUNABLES", None)
    return env


def longbow_env(data: Path, wal_sync: str, **extra: str) -> dict[str, str]:
    """Environment for a bench server: free loopback ports, `data` as its directory, no memory
    limit, LONGBOW_VECTOR_INDEX=$BENCH_VECTOR_INDEX (default exact: no background graph builds),
    memory pages as BENCH_SERVER_MALLOC_HUGE_PAGES says."""
    env = dict(os.environ)
    env.update({
        "LONGBOW_VECTOR_INDEX": VECTOR_INDEX,
        "LONGBOW_LISTEN_ADDR": "127.0.0.1:0",
        "LONGBOW_META_ADDR": "127.0.0.1:0",
        "LONGBOW_METRICS_ADDR": "127.0.0.1:0",
        "LONGBOW_DATA_PATH": str(data),
        "LONGBOW_MAX_MEMORY": "0",
        "LONGBOW_WAL_SYNC": wal_sync,
        **extra,
    })
    return malloc_huge_pages_env(env, SERVER_MALLOC_HUGE_PAGES, "BENCH_SERVER_MALLOC_HUGE_PAGES")


# Our server, as `npm start` runs it (every bench that starts one uses this command).
LONGBOW_SERVE = ["node", "--import", "tsx", "packages/server/src/main.ts"]


def start_longbow(workdir: Path) -> int:
    log = OUT_DIR / "longbow-server.log"
    data = workdir / "longbow-data"
    data.mkdir()
    # The anchor keeps tables in memory only; so does ours by default (BENCH_WAL_SYNC=off).
    # BENCH_WAL_SYNC=fsync measures the durable path (the write-ahead log's cost).
    env = longbow_env(data, WAL_SYNC)
    with open(log, "wb") as out:
        proc = _spawn(LONGBOW_SERVE, cwd=ROOT, env=env,
                      stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)

    def port() -> int | None:
        for line in log.read_text(errors="replace").splitlines():
            if '"Longbow listening"' not in line:
                continue
            try:
                addr = json.loads(line)["data_addr"]
            except (ValueError, KeyError):
                match = re.search(r'"data_addr":"[^"]*:(\d+)"', line)
                return int(match.group(1)) if match else None
            return int(addr.rsplit(":", 1)[1])
        return None

    return _wait_for(port, proc, "Longbow server", log)


def _startup_entry(key: str, fields: tuple[str, ...]) -> dict:
    """`fields` of the first line of the bench server's log that has `key`, or {}."""
    log = OUT_DIR / "longbow-server.log"
    for line in log.read_text(errors="replace").splitlines():
        if f'"{key}"' in line:
            try:
                entry = json.loads(line)
            except ValueError:
                return {}
            return {field: entry.get(field) for field in fields}
    return {}


def longbow_gc_state() -> dict:
    """What the bench server logged at startup about V8's concurrent marking
    (LONGBOW_GC_CONCURRENT_MARKING): whether it runs, the setting, the cores counted."""
    return _startup_entry("gc_concurrent_marking", ("gc_concurrent_marking", "setting", "cores"))


def longbow_memory_pages() -> dict:
    """What the bench server logged at startup about huge pages for large allocations."""
    return _startup_entry("malloc_huge_pages", ("malloc_huge_pages", "thp", "glibc_hugetlb", "glibc"))


def start_anchor() -> int:
    log = OUT_DIR / "anchor-server.log"
    with open(log, "wb") as err:
        # stdin stays a pipe we never write: the anchor exits when it sees EOF (bench gone).
        proc = _spawn([sys.executable, str(ROOT / "bench" / "anchor_server.py")], cwd=ROOT,
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
    line = {}

    def port() -> int | None:
        # One line {"port": N} on stdout once the server is bound.
        if not line:
            raw = proc.stdout.readline()
            if raw:
                line.update(json.loads(raw))
        return line.get("port")

    return _wait_for(port, proc, "anchor server", log)


# ---------------------------------------------------------------------------------------------
# Data and calls.

def make_table(rows: int) -> pa.Table:
    rng = np.random.default_rng(SEED)
    ids = pa.array(np.arange(rows, dtype=np.int64))
    flat = pa.array(rng.random(rows * DIM, dtype=np.float32))
    vectors = pa.FixedSizeListArray.from_arrays(flat, DIM)
    return pa.Table.from_arrays([ids, vectors], names=["id", "vector"])


def layouts(table: pa.Table) -> dict[str, pa.Table]:
    single = table.combine_chunks()
    batches = single.to_batches(max_chunksize=SMALL_BATCH_ROWS)
    return {
        "single 100k-row batch" if ROWS == 100_000 else f"single {ROWS}-row batch": single,
        f"{SMALL_BATCH_ROWS}-row batches": pa.Table.from_batches(batches, schema=single.schema),
    }


class Target:
    def __init__(self, name: str, port: int) -> None:
        self.name = name
        self.client = flight.FlightClient(f"grpc://127.0.0.1:{port}")
        self.client.wait_for_available(timeout=START_TIMEOUT_S)
        self.puts = 0
        self.dataset = DATASET
        self.last_get_batches = 0

    def put(self, table: pa.Table) -> float:
        """Times one DoPut to a new dataset: write every batch, done_writing, read all PutResults, close."""
        self.puts += 1
        self.dataset = f"{DATASET}-{self.puts}"
        descriptor = flight.FlightDescriptor.for_path(self.dataset)
        start = time.perf_counter()
        writer, reader = self.client.do_put(descriptor, table.schema)
        writer.write_table(table)
        writer.done_writing()
        while reader.read() is not None:
            pass
        writer.close()
        return time.perf_counter() - start

    def get(self, table: pa.Table, check: bool = False) -> float:
        """Times one DoGet of the whole dataset (read_all); `check` also compares the data."""
        start = time.perf_counter()
        got = self.client.do_get(flight.Ticket(self.dataset.encode())).read_all()
        elapsed = time.perf_counter() - start
        if got.num_rows != table.num_rows:
            raise RuntimeError(f"{self.name}: DoGet returned {got.num_rows} rows, expected {table.num_rows}")
        if check:
            if not got.equals(table):
                raise RuntimeError(f"{self.name}: DoGet returned different data than was put")
            self.last_get_batches = got.column(0).num_chunks
        return elapsed

    def close(self) -> None:
        self.client.close()


def interleaved(calls: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """WARMUP untimed calls of each side (A, B, A, B, ...), then REPEAT timed calls of each in
    ABBA order (A, B, B, A, A, ...), each after an untimed pause of SETTLE_S; `calls` maps each
    of the two sides' names to a call that returns its own timing. Used by both benches."""
    (first, call_first), (second, call_second) = calls.items()
    for _ in range(WARMUP):
        call_first()
        call_second()
    times: dict[str, list[float]] = {first: [], second: []}
    for repetition in range(REPEAT):
        pair = [(first, call_first), (second, call_second)]
        for name, call in pair if repetition % 2 == 0 else reversed(pair):
            time.sleep(SETTLE_S)
            times[name].append(call())
    return times


def measure(ours: Target, anchor: Target, call: Callable[[Target], float]) -> dict[str, list[float]]:
    """The timings of `call` on both servers, interleaved (warm-up first: a JIT-compiled server
    needs a few calls to reach steady state)."""
    return interleaved({"ours": lambda: call(ours), "anchor": lambda: call(anchor)})


# ---------------------------------------------------------------------------------------------

def main() -> int:
    if REPEAT < 1:
        raise SystemExit("BENCH_REPEAT must be >= 1")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="longbow-bench-"))
    targets: list[Target] = []
    try:
        table = make_table(ROWS)
        tables = layouts(table)
        nbytes = table.nbytes
        print(f"data: {ROWS} rows, id int64 + vector FixedSizeList<float32>[{DIM}], "
              f"{nbytes / 1e6:.1f} MB; {REPEAT} repetitions after {WARMUP} warm-up, interleaved; ours with LONGBOW_WAL_SYNC={WAL_SYNC}", flush=True)

        started = time.perf_counter()
        ours = Target("ours", start_longbow(workdir))
        targets.append(ours)
        SERVER_INFO.update(gc=longbow_gc_state(), memory_pages=longbow_memory_pages())
        print(f"ours: V8 concurrent marking {SERVER_INFO['gc']}; memory pages {SERVER_INFO['memory_pages']}", flush=True)
        anchor = Target("anchor", start_anchor())
        targets.append(anchor)
        print(f"servers up in {time.perf_counter() - started:.1f} s", flush=True)

        rows = []
        for layout, t in tables.items():
            for op in ("DoPut", "DoGet"):
                if op == "DoPut":
                    times = measure(ours, anchor, lambda target: target.put(t))
                else:
                    # The last put left exactly one copy of `t` in both servers; check it once.
                    ours.get(t, check=True)
                    anchor.get(t, check=True)
                    times = measure(ours, anchor, lambda target: target.get(t))
                med = {who: statistics.median(ts) for who, ts in times.items()}
                mbps = {who: nbytes / 1e6 / s for who, s in med.items()}
                row = {
                    "operation": op,
                    "layout": layout,
                    "batches": len(t.to_batches()),
                    "ours_mb_s": round(mbps["ours"], 1),
                    "anchor_mb_s": round(mbps["anchor"], 1),
                    "ratio": round(mbps["ours"] / mbps["anchor"], 3),
                    # Best (fastest) repetition, and max/min time: how noisy the row was.
                    "ours_best_mb_s": round(nbytes / 1e6 / min(times["ours"]), 1),
                    "anchor_best_mb_s": round(nbytes / 1e6 / min(times["anchor"]), 1),
                    "ours_spread": round(max(times["ours"]) / min(times["ours"]), 2),
                    "anchor_spread": round(max(times["anchor"]) / min(times["anchor"]), 2),
                    "ours_seconds": [round(s, 5) for s in times["ours"]],
                    "anchor_seconds": [round(s, 5) for s in times["anchor"]],
                }
                if op == "DoGet":
                    row["ours_get_batches"] = ours.last_get_batches
                    row["anchor_get_batches"] = anchor.last_get_batches
                rows.append(row)
                print(f"  {op:5} {layout:22} ours {row['ours_mb_s']:8.1f} MB/s  "
                      f"anchor {row['anchor_mb_s']:8.1f} MB/s  ratio {row['ratio']:.2f}", flush=True)
    finally:
        for target in targets:
            try:
                target.close()
            except Exception:
                pass
        _stop_children()
        shutil.rmtree(workdir, ignore_errors=True)

    print_table(rows)
    write_json(rows, nbytes)
    return 0


def print_table(rows: list[dict]) -> None:
    header = ("operation", "layout", "ours MB/s", "anchor MB/s", "ours/anchor", "spread ours/anchor")
    body = [(r["operation"], r["layout"], f"{r['ours_mb_s']:.1f}", f"{r['anchor_mb_s']:.1f}",
             f"{r['ratio']:.2f}", f"{r['ours_spread']:.1f}x / {r['anchor_spread']:.1f}x") for r in rows]
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
    print(f"targets: ours/anchor >= {TARGET_NOW} now, >= {TARGET_GOAL} goal "
          f"(MB = 1e6 bytes of table.nbytes; median of {REPEAT} after {WARMUP} warm-up; "
          f"spread = slowest/fastest repetition)")
    below = [r for r in rows if r["ratio"] < TARGET_NOW]
    if below:
        print("below the current target: " + "; ".join(f"{r['operation']} {r['layout']} ({r['ratio']:.2f})" for r in below))
    else:
        print("all rows meet the current target")
    print(f"results: {OUT_JSON.relative_to(ROOT)}")


def write_json(rows: list[dict], nbytes: int) -> None:
    result = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "rows": ROWS,
        "dim": DIM,
        "table_nbytes": nbytes,
        "repeat": REPEAT,
        "warmup": WARMUP,
        "settle_ms": SETTLE_S * 1000,
        "server_gc": SERVER_INFO.get("gc"),
        "server_malloc_huge_pages_setting": SERVER_MALLOC_HUGE_PAGES,
        "server_memory_pages": SERVER_INFO.get("memory_pages"),
        "mb": "1e6 bytes of table.nbytes",
        "targets": {"ratio_now": TARGET_NOW, "ratio_goal": TARGET_GOAL},
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "pyarrow": pa.__version__,
            "node": _node_version(),
            "transport": "loopback 127.0.0.1, grpc",
            "memory": memory_host(),
        },
        "git": _git_state(),
        "results": rows,
    }
    OUT_JSON.write_text(json.dumps(result, indent=2) + "\n")


def _git_state() -> dict:
    """The commit measured, and whether the working tree had uncommitted source changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty_files": git("status", "--porcelain", "--untracked-files=no").splitlines()}
    except Exception:
        return {}


def _node_version() -> str:
    try:
        return subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return "unknown"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        _stop_children()
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
