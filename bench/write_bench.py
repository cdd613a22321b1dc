#!/usr/bin/env python3
"""The write-path benchmark: durable writes per second against the disk's own
serial durable-commit rate, measured in the same run.

The server under test is pinned to CPU 0 and wrk to CPU 1, 64 connections,
over 10,000 live campaigns of one contact center, each staffed with a user
and a lead so that it may start:

  * half the requests PATCH a campaign ({"max_dial_attempts": n});
  * half drive another campaign through start and pause, in turn.

Every write is acknowledged only once it is on disk (synchronous=FULL), so
the baseline is a loop of write + fdatasync of 4 KiB in the database's own
directory: what one commit per request could reach at best. Writes that
arrive together share a commit (group commit), so the ratio to that loop
is what batching buys. Runs are repeated in interleaved rounds; medians
are reported.

Usage: bench/write_bench.py [--duration S] [--rounds N] [--campaignd PATH]
"""
import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAMPAIGNS = 10_000
SCRIPT = """
local key = "{key}"
local n = 0
local active = {{}}
local auth = {{["Authorization"] = "Bearer " .. key}}
local patch = {{["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}}
request = function()
  n = n + 1
  local id = (n % {campaigns}) + 1
  if n % 2 == 0 then
    return wrk.format("PATCH", "/api/v4/campaigns/" .. id, patch,
      '{{"max_dial_attempts":' .. (n % 100 + 1) .. '}}')
  end
  local action = "/start"
  if active[id] then action = "/pause" end
  active[id] = not active[id]
  return wrk.format("POST", "/api/v4/campaigns/" .. id .. action, auth)
end
"""


def run(*args, env=None, stdin=None):
    return subprocess.run(args, env=env, input=stdin, check=True, capture_output=True, text=True).stdout


def wait_http(port, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.01)
    raise SystemExit(f"port {port} never answered /healthz")


def serial_commit_rate(directory, seconds):
    """Durable 4 KiB appends per second, one fdatasync each."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    block = b"x" * 4096
    n = 0
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds:
            os.write(fd, block)
            os.fdatasync(fd)
            n += 1
    finally:
        os.close(fd)
        os.unlink(path)
    return n / (time.monotonic() - start)


def wrk(port, script, duration):
    args = ["taskset", "-c", "1", "wrk", "-t1", "-c64", f"-d{duration}s", "--latency", "-s", script,
            f"http://127.0.0.1:{port}/"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p50_ms": pct(50), "p99_ms": pct(99), "requests": total,
            "non2xx": int(non2xx.group(1)) if non2xx else 0}


def pause_all(port, key):
    """Puts every campaign the script starts and pauses back to paused, as a
    fresh run of it assumes (an active one is paused; a paused one answers
    409 and stays)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for n in range(1, 2 * CAMPAIGNS, 2):
        conn.request("POST", f"/api/v4/campaigns/{n % CAMPAIGNS + 1}/pause",
                     headers={"Authorization": f"Bearer {key}"})
        status = conn.getresponse()
        status.read()
        if status.status not in (200, 409):
            raise SystemExit(f"resetting the campaigns: pause answered {status.status}")
    conn.close()


def staff_all(port, key):
    """Gives every campaign what start needs: user 1 and a lead."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    for n in range(1, CAMPAIGNS + 1):
        for path, body in ((f"/api/v4/campaigns/{n}/users", {"user_ids": [1]}),
                           (f"/api/v4/campaigns/{n}/leads", [{"phone_number": f"1555{n:07d}"}])):
            conn.request("POST", path, body=json.dumps(body), headers=headers)
            reply = conn.getresponse()
            reply.read()
            if reply.status != 200:
                raise SystemExit(f"staffing the campaigns: {path} answered {reply.status}")
    conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=6, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians are reported)")
    ap.add_argument("--campaignd", help="the campaignd binary to measure (default: build this tree's)")
    args = ap.parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install -y wrk util-linux)")
    binary = args.campaignd
    if binary is None:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "campaignd"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target/release/campaignd")

    work = tempfile.mkdtemp(prefix="campaignd-write-bench.")
    server = None
    try:
        db = os.path.join(work, "bench.db")
        env = dict(os.environ, CAMPAIGND_DATABASE_URL=f"sqlite://{db}")
        run(binary, "center", "create", "bench", env=env)
        records = "".join(json.dumps({"name": f"w{i:05d}", "status": "paused", "live": True}) + "\n"
                          for i in range(1, CAMPAIGNS + 1))
        run(binary, "campaign", "import", "--center", "bench", "-", env=env, stdin=records)
        run(binary, "user", "import", "--center", "bench", "-", env=env,
            stdin=json.dumps({"id": 1, "name": "Bench Agent", "email": "agent@bench.example"}) + "\n")
        key = run(binary, "key", "create", "--center", "bench", "--scope", "campaigns.manage", env=env).strip()
        script = os.path.join(work, "writes.lua")
        with open(script, "w") as f:
            f.write(SCRIPT.format(key=key, campaigns=CAMPAIGNS))

        port = 18700 + os.getpid() % 1000
        server = subprocess.Popen(
            ["taskset", "-c", "0", binary, "serve", "--listen", f"127.0.0.1:{port}",
             "--rate-limit-per-second", "1000000", "--rate-limit-burst", "1000000",
             "--write-rate-limit-per-second", "1000000", "--write-rate-limit-burst", "1000000"],
            env=dict(env, CAMPAIGND_LOG="warn"), stdout=subprocess.DEVNULL)
        wait_http(port)
        staff_all(port, key)
        # Warm-up: every campaign visited once, the statements prepared.
        wrk(port, script, 2)
        pause_all(port, key)

        serial, writes = [], []
        for r in range(args.rounds):
            print(f"round {r + 1} of {args.rounds} ...", file=sys.stderr)
            serial.append(serial_commit_rate(work, min(args.duration, 3)))
            writes.append(wrk(port, script, args.duration))
            pause_all(port, key)

        def median(values):
            values = sorted(values)
            return values[len(values) // 2]

        base = median(serial)
        rps = median([w["rps"] for w in writes])
        ratios = [w["rps"] / s for w, s in zip(writes, serial)]
        p50 = median([w["p50_ms"] for w in writes])
        p99 = median([w["p99_ms"] for w in writes])
        non2xx = sum(w["non2xx"] for w in writes)
        total = sum(w["requests"] for w in writes)
        print(f"machine: {os.cpu_count()} CPUs; server on CPU 0, wrk on CPU 1, 64 connections, "
              f"{args.rounds} rounds of {args.duration}s (medians)")
        print(f"serial durable commits (write + fdatasync, 4 KiB): {base:,.0f}/s  "
              f"per round: {' '.join(f'{s:,.0f}' for s in serial)}")
        print(f"durable writes through the API: {rps:,.0f}/s  p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
              f"non-2xx {non2xx} of {total}")
        print(f"ratio to the serial rate: {median(ratios):.1f}x  per round: "
              f"{' '.join(f'{x:.1f}' for x in ratios)}")
        print(json.dumps({"serial_per_s": serial, "writes": writes, "ratio": median(ratios)}))
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
