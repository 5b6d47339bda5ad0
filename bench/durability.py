"""Durability costs: the write-ahead log on DoPut, small-put group commit, snapshot and restart.

    npm run bench                                    # via scripts/bench.sh, after flight_throughput
    BENCH_ONLY=durability npm run bench              # this bench alone
    BENCH_PARTS=restart .cache/venv/bin/python bench/durability.py

Three parts, one run (servers are child processes on free 127.0.0.1 ports, data directories
under .cache/bench/, on the real disk so that fsync means something; removed at the end):

  wal      Large-batch DoPut MB/s with LONGBOW_WAL_SYNC=fsync against LONGBOW_WAL_SYNC=off, and
           LONGBOW_WAL_SYNC=none (log written, not fsync'd) to split the cost (three servers).
           Same data as bench/flight_throughput.py: BENCH_ROWS (100,000) x (id int64, vector
           FixedSizeList<float32>[128]), ~52 MB, as one batch and as 8192-row batches.
           BENCH_WARMUP (3) untimed puts per server, then BENCH_REPEAT (5) timed puts interleaved
           (fsync/none/off, none/off/fsync, ...); every put to a new dataset name. Figure:
           nbytes / median time; WAL cost = 1 - fsync MB/s / off MB/s (goal: under 20%).
  small    Small puts with fsync and with off (same servers): 1-row and 100-row batches, one
           batch per DoPut call, from 1, 8 and 32 concurrent clients (BENCH_SMALL_CLIENTS), each a
           thread with its own FlightClient and its own dataset, for BENCH_SMALL_SECONDS (3) each,
           fsync and off alternating. Figures: completed puts/s and rows/s, per-put latency
           median and p99. With group commit, fsync puts/s should grow with the clients.
  restart  BENCH_BIG_ROWS (1,000,000) rows x 128 dims put in BENCH_BIG_BATCH_ROWS (100,000)-row
           batches to a fsync server; force_snapshot timed (MB/s = reply bytes / reply
           duration_ms); SIGTERM; then BENCH_RESTARTS (3) restarts each, interleaved, of
             - that directory (snapshot, empty WAL tail),
             - a second directory given the same rows but no snapshot (WAL replay only),
             - an empty directory (the fixed cost: node + tsx + module loading + listen),
           measuring spawn -> "Longbow listening" as seen by the bench (goal < 3 s), the
           "Snapshot loaded" and "Recovery complete" log lines, and where the time went (from the
           log lines' timestamps). After each restart get_flight_info must say total_records =
           BENCH_BIG_ROWS. Files are in the page cache (just written): warm-cache restarts.

Other knobs: BENCH_SMALL_WARMUP_SECONDS (1), BENCH_SMALL_ROWS ("1,100"), BENCH_PARTS
("wal,small,restart"), BENCH_DATA_DIR (parent of the data directories, .cache/bench),
BENCH_START_TIMEOUT (120 s). The default run takes about 1.5 minutes on 2 cores.

Results: a table on stdout and .cache/bench/durability.json; server logs in
.cache/bench/durability-*.log. Exit status is 0 whatever the figures (goals are printed);
non-zero only when the bench itself fails (a server does not start or exits badly, a call
fails, a restart loses rows).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight

sys.path.insert(0, str(Path(__file__).resolve().parent))
import flight_throughput as ft  # noqa: E402  (shared helpers: child processes, data, git state)

ROOT = ft.ROOT
OUT_DIR = ft.OUT_DIR
OUT_JSON = OUT_DIR / "durability.json"

ROWS = int(os.environ.get("BENCH_ROWS", "100000"))
DIM = ft.DIM
SMALL_BATCH_ROWS = ft.SMALL_BATCH_ROWS
REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "3"))
SMALL_SECONDS = float(os.environ.get("BENCH_SMALL_SECONDS", "3"))
SMALL_WARMUP_SECONDS = float(os.environ.get("BENCH_SMALL_WARMUP_SECONDS", "1"))
SMALL_CLIENTS = [int(x) for x in os.environ.get("BENCH_SMALL_CLIENTS", "1,8,32").split(",") if x.strip()]
SMALL_ROWS = [int(x) for x in os.environ.get("BENCH_SMALL_ROWS", "1,100").split(",") if x.strip()]
BIG_ROWS = int(os.environ.get("BENCH_BIG_ROWS", "1000000"))
BIG_BATCH_ROWS = int(os.environ.get("BENCH_BIG_BATCH_ROWS", "100000"))
RESTARTS = int(os.environ.get("BENCH_RESTARTS", "3"))
PARTS = [p.strip() for p in os.environ.get("BENCH_PARTS", "wal,small,restart").split(",") if p.strip()]
DATA_PARENT = Path(os.environ.get("BENCH_DATA_DIR", str(OUT_DIR)))
START_TIMEOUT_S = float(os.environ.get("BENCH_START_TIMEOUT", "120"))
STOP_TIMEOUT_S = 60.0

GOAL_WAL_COST = 0.20
GOAL_RESTART_S = 3.0


# ---------------------------------------------------------------------------------------------
# A Longbow server as a child process whose log lines are read through a pipe and timestamped
# on arrival (the restart time is measured to the arrival of "Longbow listening").

class Server:
    def __init__(self, name: str, data: Path, sync: str) -> None:
        self.name = name
        self.data = data
        self.sync = sync
        self.log_path = OUT_DIR / f"durability-{name}.log"
        self.records: list[tuple[float, dict]] = []  # (perf_counter on arrival, parsed line)
        self._listening = threading.Event()
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.spawn_perf = 0.0
        self.spawn_wall = 0.0
        self.listening_s = 0.0

    def start(self) -> "Server":
        data = self.data
        data.mkdir(parents=True, exist_ok=True)
        env = ft.longbow_env(data, self.sync, LONGBOW_SNAPSHOT_INTERVAL="0")
        self.records = []
        self._listening.clear()
        log = open(self.log_path, "ab")
        log.write(f"--- bench: start {self.name} ({self.sync}, {data})\n".encode())
        log.flush()
        self.spawn_wall = time.time()
        self.spawn_perf = time.perf_counter()
        self.proc = ft._spawn(ft.LONGBOW_SERVE, cwd=ROOT, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        threading.Thread(target=self._read, args=(self.proc, log), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._listening.wait(0.005):
            if self.proc.poll() is not None:
                self._listening.wait(0.5)  # let the reader catch the last lines
                if self._listening.is_set():
                    break
                tail = self.log_path.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"{self.name}: server exited with status {self.proc.returncode} before listening:\n{tail}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: server did not listen within {START_TIMEOUT_S:.0f} s (log: {self.log_path})")
        return self

    def _read(self, proc: subprocess.Popen, log) -> None:
        # Drains the pipe for the whole life of the process (the server logs synchronously).
        with log:
            for raw in proc.stdout:
                arrived = time.perf_counter()
                log.write(raw)
                log.flush()
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue
                self.records.append((arrived, record))
                if record.get("msg") == "Longbow listening" and not self._listening.is_set():
                    self.port = int(str(record["data_addr"]).rsplit(":", 1)[1])
                    self.listening_s = arrived - self.spawn_perf
                    self._listening.set()

    def record(self, msg: str) -> dict | None:
        for _, record in self.records:
            if record.get("msg") == msg:
                return record
        return None

    def client(self) -> flight.FlightClient:
        client = flight.FlightClient(f"grpc://127.0.0.1:{self.port}")
        client.wait_for_available(timeout=START_TIMEOUT_S)
        return client

    def stop(self) -> float:
        """SIGTERM, wait for a clean exit (status 0); returns the shutdown time in seconds."""
        proc = self.proc
        started = time.perf_counter()
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            status = proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise RuntimeError(f"{self.name}: server did not stop within {STOP_TIMEOUT_S:.0f} s of SIGTERM")
        elapsed = time.perf_counter() - started
        if proc in ft._children:
            ft._children.remove(proc)
        if status != 0:
            raise RuntimeError(f"{self.name}: server exited with status {status} after SIGTERM (log: {self.log_path})")
        return elapsed


def _log_time(record: dict) -> float:
    """A log line's `time` (ISO, ms) as seconds since the epoch."""
    return _dt.datetime.fromisoformat(str(record["time"]).replace("Z", "+00:00")).timestamp()


