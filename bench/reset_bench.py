#!/usr/bin/env python3
"""Emulator reset: how long `POST /_campaignd/reset` takes on SQLite over
100,000 campaigns and 1,000,000 leads (SPEC §12; target <= 2 s).

  1. 10 contact centers x 10,000 campaigns, imported with `campaign import`
  2. `campaignd snapshot save`, then 1,000,000 lead rows added to that file
     (100 campaigns x 10,000 leads, in the snapshot's own row form)
  3. `serve --emulator --seed FILE` on a fresh database (the load is timed)
  4. N resets, each timed from outside (wall clock) and as the server
     reports it (took_ms); the median is reported
  5. baseline, same run: copying the database file once (`shutil.copyfile`),
     the cost of merely moving its bytes; the reset is reported as a ratio
     to it

Usage: bench/reset_bench.py [--resets N] [--keep DIR] [--campaignd PATH]
"""
import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CENTERS = 10
PER_CENTER = 10_000
LEAD_CAMPAIGNS = 100
LEADS_PER_CAMPAIGN = 10_000
TOKEN = "reset-bench-admin-token-0123"


def run(bin, *args, env, stdin=None):
    return subprocess.run([bin, *args], env=env, input=stdin, check=True,
                          capture_output=True, text=True).stdout


def build_seed(bin, work):
    seed = os.path.join(work, "seed.ndjson")
    if os.path.exists(seed):
        return seed
    env = dict(os.environ, CAMPAIGND_DATABASE_URL=f"sqlite://{work}/source.db")
    print(f"importing {CENTERS} x {PER_CENTER} campaigns ...", file=sys.stderr)
    gen = os.path.join(ROOT, "bench/gen_campaigns.py")
    for c in range(CENTERS):
        run(bin, "center", "create", f"c{c}", env=env)
        data = subprocess.run([sys.executable, gen, str(PER_CENTER), "--seed", str(c)],
                              check=True, capture_output=True, text=True).stdout
        run(bin, "campaign", "import", "--center", f"c{c}", "-", env=env, stdin=data)
    base = os.path.join(work, "base.ndjson")
    run(bin, "snapshot", "save", base, env=env)
    print(f"adding {LEAD_CAMPAIGNS * LEADS_PER_CAMPAIGN} leads to the snapshot ...", file=sys.stderr)
    with open(base) as f:
        header = json.loads(f.readline())
        rest = f.readlines()
    leads = LEAD_CAMPAIGNS * LEADS_PER_CAMPAIGN
    header["tables"]["leads"] = leads
    at = int(time.time() * 1000)
    with open(seed, "w") as out:
        out.write(json.dumps(header) + "\n")
        written = False
        for line in rest:
            table = json.loads(line)["table"]
            if table in ("audit",) and not written:
                write_leads(out, at)
                written = True
            out.write(line)
        if not written:
            write_leads(out, at)
    return seed


def write_leads(out, at):
    # Campaign ids 1..100 of center 1, as the import numbered them.
    seq = 0
    for campaign in range(1, LEAD_CAMPAIGNS + 1):
        for n in range(LEADS_PER_CAMPAIGN):
            seq += 1
            row = [seq, 1, campaign, 15550000000 + n, f"Lead {n}", None, 500, True, None, at]
            out.write('{"table":"leads","row":' + json.dumps(row, separators=(",", ":")) + "}\n")


def post_reset(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.monotonic()
    conn.request("POST", "/_campaignd/reset", headers={"Authorization": f"Bearer {TOKEN}"})
    resp = conn.getresponse()
    body = resp.read()
    wall = time.monotonic() - started
    if resp.status != 200:
        raise SystemExit(f"reset answered {resp.status}: {body!r}")
    return wall, json.loads(body)["reset"]["took_ms"] / 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resets", type=int, default=5)
    ap.add_argument("--keep", help="reuse/keep the generated seed in this directory")
    ap.add_argument("--campaignd", help="the binary to measure (default: build this tree's)")
    args = ap.parse_args()
    bin = os.path.abspath(args.campaignd) if args.campaignd else os.path.join(ROOT, "target/release/campaignd")
    if not args.campaignd:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "campaignd"], cwd=ROOT, check=True)
    work = args.keep or tempfile.mkdtemp(prefix="campaignd-reset-")
    os.makedirs(work, exist_ok=True)
    seed = build_seed(bin, work)
    db = os.path.join(work, "served.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    env = dict(os.environ, CAMPAIGND_DATABASE_URL=f"sqlite://{db}", CAMPAIGND_LOG="warn")
    port = 18590
    started = time.monotonic()
    server = subprocess.Popen(
        [bin, "serve", "--emulator", "--seed", seed, "--admin-token", TOKEN,
         "--listen", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline()
    if "listening" not in line:
        raise SystemExit(f"the server did not start: {line!r}")
    load_s = time.monotonic() - started
    try:
        size = os.path.getsize(db)
        walls, tooks = [], []
        for i in range(args.resets):
            wall, took = post_reset(port)
            walls.append(wall)
            tooks.append(took)
            print(f"  reset {i + 1}: {wall:.3f} s", file=sys.stderr)
        copy_started = time.monotonic()
        shutil.copyfile(db, os.path.join(work, "copy.db"))
        copy_s = time.monotonic() - copy_started
        os.remove(os.path.join(work, "copy.db"))
    finally:
        server.terminate()
        server.wait(timeout=60)
    wall, took = statistics.median(walls), statistics.median(tooks)
    print(f"database: {CENTERS * PER_CENTER} campaigns, {LEAD_CAMPAIGNS * LEADS_PER_CAMPAIGN} leads, "
          f"{size / 2**20:.0f} MiB (SQLite)")
    print(f"serve --seed (start to listening, the load included): {load_s:.1f} s")
    print(f"reset, median of {args.resets}: {wall:.3f} s wall clock, {took:.3f} s as the server "
          f"timed it (runs: {' '.join(f'{w:.3f}' for w in walls)})")
    print(f"baseline, same run: copying the database file {copy_s:.3f} s; reset / copy = {wall / copy_s:.2f}")
    print(f"target <= 2 s: {'met' if wall <= 2 else 'NOT met'}")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
