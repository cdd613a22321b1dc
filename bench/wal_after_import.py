#!/usr/bin/env python3
"""The write-ahead log after a bulk import that does not finish.

With the release build and a server running on a fresh SQLite file, two
imports of N generated campaigns (default 200,000) that leave nothing:
one killed with SIGKILL once half is staged, one refused by a bad last
record. After each: the WAL's size then, how long until it is back under
64 MiB, the size /metrics reports, and that no campaign is visible; after
the kill, how long the server's upkeep takes to remove the staged rows.

Usage: bench/wal_after_import.py [N]
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from probes import get, staged_rows  # noqa: E402
from read_bench import wait_http  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/campaignd")
LIMIT = 64 * 1024 * 1024


def wal_size(db):
    try:
        return os.path.getsize(db + "-wal")
    except FileNotFoundError:
        return 0


def settle(db, port):
    """Waits for the WAL to be under the limit; returns (peak, seconds)."""
    peak, t0 = wal_size(db), time.monotonic()
    while wal_size(db) >= LIMIT:
        peak = max(peak, wal_size(db))
        if time.monotonic() - t0 > 60:
            break
        time.sleep(0.05)
    return peak, time.monotonic() - t0


def metrics_wal(port):
    _, text = get(port, "/metrics")
    m = re.search(r"^campaignd_wal_bytes\S*\s+(\d+)", text, re.M)
    return int(m.group(1)) if m else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=200_000)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "campaignd"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory(prefix="campaignd-wal-") as work:
        db = os.path.join(work, "bench.db")
        env = dict(os.environ, CAMPAIGND_DATABASE_URL=f"sqlite://{db}")
        subprocess.run([BIN, "center", "create", "bench"], env=env, check=True, capture_output=True)
        key = subprocess.run([BIN, "key", "create", "--center", "bench", "--scope", "campaigns.read"],
                             env=env, check=True, capture_output=True, text=True).stdout.strip()
        path = os.path.join(work, "in.ndjson")
        with open(path, "w") as f:
            subprocess.run([sys.executable, os.path.join(ROOT, "bench/gen_campaigns.py"), str(args.n)],
                           stdout=f, check=True)
        bad = os.path.join(work, "bad.ndjson")
        with open(path) as src, open(bad, "w") as dst:
            dst.write(src.read())
            dst.write('{"name": "bad", "dial_level": 99}\n')
        port = 18620
        server = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{port}"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_http(port)

            importer = subprocess.Popen([BIN, "campaign", "import", "--center", "bench", path], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while staged_rows(db) < args.n // 2:
                if importer.poll() is not None:
                    raise SystemExit("the import ended before half was staged")
                time.sleep(0.01)
            importer.send_signal(signal.SIGKILL)
            importer.wait()
            at_kill = wal_size(db)
            peak, took = settle(db, port)
            total = json.loads(get(port, "/api/v4/campaigns?limit=1", key)[1])["metadata"]["total"]
            print(f"killed at {args.n // 2} staged: WAL {at_kill / 2**20:.0f} MiB then, peak {peak / 2**20:.0f} MiB, "
                  f"under 64 MiB after {took:.1f} s; /metrics says {metrics_wal(port) / 2**20:.1f} MiB; "
                  f"visible campaigns: {total}")
            t0 = time.monotonic()
            while staged_rows(db) > 0 and time.monotonic() - t0 < 120:
                time.sleep(0.1)
            reaped = time.monotonic() - t0
            print(f"the server's upkeep removed the killed import's rows in {reaped:.1f} s")

            run = subprocess.run([BIN, "campaign", "import", "--center", "bench", bad], env=env,
                                 capture_output=True, text=True)
            at_end = wal_size(db)
            peak, took = settle(db, port)
            total = json.loads(get(port, "/api/v4/campaigns?limit=1", key)[1])["metadata"]["total"]
            print(f"refused (exit {run.returncode}): WAL {at_end / 2**20:.0f} MiB at exit, "
                  f"under 64 MiB after {took:.1f} s; /metrics says {metrics_wal(port) / 2**20:.1f} MiB; "
                  f"visible campaigns: {total}; leftover imports: {staged_rows(db)} staged rows")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