# ---------------------------------------------------------------------------------------------
# Calls.

def put_table(client: flight.FlightClient, dataset: str, table: pa.Table) -> float:
    """Times one DoPut of `table` (each of its batches one message) to `dataset`, all PutResults read."""
    start = time.perf_counter()
    writer, reader = client.do_put(flight.FlightDescriptor.for_path(dataset), table.schema)
    writer.write_table(table)
    writer.done_writing()
    acks = 0
    while reader.read() is not None:
        acks += 1
    writer.close()
    elapsed = time.perf_counter() - start
    if acks != len(table.to_batches()):
        raise RuntimeError(f"DoPut to {dataset}: {acks} PutResults for {len(table.to_batches())} batches")
    return elapsed


def total_records(client: flight.FlightClient, dataset: str) -> int:
    return client.get_flight_info(flight.FlightDescriptor.for_path(dataset)).total_records


def action(client: flight.FlightClient, kind: str, body: bytes = b"") -> list[dict]:
    return [json.loads(r.body.to_pybytes()) for r in client.do_action(flight.Action(kind, body))]


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


# ---------------------------------------------------------------------------------------------
# Part 1: the WAL's cost on large batches.

def part_wal(servers: dict[str, Server], clients: dict[str, flight.FlightClient]) -> list[dict]:
    table = ft.make_table(ROWS).combine_chunks()
    nbytes = table.nbytes
    layouts = {
        f"single {ROWS // 1000}k-row batch" if ROWS % 1000 == 0 else f"single {ROWS}-row batch": table,
        f"{SMALL_BATCH_ROWS}-row batches": pa.Table.from_batches(table.to_batches(max_chunksize=SMALL_BATCH_ROWS)),
    }
    print(f"\n[wal] {ROWS} rows x {DIM} dims, {nbytes / 1e6:.1f} MB; {WARMUP} warm-up then {REPEAT} timed puts "
          f"per server, interleaved fsync/off", flush=True)
    counter = {"n": 0}

    def put(who: str, t: pa.Table) -> float:
        counter["n"] += 1
        seconds = put_table(clients[who], f"wal-{counter['n']}", t)
        if who == "none":
            # Untimed: flush the page cache the `none` server left dirty, so that its writeback
            # does not land on the next server's timed put (it would take disk and CPU from it).
            os.sync()
        return seconds

    rows = []
    for layout, t in layouts.items():
        modes = [m for m in ("fsync", "none", "off") if m in clients]
        for _ in range(WARMUP):
            for who in modes:
                put(who, t)
        times: dict[str, list[float]] = {who: [] for who in modes}
        for i in range(REPEAT):
            order = modes[i % len(modes):] + modes[:i % len(modes)]  # rotate who goes first
            for who in order:
                times[who].append(put(who, t))
        mbps = {who: nbytes / 1e6 / median(ts) for who, ts in times.items()}
        row = {
            "layout": layout,
            "batches": len(t.to_batches()),
            "table_nbytes": nbytes,
            "fsync_mb_s": round(mbps["fsync"], 1),
            "off_mb_s": round(mbps["off"], 1),
            "wal_cost": round(1 - mbps["fsync"] / mbps["off"], 3),
            # LONGBOW_WAL_SYNC=none: the log is written but not fsync'd; splits the cost in two.
            "none_mb_s": round(mbps["none"], 1) if "none" in mbps else None,
            "none_cost": round(1 - mbps["none"] / mbps["off"], 3) if "none" in mbps else None,
            "fsync_spread": round(max(times["fsync"]) / min(times["fsync"]), 2),
            "off_spread": round(max(times["off"]) / min(times["off"]), 2),
            "fsync_seconds": [round(s, 5) for s in times["fsync"]],
            "off_seconds": [round(s, 5) for s in times["off"]],
            "none_seconds": [round(s, 5) for s in times.get("none", [])],
        }
        rows.append(row)
        print(f"  {layout:22} fsync {row['fsync_mb_s']:7.1f} MB/s  none {row['none_mb_s'] or 0:7.1f} MB/s  "
              f"off {row['off_mb_s']:7.1f} MB/s  WAL cost {row['wal_cost'] * 100:5.1f}%", flush=True)
    return rows


