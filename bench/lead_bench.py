#!/usr/bin/env python3
"""The lead-import benchmark: how long a 1000-lead import takes as the client
sees it, and how many leads per second 16 importers get through at once,
every import durable before its answer.

The server is pinned to CPU 0 and the clients to CPU 1 (request bodies are
encoded before the clock starts, so the clients cost little).

  * latency: one live campaign is filled with 100,000 leads, then 50 imports
    of 1000 new leads each are sent one after another; p50 and p99.
  * throughput: 16 clients, each with a campaign of its own, import 1000
    new leads per request for --duration seconds; leads created per second.

Both are also reported against a baseline measured in the same run: the
disk's serial durable-commit time (write + fdatasync of 4 KiB in the
database's directory), the floor under any durable answer.

Usage: bench/lead_bench.py [--duration S] [--campaignd PATH]
"""
import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from write_bench import run, serial_commit_rate, wait_http

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFILL = 100_000
BATCH = 1000
MEASURED = 50
CLIENTS = 16


def serial_commit_ms(directory, seconds=2.0):
    """Milliseconds per durable 4 KiB append, one fdatasync each."""
    return 1000 / serial_commit_rate(directory, seconds)


SHAPES = ("spread", "default")


def body(campaign, batch, shape="spread"):
    """1000 leads with numbers no other batch uses (1 CCC BBBB III, so in
    order within a batch). `spread` gives them every priority from 1 to
    1000, so each lands in a different part of the priority index; `default`
    leaves priority out (500 for all), as a plain list of numbers is sent."""
    def lead(i):
        value = {"phone_number": f"1{campaign:03d}{batch:04d}{i:03d}", "name": f"Lead {i}",
                 "context_headers": {"X-Batch": str(batch)}}
        if shape == "spread":
            value["priority"] = 1 + i % 1000
        return value
    return json.dumps([lead(i) for i in range(BATCH)]).encode()


class Api:
    def __init__(self, port, key):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.key = key

    def post(self, path, payload):
        self.conn.request("POST", path, body=payload, headers={
            "Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
        reply = self.conn.getresponse()
        data = reply.read()
        if reply.status != 200:
            raise SystemExit(f"POST {path} answered {reply.status}: {data[:200]!r}")
        return json.loads(data)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=10, help="seconds of the throughput run")
    ap.add_argument("--shape", choices=SHAPES, default="spread", help="the leads' priorities (see body())")
    ap.add_argument("--campaignd", help="the campaignd binary to measure (default: build this tree's)")
    args = ap.parse_args()
    if shutil.which("taskset") is None:
        raise SystemExit("taskset is not installed (apt-get install -y util-linux)")
    binary = args.campaignd
    if binary is None:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "campaignd"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target/release/campaignd")
    os.sched_setaffinity(0, {1})

    work = tempfile.mkdtemp(prefix="campaignd-lead-bench.")
    server = None
    try:
        db = os.path.join(work, "bench.db")
        env = dict(os.environ, CAMPAIGND_DATABASE_URL=f"sqlite://{db}")
        run(binary, "center", "create", "bench", env=env)
        records = "".join(json.dumps({"name": f"L{i:02d}", "live": True}) + "\n" for i in range(CLIENTS + 1))
        run(binary, "campaign", "import", "--center", "bench", "-", env=env, stdin=records)
        key = run(binary, "key", "create", "--center", "bench", "--scope", "campaigns.manage", env=env).strip()
        port = 18700 + os.getpid() % 1000
        server = subprocess.Popen(
            ["taskset", "-c", "0", binary, "serve", "--listen", f"127.0.0.1:{port}",
             "--write-rate-limit-per-second", "1000000", "--write-rate-limit-burst", "1000000"],
            env=dict(env, CAMPAIGND_LOG=os.environ.get("CAMPAIGND_LOG", "warn")), stdout=subprocess.DEVNULL,
            stderr=open(os.environ["LEAD_BENCH_LOG"], "w") if "LEAD_BENCH_LOG" in os.environ else None)
        wait_http(port)

        print(f"filling campaign 1 with {PREFILL:,} leads ...", file=sys.stderr)
        api = Api(port, key)
        for b in range(PREFILL // BATCH):
            api.post("/api/v4/campaigns/1/leads", body(1, b, args.shape))
        bodies = [body(1, PREFILL // BATCH + i, args.shape) for i in range(MEASURED)]
        latencies = []
        for payload in bodies:
            start = time.perf_counter()
            done = api.post("/api/v4/campaigns/1/leads", payload)
            latencies.append((time.perf_counter() - start) * 1000)
            assert len(done["leads_import"]["created"]) == BATCH, done["leads_import"]
        commit_ms = serial_commit_ms(work)

        print(f"{CLIENTS} clients importing for {args.duration}s ...", file=sys.stderr)
        created = [0] * CLIENTS
        # Bodies for 100 imports/s made ahead; a client that needs more
        # makes them as it goes.
        per_client = int(args.duration * 100 / CLIENTS) + 2
        payloads = [[body(c + 2, b, args.shape) for b in range(per_client)] for c in range(CLIENTS)]

        def client(c):
            mine = Api(port, key)
            b = 0
            while time.monotonic() < stop:
                payload = payloads[c][b] if b < per_client else body(c + 2, b, args.shape)
                created[c] += len(mine.post(f"/api/v4/campaigns/{c + 2}/leads", payload)["leads_import"]["created"])
                b += 1

        threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
        begun = time.monotonic()
        stop = begun + args.duration
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - begun
        rate = sum(created) / elapsed

        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        print(f"machine: {os.cpu_count()} CPUs; server on CPU 0, clients on CPU 1; priorities: {args.shape}")
        print(f"serial durable commit (write + fdatasync, 4 KiB): {commit_ms:.2f} ms")
        print(f"1000-lead import into a campaign of {PREFILL:,}+ leads, {MEASURED} in a row: "
              f"p50 {p50:.1f} ms  p99 {p99:.1f} ms  ({p50 / commit_ms:.1f}x and {p99 / commit_ms:.1f}x "
              f"a serial durable commit; target p50 <= 25 ms)")
        print(f"{CLIENTS} clients x {CLIENTS} campaigns: {rate:,.0f} leads/s created over {elapsed:.1f}s "
              f"({rate * commit_ms / 1000:.0f} leads per serial-commit time; target >= 50,000/s)")
        print(json.dumps({"commit_ms": commit_ms, "latency_ms": latencies, "p50_ms": p50, "p99_ms": p99,
                          "leads_per_s": rate}))
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
