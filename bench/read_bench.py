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

Also: peak RSS of campaignd over the run, and time from process start to the
first 200. Usage: bench/read_bench.py [--duration S] [--keep DIR]
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

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
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--keep", help="reuse/keep the populated database in this directory")
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "campaignd", "--example", "static_ceiling"],
                   cwd=ROOT, check=True)
    work = args.keep or tempfile.mkdtemp(prefix="campaignd-bench-")
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, CAMPAIGND_DATABASE_URL=f"sqlite://{work}/bench.db", CAMPAIGND_LOG=os.environ.get("CAMPAIGND_LOG", "info"))
    if not os.path.exists(os.path.join(work, "keys.txt")):
        populate(env, work)

    port = 18480
    t0 = time.monotonic()
    server = subprocess.Popen(
        ["taskset", "-c", "0", BIN, "serve", "--demo", "--listen", f"127.0.0.1:{port}",
         "--rate-limit-per-second", "1000000000", "--rate-limit-burst", "1000000000"],
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

    # The ceiling is measured before and after campaignd, and averaged, so a
    # drift of the machine during the run biases no ratio.
    results = {}
    ceilings = {"ceiling_hot": [], "ceiling_list": []}

    def measure_ceilings(offset):
        for name, body, p in (("ceiling_hot", hot_file, port + offset), ("ceiling_list", list_file, port + offset + 1)):
            ceiling = start_ceiling(p, body)
            ceilings[name].append(wrk(p, "/", args.duration))
            ceiling.terminate()
            ceiling.wait()

    server.send_signal(signal.SIGSTOP)
    measure_ceilings(1)
    server.send_signal(signal.SIGCONT)
    results["hot"] = wrk(port, "/api/v4/campaigns/3", args.duration, auth)
    results["random"] = wrk(port, "/", args.duration, script=script)
    results["list"] = wrk(port, "/api/v4/campaigns?limit=100", args.duration, {"Authorization": f"Bearer {center_key}"})
    with open(f"/proc/{server.pid}/status") as f:
        rss_kib = int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1))
    server.terminate()
    server.wait(timeout=30)
    measure_ceilings(3)
    for name, runs in ceilings.items():
        results[name] = {k: sum(r[k] for r in runs) / len(runs) for k in runs[0]}
        results[name + "_spread"] = max(r["rps"] for r in runs) / min(r["rps"] for r in runs)

    print(f"machine: {os.cpu_count()} CPUs; server on CPU 0, wrk on CPU 1, 64 connections, {args.duration}s per run")
    print(f"bodies: hot {len(hot)} bytes, list {len(list_body)} bytes; campaigns: {CENTERS * PER_CENTER + 26}")
    print(f"{'run':<34}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'ratio':>8}{'non-2xx':>9}")
    rows = [
        ("ceiling (static, hot bytes)", "ceiling_hot", "ceiling_hot"),
        ("GET campaign, hot", "hot", "ceiling_hot"),
        ("GET campaign, random of 100k", "random", "ceiling_hot"),
        ("ceiling (static, list bytes)", "ceiling_list", "ceiling_list"),
        ("GET campaigns?limit=100", "list", "ceiling_list"),
    ]
    for label, name, base in rows:
        r = results[name]
        ratio = r["rps"] / results[base]["rps"]
        print(f"{label:<34}{r['rps']:>10.0f}{r['p50_ms']:>9.3f}{r['p99_ms']:>9.3f}{ratio:>8.2f}{r['non2xx']:>9}")
    print(f"ceiling before/after spread: hot {results['ceiling_hot_spread']:.2f}x, list {results['ceiling_list_spread']:.2f}x")
    print(f"peak RSS of campaignd: {rss_kib / 1024:.1f} MiB")
    print(f"start to first 200: {first_200_ms:.0f} ms")
    print(json.dumps({"results": results, "rss_kib": rss_kib, "first_200_ms": first_200_ms}), file=sys.stderr)
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