# ---------------------------------------------------------------------------------------------
# Part 2: small puts from concurrent clients.

def run_small(server: Server, batch: pa.RecordBatch, clients: int, seconds: float, tag: str) -> dict:
    """`clients` threads, each with its own FlightClient and dataset, put `batch` (one DoPut per
    batch) until `seconds` have passed; returns puts/s over the time to the last completion."""
    barrier = threading.Barrier(clients + 1)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    ends = [0.0] * clients
    errors: list[BaseException] = []
    window = {"stop": 0.0}

    def worker(i: int) -> None:
        try:
            client = server.client()
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
            barrier.abort()
            return
        try:
            descriptor = flight.FlightDescriptor.for_path(f"small-{tag}-{i}")
            barrier.wait()
            mine = latencies[i]
            stop = window["stop"]
            while True:
                t0 = time.perf_counter()
                if t0 >= stop:
                    break
                writer, reader = client.do_put(descriptor, batch.schema)
                writer.write_batch(batch)
                writer.done_writing()
                if reader.read() is None:
                    raise RuntimeError("DoPut ended without a PutResult")
                while reader.read() is not None:
                    pass
                writer.close()
                t1 = time.perf_counter()
                mine.append(t1 - t0)
                ends[i] = t1
        except threading.BrokenBarrierError:
            pass
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    # Every worker has its client; the window is set before the barrier releases them.
    while barrier.n_waiting < clients and not barrier.broken and not errors:
        time.sleep(0.001)
    start = time.perf_counter()
    window["stop"] = start + seconds
    try:
        barrier.wait(timeout=START_TIMEOUT_S)
    except threading.BrokenBarrierError:
        pass
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"small puts ({server.sync}, {clients} clients): {errors[0]!r}") from errors[0]
    all_lat = [x for per in latencies for x in per]
    puts = len(all_lat)
    elapsed = max(ends) - start if puts else seconds
    return {
        "puts": puts,
        "seconds": round(elapsed, 3),
        "puts_per_s": round(puts / elapsed, 1),
        "rows_per_s": round(puts * batch.num_rows / elapsed, 1),
        "latency_ms_median": round(median(all_lat) * 1000, 2) if all_lat else None,
        "latency_ms_p99": round(percentile(all_lat, 99) * 1000, 2) if all_lat else None,
        "per_client_puts": [len(per) for per in latencies],
    }


