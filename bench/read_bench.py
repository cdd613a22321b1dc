#!/usr/bin/env python3
"""The read-path benchmark: campaignd against a static ceiling, in one run.

The server under test is pinned to CPU 0 and wrk to CPU 1, 64 connections.
Each campaignd figure is reported as a ratio to a minimal static axum handler
(examples/static_ceiling.rs) serving the same bytes on the same core, measured
in the same run, so drift of this shared machine cancels out.

  1. ceiling: the hot campaign's exact bytes from the static handler
  2. hot GET /api/v4/campaigns/3 through the full path (auth, limit, lookup, render)
  3. random GET /api/v4/campaigns/{1..100} with a random key of 1000 contact
     centers (100,000 campaigns in all)
  4. ceiling: one list page's exact bytes
  5. GET /api/v4/campaigns?limit=100

Runs 1-5 are repeated in interleaved rounds; each ratio is taken within a
round and the medians are reported. Also: peak RSS of campaignd over the
run, and time from process start to the first 200.
Usage: bench/read_bench.py [--duration S] [--rounds N] [--keep DIR] [--campaignd PATH] [--postgres] [--cache-mb N]
  --campaignd  another build to measure (skips the build), e.g. an older commit's
  --cache-mb   the node's render cache, in MiB
  --keep       populate the SQLite file in DIR once and reuse it on later runs
  --postgres   serve from a fresh PostgreSQL database (CAMPAIGND_BENCH_POSTGRES_URL's
               server, default the machine's), filled from the SQLite file with
               `campaignd copy`, with rate limits in Redis
               (CAMPAIGND_BENCH_REDIS_URL, default redis://127.0.0.1:6379), as one
               node of several would; PostgreSQL and Redis are not pinned
"""
import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pg import Database  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/campaignd")
CEILING = os.path.join(ROOT, "target/release/examples/static_ceiling")
CENTERS = 1000
PER_CENTER = 100


def run(*args, env=None, stdin=None):
    return subprocess.run(args, env=env, input=stdin, check=True, capture_output=True, text=True).stdout


def wait_http(port, path="/healthz", headers=None, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", path, headers=headers or {})
            resp = conn.getresponse()
            body = resp.read()
            if resp.status == 200:
                return body
        except OSError:
            pass
        time.sleep(0.002)
    raise SystemExit(f"port {port} never answered 200 on {path}")


def populate(env, work):
    print(f"populating {CENTERS} contact centers x {PER_CENTER} campaigns ...", file=sys.stderr)
    keys = []
    gen = os.path.join(ROOT, "bench/gen_campaigns.py")
    for c in range(CENTERS):
        name = f"c{c:04d}"
        run(BIN, "center", "create", name, env=env)
        data = run(sys.executable, gen, str(PER_CENTER), "--seed", str(c), env=env)
        run(BIN, "campaign", "import", "--center", name, "-", env=env, stdin=data)
        keys.append(run(BIN, "key", "create", "--center", name, "--scope", "campaigns.read", env=env).strip())
        if c % 100 == 99:
            print(f"  {c + 1} centers", file=sys.stderr)
    with open(os.path.join(work, "keys.txt"), "w") as f:
        f.write("\n".join(keys) + "\n")


def wrk(port, path, duration, headers=None, script=None):
    args = ["taskset", "-c", "1", "wrk", "-t1", "-c64", f"-d{duration}s", "--latency"]
    for k, v in (headers or {}).items():
        args += ["-H", f"{k}: {v}"]
    if script:
        args += ["-s", script]
    args.append(f"http://127.0.0.1:{port}{path}")
    # A short warm-up, then the measured run.
    warm = ["-d2s" if a.startswith("-d") else a for a in args]
    subprocess.run(warm, check=True, capture_output=True)
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": pct(50), "p99_ms": pct(99), "non2xx": int(non2xx.group(1)) if non2xx else 0}


def start_ceiling(port, body_file):
    p = subprocess.Popen(["taskset", "-c", "0", CEILING, f"127.0.0.1:{port}", body_file])
    wait_http(port)
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=6, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians are reported)")
    ap.add_argument("--keep", help="reuse/keep the populated database in this directory")
    ap.add_argument("--campaignd", help="the campaignd binary to measure (default: build this tree's)")
    ap.add_argument("--postgres", action="store_true", help="serve from PostgreSQL, limits in Redis")
    ap.add_argument("--cache-mb", type=int, help="the node's render cache (default: campaignd's)")
    args = ap.parse_args()
    with Database("campaignd_read_bench") if args.postgres else contextlib.nullcontext() as pg_url:
        bench(args, pg_url)


