#!/usr/bin/env python3
"""A key revoke during a bulk import, as an operator would run it.

With the release build: a server (`serve`) on a fresh SQLite file, and
`campaignd campaign import` of N generated campaigns (default 1,000,000)
into it. Once the import has staged a tenth of them, `campaignd key revoke`
runs from another process. Reported: how long the revoke took and its exit
code, how long after it the server first answered 401 to the revoked key,
the import's total time and exit code, and whether the server saw none of
the import's campaigns before it finished.

Usage: bench/revoke_during_import.py [N] [--rounds R]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from probes import get, staged_rows  # noqa: E402
from read_bench import wait_http  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/campaignd")


def run(*args, env, stdin=None):
    return subprocess.run(args, env=env, input=stdin, check=True, capture_output=True, text=True).stdout


def one_round(n, work, port):
    db = os.path.join(work, "bench.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    env = dict(os.environ, CAMPAIGND_DATABASE_URL=f"sqlite://{db}")
    run(BIN, "center", "create", "bench", env=env)
    key = run(BIN, "key", "create", "--center", "bench", "--scope", "campaigns.read", env=env).strip()
    watcher = run(BIN, "key", "create", "--center", "bench", "--scope", "campaigns.read", env=env).strip()
    key_id = json.loads(run(BIN, "key", "list", "--center", "bench", "--json", env=env))[0]["id"]
    server = subprocess.Popen(
        [BIN, "serve", "--listen", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return measure(n, work, port, env, db, server, key, watcher, key_id)
    finally:
        server.terminate()
        server.wait()


def measure(n, work, port, env, db, server, key, watcher, key_id):
    wait_http(port)
    assert get(port, "/api/v4/campaigns?limit=1", key)[0] == 200

    started = time.monotonic()
    importer = subprocess.Popen(
        [BIN, "campaign", "import", "--center", "bench", os.path.join(work, "in.ndjson")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    leaked = False
    while staged_rows(db) < n // 10:
        if importer.poll() is not None:
            raise SystemExit("the import ended before a tenth was staged")
        time.sleep(0.01)
    body = get(port, "/api/v4/campaigns?limit=1", watcher)[1]
    leaked |= json.loads(body)["metadata"]["total"] != 0

    t0 = time.monotonic()
    revoke = subprocess.run([BIN, "key", "revoke", str(key_id)], env=env, capture_output=True, text=True)
    revoke_s = time.monotonic() - t0
    t1 = time.monotonic()
    while get(port, "/api/v4/campaigns?limit=1", key)[0] != 401:
        if time.monotonic() - t1 > 10:
            break
        time.sleep(0.005)
    unauthorized_s = time.monotonic() - t1
    still_importing = importer.poll() is None
    body = get(port, "/api/v4/campaigns?limit=1", watcher)[1]
    leaked |= still_importing and json.loads(body)["metadata"]["total"] != 0

    out, err = importer.communicate()
    import_s = time.monotonic() - started
    total = json.loads(get(port, "/api/v4/campaigns?limit=1", watcher)[1])["metadata"]["total"]
    return {
        "revoke_s": revoke_s,
        "revoke_exit": revoke.returncode,
        "revoke_stderr": revoke.stderr.strip(),
        "401_after_s": unauthorized_s,
        "import_still_running": still_importing,
        "import_s": import_s,
        "import_exit": importer.returncode,
        "import_stderr": err.strip()[-300:],
        "visible_before_publish": leaked,
        "visible_after": total,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "campaignd"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory(prefix="campaignd-revoke-") as work:
        with open(os.path.join(work, "in.ndjson"), "w") as f:
            subprocess.run([sys.executable, os.path.join(ROOT, "bench/gen_campaigns.py"), str(args.n)],
                           stdout=f, check=True)
        for r in range(args.rounds):
            result = one_round(args.n, work, 18590 + r)
            print(f"round {r + 1}: revoke {result['revoke_s'] * 1000:.0f} ms (exit {result['revoke_exit']}"
                  f"{': ' + result['revoke_stderr'] if result['revoke_exit'] else ''}), "
                  f"401 {result['401_after_s'] * 1000:.0f} ms after it, "
                  f"import {'still running' if result['import_still_running'] else 'already done'} then; "
                  f"import {result['import_s']:.1f} s (exit {result['import_exit']}), "
                  f"staged rows visible early: {result['visible_before_publish']}, "
                  f"visible after: {result['visible_after']}")
            if result["import_exit"]:
                print(result["import_stderr"])


if __name__ == "__main__":
    main()
