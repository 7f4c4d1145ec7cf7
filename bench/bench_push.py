"""`make bench-push`: the push against the loopback Attribution API server, figures printed.

1. 20,000 events, 50 ms latency per request, rate limit 500/s: achieved rate (target >= 90%).
2. A naive baseline in the same run (one requests.post after another, no session reuse).
3. The same push with 429 answered to 5% of requests: rate (target >= 80%), nothing lost.
4. Peak memory of a process pushing 200,000 events (target < 300 MiB).

The server runs in its own process, and each push in a fresh child process so its peak memory
is its own.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "plugins"), str(REPO / "tests")]


def serve(latency: float, throttle_every: int) -> None:
    from attribution_server import AttributionServer

    with AttributionServer() as server:
        server.latency = latency
        server.throttle_every = throttle_every
        print(server.base_url, flush=True)
        for line in sys.stdin:  # "count" -> acknowledged events and their distinct count
            counts = server.counts()
            print(json.dumps({"events": len(server.events), "distinct": len(counts)}), flush=True)


def push(db: str, base_url: str, rate: float, max_in_flight: int) -> None:
    os.environ["AIRFLOW_CONN_AMPLITUDE_ATTRIBUTION"] = json.dumps({"conn_type": "http", "host": base_url, "password": "test-key"})
    from adjust_amplitude import pipeline
    from adjust_amplitude.config import Settings
    from adjust_amplitude.warehouse.duckdb_warehouse import DuckDBWarehouse
    from pipeline_helpers import DAY

    settings = Settings(rate_limit_per_second=rate, max_in_flight=max_in_flight, report_dir=str(Path(db).parent))
    plan = {"day": DAY.isoformat(), "run_id": "bench", "dry_run": False, "settings": settings.to_json()}
    stats = pipeline.push(pipeline.Run(plan, warehouse=DuckDBWarehouse(db)))
    stats["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(stats))


def prepare(db: Path, rows: int) -> None:
    from adjust_amplitude import pipeline
    from adjust_amplitude.config import Settings
    from adjust_amplitude.warehouse.duckdb_warehouse import DuckDBWarehouse
    from pipeline_helpers import DAY, matched_warehouse

    matched_warehouse(db, rows)
    plan = {"day": DAY.isoformat(), "run_id": "bench", "dry_run": True, "settings": Settings().to_json()}
    run = pipeline.Run(plan, warehouse=DuckDBWarehouse(db))
    pipeline.prepare_outputs(run)
    pipeline.stage_rows(run, pipeline.check_inputs(run))
    pipeline.match_and_close(run)


class Server:
    def __init__(self, latency: float, throttle_every: int = 0) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "serve", str(latency), str(throttle_every)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()

    def counts(self) -> dict:
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


def run_push(tmp: Path, rows: int, latency: float, rate: float, throttle_every: int = 0, max_in_flight: int = 64):
    db = tmp / f"push-{rows}-{throttle_every}.duckdb"
    subprocess.run([sys.executable, __file__, "prepare", str(db), str(rows)], check=True)
    server = Server(latency, throttle_every)
    try:
        done = subprocess.run([sys.executable, __file__, "push", str(db), server.url, str(rate), str(max_in_flight)],
                              capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(done.stderr[-4000:])
        stats = json.loads(done.stdout.strip().splitlines()[-1])
        stats.update(server.counts())
    finally:
        server.close()
    return stats


def naive_baseline(latency: float, requests_count: int) -> float:
    import requests

    server = Server(latency)
    try:
        started = time.perf_counter()
        for i in range(requests_count):
            event = {"event_type": "[Adjust] Install", "platform": "ios", "idfv": f"NAIVE-{i}", "time": i}
            requests.post(f"{server.url}/attribution", data={"api_key": "test-key", "event": json.dumps(event)}, timeout=30)
        return requests_count / (time.perf_counter() - started)
    finally:
        server.close()


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(float(sys.argv[2]), int(sys.argv[3]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "prepare":
        prepare(Path(sys.argv[2]), int(sys.argv[3]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "push":
        push(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]))
        return 0
    os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".local" / "bench-airflow"))
    limit, rows, latency = 500.0, 20_000, 0.05
    with tempfile.TemporaryDirectory(prefix="adjust-bench-push-") as tmp:
        tmp = Path(tmp)
        clean = run_push(tmp, rows, latency, limit)
        print(f"1. {rows:,} events, {latency * 1000:.0f} ms latency, limit {limit:.0f}/s: "
              f"{clean['mean_rate']:.1f} events/s = {clean['mean_rate'] / limit:.1%} of the limit "
              f"(target >= 90%); received {clean['events']:,}, distinct {clean['distinct']:,}")
        naive = naive_baseline(latency, 200)
        print(f"2. naive baseline (requests.post one after another): {naive:.1f} events/s; "
              f"ratio {clean['mean_rate'] / naive:.1f}x (target >= 20x)")
        noisy = run_push(tmp, rows, latency, limit, throttle_every=20)
        lost = rows - noisy["distinct"]
        print(f"3. with 429 on 5% of requests: {noisy['mean_rate']:.1f} events/s = {noisy['mean_rate'] / limit:.1%} "
              f"of the limit (target >= 80%); retries {noisy['retries']:,}; lost {lost}; "
              f"sent twice {noisy['events'] - noisy['distinct']}")
        big = run_push(tmp, 200_000, 0.0, 5000.0)
        print(f"4. 200,000 events (no latency, limit 5000/s): {big['mean_rate']:.0f} events/s; "
              f"peak memory {big['peak_rss_mib']:.0f} MiB (target < 300 MiB); received {big['distinct']:,}")
        ok = (clean["mean_rate"] >= 0.9 * limit and clean["mean_rate"] / naive >= 20
              and noisy["mean_rate"] >= 0.8 * limit and lost == 0 and big["peak_rss_mib"] < 300
              and big["distinct"] == 200_000)
    print("all targets met" if ok else "SOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