def bench(args, pg_url):

    global BIN
    if args.campaignd:
        BIN = os.path.abspath(args.campaignd)
    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "static_ceiling"]
                   + ([] if args.campaignd else ["--bin", "campaignd"]), cwd=ROOT, check=True)
    work = args.keep or tempfile.mkdtemp(prefix="campaignd-bench-")
    os.makedirs(work, exist_ok=True)
    sqlite_url = f"sqlite://{work}/bench.db"
    env = dict(os.environ, CAMPAIGND_DATABASE_URL=sqlite_url, CAMPAIGND_LOG=os.environ.get("CAMPAIGND_LOG", "info"))
    shared = ["--redis-url", os.environ.get("CAMPAIGND_BENCH_REDIS_URL", "redis://127.0.0.1:6379")] if pg_url else []
    if args.cache_mb is not None:
        shared += ["--cache-mb", str(args.cache_mb)]
    if not os.path.exists(os.path.join(work, "keys.txt")):
        populate(env, work)
    if pg_url:
        # The data is made once in SQLite (kept with --keep) and moved into
        # the fresh database as an operator would move a deployment.
        print("copying into PostgreSQL ...", file=sys.stderr)
        run(BIN, "copy", "--from", sqlite_url, "--to", pg_url, env=env)
        env["CAMPAIGND_DATABASE_URL"] = pg_url

    port = 18480
    t0 = time.monotonic()
    server = subprocess.Popen(
        ["taskset", "-c", "0", BIN, "serve", "--demo", "--listen", f"127.0.0.1:{port}",
         "--rate-limit-per-second", "1000000000", "--rate-limit-burst", "1000000000"] + shared,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = [server.stdout.readline() for _ in range(2)]
    key = lines[1].split("demo API key: ")[1].strip()
    auth = {"Authorization": f"Bearer {key}"}
    hot = wait_http(port, "/api/v4/campaigns/3", auth)
    first_200_ms = (time.monotonic() - t0) * 1000

    hot_file = os.path.join(work, "hot.json")
    with open(hot_file, "wb") as f:
        f.write(hot)
    center_key = open(os.path.join(work, "keys.txt")).readline().strip()
    list_body = wait_http(port, "/api/v4/campaigns?limit=100", {"Authorization": f"Bearer {center_key}"})
    list_file = os.path.join(work, "list.json")
    with open(list_file, "wb") as f:
        f.write(list_body)
    script = os.path.join(work, "random.lua")
    with open(script, "w") as f:
        f.write(f"""
local keys = {{}}
for line in io.lines("{work}/keys.txt") do keys[#keys + 1] = line end
math.randomseed(os.time())
request = function()
  local k = keys[math.random(#keys)]
  return wrk.format("GET", "/api/v4/campaigns/" .. math.random({PER_CENTER}), {{["Authorization"] = "Bearer " .. k}})
end
""")

    # Rounds interleave each campaignd run with a run of its ceiling, and
    # each ratio is taken within a round: the machine drifts (other tenants)
    # by tens of percent over a minute, much less within one round. The
    # figures reported are the medians over the rounds.
    ceiling_hot = start_ceiling(port + 1, hot_file)
    ceiling_list = start_ceiling(port + 2, list_file)
    runs = {name: [] for name in ("ceiling_hot", "hot", "random", "ceiling_list", "list")}
    ratios = {name: [] for name in ("hot", "random", "list")}
    list_auth = {"Authorization": f"Bearer {center_key}"}
    def peak_rss_kib():
        with open(f"/proc/{server.pid}/status") as f:
            return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1))

    # Which run raised campaignd's peak RSS, and to what.
    peaks = [("start", peak_rss_kib())]

    def campaignd_run(name, *a, **kw):
        runs[name].append(wrk(port, *a, **kw))
        peak = peak_rss_kib()
        if peak > peaks[-1][1]:
            peaks.append((f"{name} {len(runs[name])}", peak))

    for r in range(args.rounds):
        print(f"round {r + 1} of {args.rounds} ...", file=sys.stderr)
        runs["ceiling_hot"].append(wrk(port + 1, "/", args.duration))
        campaignd_run("hot", "/api/v4/campaigns/3", args.duration, auth)
        campaignd_run("random", "/", args.duration, script=script)
        runs["ceiling_list"].append(wrk(port + 2, "/", args.duration))
        campaignd_run("list", "/api/v4/campaigns?limit=100", args.duration, list_auth)
        for name, base in (("hot", "ceiling_hot"), ("random", "ceiling_hot"), ("list", "ceiling_list")):
            ratios[name].append(runs[name][-1]["rps"] / runs[base][-1]["rps"])
    rss_kib = peak_rss_kib()
    for p in (server, ceiling_hot, ceiling_list):
        p.terminate()
        p.wait(timeout=30)

    def median(values):
        values = sorted(values)
        mid = len(values) // 2
        return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2

    results = {name: {k: median([run[k] for run in rs]) for k in rs[0]} for name, rs in runs.items()}
    for name in ratios:
        results[name]["ratio"] = median(ratios[name])
        results[name]["ratios"] = ratios[name]
    for name in ("ceiling_hot", "ceiling_list"):
        results[name]["ratio"] = 1.0
        rps = [run["rps"] for run in runs[name]]
        results[name + "_spread"] = max(rps) / min(rps)

    print(f"storage: {'PostgreSQL, rate limits in Redis' if pg_url else 'SQLite'}"
          + (f"; render cache {args.cache_mb} MiB" if args.cache_mb is not None else ""))
    print(f"machine: {os.cpu_count()} CPUs; server on CPU 0, wrk on CPU 1, 64 connections, "
          f"{args.rounds} rounds of {args.duration}s runs (medians; ratios within each round)")
    print(f"bodies: hot {len(hot)} bytes, list {len(list_body)} bytes; campaigns: {CENTERS * PER_CENTER + 26}")
    print(f"{'run':<34}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'ratio':>8}{'non-2xx':>9}  ratio per round")
    rows = [
        ("ceiling (static, hot bytes)", "ceiling_hot"),
        ("GET campaign, hot", "hot"),
        ("GET campaign, random of 100k", "random"),
        ("ceiling (static, list bytes)", "ceiling_list"),
        ("GET campaigns?limit=100", "list"),
    ]
    for label, name in rows:
        r = results[name]
        per_round = " ".join(f"{x:.2f}" for x in r.get("ratios", []))
        print(f"{label:<34}{r['rps']:>10.0f}{r['p50_ms']:>9.3f}{r['p99_ms']:>9.3f}{r['ratio']:>8.2f}{r['non2xx']:>9.0f}  {per_round}")
    print(f"ceiling spread over the rounds: hot {results['ceiling_hot_spread']:.2f}x, list {results['ceiling_list_spread']:.2f}x")
    print(f"peak RSS of campaignd: {rss_kib / 1024:.1f} MiB (raised by: "
          + ", ".join(f"{name} {kib / 1024:.1f}" for name, kib in peaks) + ")")
    print(f"start to first 200: {first_200_ms:.0f} ms")
    print(json.dumps({"results": results, "rss_kib": rss_kib, "first_200_ms": first_200_ms}), file=sys.stderr)
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