def part_small(servers: dict[str, Server]) -> list[dict]:
    source = ft.make_table(max(SMALL_ROWS)).combine_chunks().to_batches()[0]
    batches = {n: source.slice(0, n) for n in SMALL_ROWS}
    print(f"\n[small] one batch per DoPut; {SMALL_SECONDS:g} s per figure; clients {SMALL_CLIENTS}; "
          f"fsync and off alternating", flush=True)
    if SMALL_WARMUP_SECONDS > 0:
        for who in ("fsync", "off"):
            run_small(servers[who], batches[max(SMALL_ROWS)], min(8, max(SMALL_CLIENTS)), SMALL_WARMUP_SECONDS, f"warmup-{who}")
    rows = []
    k = 0
    for n in SMALL_ROWS:
        for c in SMALL_CLIENTS:
            result: dict[str, dict] = {}
            order = ("fsync", "off") if k % 2 == 0 else ("off", "fsync")
            k += 1
            for who in order:
                result[who] = run_small(servers[who], batches[n], c, SMALL_SECONDS, f"{who}-{n}-{c}")
            row = {"rows_per_put": n, "clients": c, "fsync": result["fsync"], "off": result["off"]}
            rows.append(row)
            print(f"  {n:4} row(s) x {c:2} clients: fsync {result['fsync']['puts_per_s']:8.1f} puts/s "
                  f"(p50 {result['fsync']['latency_ms_median']} ms)  off {result['off']['puts_per_s']:8.1f} puts/s "
                  f"(p50 {result['off']['latency_ms_median']} ms)", flush=True)
    return rows


# ---------------------------------------------------------------------------------------------
# Part 3: snapshot and restart.

BIG_DATASET = "big"


