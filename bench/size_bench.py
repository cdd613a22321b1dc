#!/usr/bin/env python3
"""What database size costs a read: random GETs over 1,000 campaigns and over 1,000,000.

Two databases, one server each, both pinned to CPU 0 (wrk on CPU 1, 64
connections): "small" holds one contact center of 1,000 campaigns; "large"
holds ten centers of 100,000 (1,000,000 in all). Each run GETs random ids
of one center with its key. Runs alternate small, large in interleaved
rounds; the large/small ratio of requests per second (and of p50 latency)
is taken within each round, and the medians reported, with each server's
peak RSS and its render cache's share of hits (from /metrics; per round for
the large case, whose cache fills in the first round).

Usage: bench/size_bench.py [--duration S] [--rounds N] [--keep DIR] [--campaignd PATH]
  --keep       reuse (or build and keep) the two databases in DIR
  --campaignd  another build to measure (skips the build)
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import read_bench  # noqa: E402  (wrk, wait_http)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEN = os.path.join(ROOT, "bench/gen_campaigns.py")
CASES = {"small": (1, 1000), "large": (10, 100_000)}


def run(*args, env, stdin=None):
    return subprocess.run(args, env=env, input=stdin, check=True, capture_output=True, text=True).stdout


def populate(binary, work, case):
    """Builds the case's database (if missing); returns its env and the key of center 0."""
    centers, per_center = CASES[case]
    db = os.path.join(work, f"{case}.db")
    env = dict(os.environ, CAMPAIGND_DATABASE_URL=f"sqlite://{db}", CAMPAIGND_LOG="warn")
    key_file = os.path.join(work, f"{case}.key")
    if not os.path.exists(key_file):
        print(f"populating {case}: {centers} x {per_center} campaigns ...", file=sys.stderr)
        for c in range(centers):
            name = f"c{c}"
            run(binary, "center", "create", name, env=env)
            data = subprocess.run([sys.executable, GEN, str(per_center), "--seed", str(c)],
                                  check=True, capture_output=True).stdout
            subprocess.run([binary, "campaign", "import", "--center", name, "-"], env=env, input=data,
                           check=True, capture_output=True)
        key = run(binary, "key", "create", "--center", "c0", "--scope", "campaigns.read", env=env).strip()
        with open(key_file, "w") as f:
            f.write(key)
    return env, open(key_file).read().strip(), db


def render_lookups(port):
    """The render cache's (hits, misses) so far, from /metrics."""
    text = read_bench.wait_http(port, "/metrics").decode()
    found = dict(re.findall(r'campaignd_cache_lookups_total\{cache="renders",result="(\w+)"\} (\d+)', text))
    return int(found.get("hit", 0)), int(found.get("miss", 0))


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1))


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=6, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians are reported)")
    ap.add_argument("--keep", help="reuse/keep the populated databases in this directory")
    ap.add_argument("--campaignd", help="the campaignd binary to measure (default: build this tree's)")
    args = ap.parse_args()
    binary = os.path.abspath(args.campaignd) if args.campaignd else os.path.join(ROOT, "target/release/campaignd")
    if not args.campaignd:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "campaignd"], cwd=ROOT, check=True)
    work = args.keep or tempfile.mkdtemp(prefix="campaignd-size-")
    os.makedirs(work, exist_ok=True)

    servers, scripts, ports = {}, {}, {}
    try:
        for i, case in enumerate(CASES):
            env, key, db = populate(binary, work, case)
            port = 18700 + i
            servers[case] = subprocess.Popen(
                ["taskset", "-c", "0", binary, "serve", "--listen", f"127.0.0.1:{port}",
                 "--rate-limit-per-second", "1000000000", "--rate-limit-burst", "1000000000"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            read_bench.wait_http(port, "/api/v4/campaigns/1", {"Authorization": f"Bearer {key}"})
            script = os.path.join(work, f"{case}.lua")
            with open(script, "w") as f:
                f.write(f"""
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/v4/campaigns/" .. math.random({CASES[case][1]}),
                    {{["Authorization"] = "Bearer {key}"}})
end
""")
            scripts[case], ports[case] = script, port
            size = os.path.getsize(db)
            print(f"{case}: {CASES[case][0] * CASES[case][1]} campaigns, database {size / 2**20:.0f} MiB",
                  file=sys.stderr)

        runs = {case: [] for case in CASES}
        for r in range(args.rounds):
            print(f"round {r + 1} of {args.rounds} ...", file=sys.stderr)
            for case in CASES:
                before = render_lookups(ports[case])
                runs[case].append(read_bench.wrk(ports[case], "/", args.duration, script=scripts[case]))
                (h0, m0), (h1, m1) = before, render_lookups(ports[case])
                runs[case][-1]["hits"] = (h1 - h0) / max(1, h1 - h0 + m1 - m0)
        rss = {case: peak_rss_kib(servers[case].pid) for case in CASES}
    finally:
        for p in servers.values():
            p.terminate()
            p.wait(timeout=30)

    ratio = [l["rps"] / s["rps"] for s, l in zip(runs["small"], runs["large"])]
    p50 = [l["p50_ms"] / s["p50_ms"] for s, l in zip(runs["small"], runs["large"])]
    print(f"server on CPU 0, wrk on CPU 1, 64 connections, {args.rounds} rounds of {args.duration}s runs")
    print(f"{'case':<10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'peak RSS MiB':>14}"
          f"{'cache hits':>12}")
    for case in CASES:
        m = {k: median([x[k] for x in runs[case]]) for k in runs[case][0]}
        print(f"{case:<10}{m['rps']:>10.0f}{m['p50_ms']:>9.3f}{m['p99_ms']:>9.3f}{m['non2xx']:>9.0f}"
              f"{rss[case] / 1024:>14.1f}{m['hits']:>12.1%}")
    print(f"large/small req/s: median {median(ratio):.2f} (per round: {' '.join(f'{x:.2f}' for x in ratio)})")
    hits = " ".join(f"{x['hits']:.0%}" for x in runs["large"])
    print(f"large case's render cache hits per round: {hits}")
    print(f"large/small p50:   median {median(p50):.2f} (per round: {' '.join(f'{x:.2f}' for x in p50)})")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
