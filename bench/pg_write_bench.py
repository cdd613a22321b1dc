#!/usr/bin/env python3
"""PATCH throughput over PostgreSQL against pgbench -N on the same server, in
one run.

campaignd (pinned to CPU 0) serves 10,000 campaigns of one contact center
from a fresh PostgreSQL database; wrk (on CPU 1, 64 connections) PATCHes
them ({"max_dial_attempts": n}), each an acknowledged, durable write with
its If-Match check, audit record and change-log row in one transaction.
The baseline is pgbench's simple-update transaction (-N: three updates of
random rows and an insert, committed) at the same 64 clients (pgbench on
CPU 1), on a pgbench database of the same server, measured in the same
run; PostgreSQL itself is not pinned in either. Runs are repeated in
interleaved rounds; medians are reported.

Usage: bench/pg_write_bench.py [--duration S] [--rounds N] [--campaignd PATH]
  CAMPAIGND_BENCH_POSTGRES_URL  the server (default the machine's, as postgres)
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pg import Database  # noqa: E402
from write_bench import ROOT, run, wait_http, wrk  # noqa: E402

CAMPAIGNS = 10_000
SCRIPT = """
local n = 0
local headers = {{["Authorization"] = "Bearer {key}", ["Content-Type"] = "application/json"}}
request = function()
  n = n + 1
  return wrk.format("PATCH", "/api/v4/campaigns/" .. (n % {campaigns} + 1), headers,
    '{{"max_dial_attempts":' .. (n % 100 + 1) .. '}}')
end
"""


def pgbench(url, duration):
    out = subprocess.run(["taskset", "-c", "1", "pgbench", "-N", "-c", "64", "-j", "1", "-T", str(duration),
                          "-n", url], check=True, capture_output=True, text=True).stdout
    return float(re.search(r"tps = ([\d.]+)", out).group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=6, help="seconds per run")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians are reported)")
    ap.add_argument("--campaignd", help="the campaignd binary to measure (default: build this tree's)")
    args = ap.parse_args()
    for tool in ("wrk", "taskset", "pgbench", "psql"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    binary = args.campaignd
    if binary is None:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "campaignd"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target/release/campaignd")

    work = tempfile.mkdtemp(prefix="campaignd-pg-write-bench.")
    server = None
    with Database("campaignd_bench") as url, Database("campaignd_pgbench") as pgbench_url:
        try:
            subprocess.run(["pgbench", "-i", "-q", "-s", "10", pgbench_url], check=True, capture_output=True)
            env = dict(os.environ, CAMPAIGND_DATABASE_URL=url)
            run(binary, "center", "create", "bench", env=env)
            records = "".join(json.dumps({"name": f"w{i:05d}", "live": True}) + "\n"
                              for i in range(1, CAMPAIGNS + 1))
            run(binary, "campaign", "import", "--center", "bench", "-", env=env, stdin=records)
            key = run(binary, "key", "create", "--center", "bench", "--scope", "campaigns.manage",
                      env=env).strip()
            script = os.path.join(work, "patches.lua")
            with open(script, "w") as f:
                f.write(SCRIPT.format(key=key, campaigns=CAMPAIGNS))
            port = 18900 + os.getpid() % 1000
            server = subprocess.Popen(
                ["taskset", "-c", "0", binary, "serve", "--listen", f"127.0.0.1:{port}",
                 "--write-rate-limit-per-second", "1000000", "--write-rate-limit-burst", "1000000"],
                env=dict(env, CAMPAIGND_LOG="warn"), stdout=subprocess.DEVNULL)
            wait_http(port)
            wrk(port, script, 2)  # warm-up: statements prepared, pool full
            pgbench(pgbench_url, 2)
            base, patches = [], []
            for r in range(args.rounds):
                print(f"round {r + 1} of {args.rounds} ...", file=sys.stderr)
                base.append(pgbench(pgbench_url, args.duration))
                patches.append(wrk(port, script, args.duration))

            def median(values):
                values = sorted(values)
                return values[len(values) // 2]

            ratios = [p["rps"] / b for p, b in zip(patches, base)]
            print(f"machine: {os.cpu_count()} CPUs; campaignd on CPU 0, wrk and pgbench on CPU 1, "
                  f"64 connections, {args.rounds} rounds of {args.duration}s (medians)")
            print(f"pgbench -N, 64 clients: {median(base):,.0f} tps  per round: "
                  f"{' '.join(f'{b:,.0f}' for b in base)}")
            print(f"PATCH through campaignd: {median([p['rps'] for p in patches]):,.0f}/s  "
                  f"p50 {median([p['p50_ms'] for p in patches]):.2f} ms  "
                  f"p99 {median([p['p99_ms'] for p in patches]):.2f} ms  "
                  f"non-2xx {sum(p['non2xx'] for p in patches)} of {sum(p['requests'] for p in patches)}")
            print(f"ratio to pgbench -N: {median(ratios):.2f}x  per round: {' '.join(f'{x:.2f}' for x in ratios)}")
            print(json.dumps({"pgbench_tps": base, "patches": patches, "ratio": median(ratios)}))
        finally:
            if server is not None:
                server.terminate()
                server.wait()
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