def restart_once(server: Server, expect_rows: int | None) -> dict:
    server.start()
    listening_s = server.listening_s
    rows = None
    client = server.client()
    try:
        if expect_rows is not None:
            rows = total_records(client, BIG_DATASET)
            if rows != expect_rows:
                raise RuntimeError(f"{server.name}: after restart total_records = {rows}, expected {expect_rows}")
        else:
            # Also a call before SIGTERM: the server installs its signal handlers just after it
            # logs "Longbow listening", so a SIGTERM at once could find none.
            datasets = list(client.list_flights())
            if datasets:
                raise RuntimeError(f"{server.name}: {len(datasets)} datasets in an empty data directory")
    finally:
        client.close()
    stop_s = server.stop()
    loaded = server.record("Snapshot loaded")
    recovered = server.record("Recovery complete")
    listening = server.record("Longbow listening")
    # Where the time went, from the log lines' own timestamps (ms resolution) against the spawn.
    recovery_ms = float(recovered["duration_ms"]) if recovered else 0.0
    snapshot_ms = float(loaded["duration_ms"]) if loaded else 0.0
    recovery_start = _log_time(recovered) - recovery_ms / 1000 if recovered else None
    phases = {
        "process_start_s": round(recovery_start - server.spawn_wall, 3) if recovery_start else None,
        "snapshot_load_s": round(snapshot_ms / 1000, 3),
        "wal_replay_s": round((recovery_ms - snapshot_ms) / 1000, 3),
        "after_recovery_s": round(_log_time(listening) - _log_time(recovered), 3) if recovered else None,
    }
    return {
        "listening_s": round(listening_s, 3),
        "phases": phases,
        "snapshot_loaded": {k: loaded[k] for k in ("bytes", "duration_ms", "mb_per_s") if k in loaded} if loaded else None,
        "recovery": {k: recovered[k] for k in ("duration_ms", "rows", "records", "wal_rows") if k in recovered} if recovered else None,
        "total_records": rows,
        "shutdown_s": round(stop_s, 3),
    }


def part_restart(workdir: Path) -> dict:
    print(f"\n[restart] {BIG_ROWS} rows x {DIM} dims in {BIG_BATCH_ROWS}-row batches, LONGBOW_WAL_SYNC=fsync; "
          f"{RESTARTS} restarts each, interleaved", flush=True)
    table = ft.make_table(BIG_ROWS).combine_chunks()
    table = pa.Table.from_batches(table.to_batches(max_chunksize=BIG_BATCH_ROWS))
    nbytes = table.nbytes
    result: dict = {"rows": BIG_ROWS, "batch_rows": BIG_BATCH_ROWS, "table_nbytes": nbytes}

    snap = Server("snapshot", workdir / "restart-snapshot", "fsync")
    wal = Server("wal-only", workdir / "restart-wal", "fsync")
    empty = Server("empty", workdir / "restart-empty", "fsync")
    first_starts = []
    loads = {}
    for server in (snap, wal):
        server.start()
        first_starts.append(server.listening_s)
        client = server.client()
        try:
            seconds = put_table(client, BIG_DATASET, table)
            loads[server.name] = {"seconds": round(seconds, 3), "mb_s": round(nbytes / 1e6 / seconds, 1)}
            print(f"  {server.name}: put {nbytes / 1e6:.0f} MB in {seconds:.2f} s ({nbytes / 1e6 / seconds:.0f} MB/s, fsync)", flush=True)
            if total_records(client, BIG_DATASET) != BIG_ROWS:
                raise RuntimeError(f"{server.name}: total_records after the put is not {BIG_ROWS}")
            if server is snap:
                started = time.perf_counter()
                reply = action(client, "force_snapshot")[0]
                client_s = time.perf_counter() - started
                if reply.get("rows") != BIG_ROWS:
                    raise RuntimeError(f"force_snapshot reply has rows={reply.get('rows')}, expected {BIG_ROWS}")
                mbps = reply["bytes"] / 1e6 / max(reply["duration_ms"] / 1000, 1e-6)
                result["snapshot"] = {
                    "bytes": reply["bytes"], "duration_ms": reply["duration_ms"], "mb_s": round(mbps, 1),
                    "client_seconds": round(client_s, 3), "seq": reply.get("seq"), "rows": reply.get("rows"),
                    "wal_segments_deleted": reply.get("wal_segments_deleted"),
                }
                print(f"  force_snapshot: {reply['bytes'] / 1e6:.0f} MB in {reply['duration_ms']} ms "
                      f"({mbps:.0f} MB/s; {client_s:.2f} s seen by the client)", flush=True)
        finally:
            client.close()
        loads[server.name]["shutdown_s"] = round(server.stop(), 3)
    result["load"] = loads
    result["disk_bytes"] = {s.name: _du(s.data) for s in (snap, wal)}

    runs: dict[str, list[dict]] = {"snapshot": [], "wal-only": [], "empty": []}
    for i in range(RESTARTS):
        for server, expect in ((snap, BIG_ROWS), (wal, BIG_ROWS), (empty, None)):
            run = restart_once(server, expect)
            runs[server.name].append(run)
            print(f"  restart {i + 1} {server.name:8}: listening after {run['listening_s']:.2f} s "
                  f"(process start {run['phases']['process_start_s']} s, snapshot {run['phases']['snapshot_load_s']} s, "
                  f"WAL replay {run['phases']['wal_replay_s']} s); shutdown {run['shutdown_s']:.2f} s", flush=True)
    summary = {}
    for name, rs in runs.items():
        summary[name] = {
            "listening_s_median": round(median([r["listening_s"] for r in rs]), 3),
            "listening_s": [r["listening_s"] for r in rs],
            "process_start_s_median": _med([r["phases"]["process_start_s"] for r in rs]),
            "snapshot_load_s_median": _med([r["phases"]["snapshot_load_s"] for r in rs]),
            "wal_replay_s_median": _med([r["phases"]["wal_replay_s"] for r in rs]),
            "after_recovery_s_median": _med([r["phases"]["after_recovery_s"] for r in rs]),
            "snapshot_load_mb_s_median": _med([r["snapshot_loaded"]["mb_per_s"] for r in rs if r["snapshot_loaded"]]),
            "runs": rs,
        }
    result["first_start_empty_s"] = [round(s, 3) for s in first_starts]
    result["restarts"] = summary
    return result


def _med(xs: list) -> float | None:
    xs = [x for x in xs if x is not None]
    return round(median(xs), 3) if xs else None


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# ---------------------------------------------------------------------------------------------

def main() -> int:
    if REPEAT < 1 or RESTARTS < 1:
        raise SystemExit("BENCH_REPEAT and BENCH_RESTARTS must be >= 1")
    unknown = set(PARTS) - {"wal", "small", "restart"}
    if unknown:
        raise SystemExit(f"BENCH_PARTS: unknown part(s) {sorted(unknown)}; use wal, small, restart")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    DATA_PARENT.mkdir(parents=True, exist_ok=True)
    for old in OUT_DIR.glob("durability-*.log"):
        old.unlink()
    workdir = Path(tempfile.mkdtemp(prefix="durability-data-", dir=DATA_PARENT))
    results: dict = {}
    started = time.perf_counter()
    print(f"durability bench: parts {','.join(PARTS)}; data under {workdir} ({_fs_type(workdir)})", flush=True)
    try:
        if "wal" in PARTS or "small" in PARTS:
            modes = ("fsync", "none", "off") if "wal" in PARTS else ("fsync", "off")
            servers = {who: Server(who, workdir / who, who).start() for who in modes}
            results["server_first_start_s"] = {who: round(s.listening_s, 3) for who, s in servers.items()}
            clients = {who: s.client() for who, s in servers.items()}
            try:
                if "wal" in PARTS:
                    results["wal"] = part_wal(servers, clients)
                if "small" in PARTS:
                    results["small"] = part_small(servers)
            finally:
                for client in clients.values():
                    client.close()
            for server in servers.values():
                server.stop()
        if "restart" in PARTS:
            results["restart"] = part_restart(workdir)
    finally:
        ft._stop_children()
        shutil.rmtree(workdir, ignore_errors=True)
    results["bench_seconds"] = round(time.perf_counter() - started, 1)
    print_tables(results)
    write_json(results, workdir)
    return 0


def print_tables(results: dict) -> None:
    def table(header: tuple, body: list[tuple], right: tuple) -> None:
        widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
        fmt = lambda cells: "  ".join(str(c).rjust(w) if r else str(c).ljust(w) for c, w, r in zip(cells, widths, right))  # noqa: E731
        print(fmt(header))
        print("  ".join("-" * w for w in widths))
        for cells in body:
            print(fmt(cells))

    if "wal" in results:
        print(f"\nLarge-batch DoPut, LONGBOW_WAL_SYNC=fsync vs off (median of {REPEAT} after {WARMUP} warm-up; MB = 1e6 bytes)")
        table(("layout", "fsync MB/s", "none MB/s", "off MB/s", "WAL cost", "cost without fsync", "spread fsync/off"),
              [(r["layout"], f"{r['fsync_mb_s']:.1f}", f"{r['none_mb_s']:.1f}", f"{r['off_mb_s']:.1f}", f"{r['wal_cost'] * 100:.1f}%",
                f"{r['none_cost'] * 100:.1f}%", f"{r['fsync_spread']:.1f}x / {r['off_spread']:.1f}x") for r in results["wal"]],
              (False, True, True, True, True, True, True))
        print("(WAL cost = 1 - fsync/off; cost without fsync = 1 - none/off: LONGBOW_WAL_SYNC=none writes the log, no fsync)")
        worst = max(r["wal_cost"] for r in results["wal"])
        print(f"goal: WAL cost < {GOAL_WAL_COST * 100:.0f}% -> {'met' if worst < GOAL_WAL_COST else 'NOT met'} "
              f"(worst {worst * 100:.1f}%)")
    if "small" in results:
        print(f"\nSmall puts, one batch per DoPut, {SMALL_SECONDS:g} s each (latency: median / p99 per put)")
        table(("rows/put", "clients", "fsync puts/s", "fsync rows/s", "fsync ms", "off puts/s", "off rows/s", "off ms"),
              [(r["rows_per_put"], r["clients"], f"{r['fsync']['puts_per_s']:.0f}", f"{r['fsync']['rows_per_s']:.0f}",
                f"{r['fsync']['latency_ms_median']} / {r['fsync']['latency_ms_p99']}",
                f"{r['off']['puts_per_s']:.0f}", f"{r['off']['rows_per_s']:.0f}",
                f"{r['off']['latency_ms_median']} / {r['off']['latency_ms_p99']}") for r in results["small"]],
              (True, True, True, True, True, True, True, True))
    if "restart" in results:
        r = results["restart"]
        print(f"\nSnapshot and restart, {r['rows']} rows x {DIM} ({r['table_nbytes'] / 1e6:.0f} MB), LONGBOW_WAL_SYNC=fsync")
        if "snapshot" in r:
            s = r["snapshot"]
            print(f"force_snapshot: {s['bytes'] / 1e6:.0f} MB in {s['duration_ms']} ms = {s['mb_s']:.0f} MB/s")
        rs = r["restarts"]
        table(("data dir", "spawn->listening s", "process start s", "snapshot load s", "WAL replay s", "after recovery s", "snapshot load MB/s"),
              [(name, f"{v['listening_s_median']:.2f}", v["process_start_s_median"], v["snapshot_load_s_median"],
                v["wal_replay_s_median"], v["after_recovery_s_median"], v["snapshot_load_mb_s_median"] or "-")
               for name, v in rs.items()],
              (False, True, True, True, True, True, True))
        print(f"(medians of {RESTARTS} restarts; phases from the server's log timestamps, ms resolution)")
        t = rs["snapshot"]["listening_s_median"]
        print(f"goal: restart with snapshot < {GOAL_RESTART_S:.0f} s -> {'met' if t < GOAL_RESTART_S else 'NOT met'} ({t:.2f} s)")
    print(f"\nbench time {results['bench_seconds']:.0f} s; results: {OUT_JSON.relative_to(ROOT)}")


def _fs_type(path: Path) -> str:
    try:
        return subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return "unknown"


def write_json(results: dict, workdir: Path) -> None:
    out = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "config": {
            "rows": ROWS, "dim": DIM, "repeat": REPEAT, "warmup": WARMUP, "small_seconds": SMALL_SECONDS,
            "small_clients": SMALL_CLIENTS, "small_rows": SMALL_ROWS, "big_rows": BIG_ROWS,
            "big_batch_rows": BIG_BATCH_ROWS, "restarts": RESTARTS, "parts": PARTS,
        },
        "goals": {"wal_cost_below": GOAL_WAL_COST, "restart_seconds_below": GOAL_RESTART_S},
        "mb": "1e6 bytes (table.nbytes; snapshot bytes as the server reports them)",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "pyarrow": pa.__version__,
            "node": ft._node_version(),
            "data_filesystem": _fs_type(workdir.parent),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
        "git": ft._git_state(),
        **results,
    }
    OUT_JSON.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        ft._stop_children()
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
