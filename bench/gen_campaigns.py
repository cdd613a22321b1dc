#!/usr/bin/env python3
"""Writes N campaigns as NDJSON (the `campaignd campaign import` input) to stdout.

Usage: gen_campaigns.py N [--seed S] [--name-prefix P]

The records vary every field the list filters touch (status, strategy, live,
method) and carry realistic nested objects, so imports and reads are measured
on data shaped like production's. Ids are left out: the importer assigns them.
"""
import argparse
import json
import random
import sys

STATUSES = ["draft", "active", "paused", "stopping", "completed", "processing",
            "stopped", "auto_paused", "pausing", "auto_pausing", "import_error"]


def campaign(i, rng, prefix):
    c = {
        "name": f"{prefix}Campaign {i:07d}",
        "status": STATUSES[i % len(STATUSES)],
        "strategy": "predictive_ai" if i % 3 == 0 else "simple",
        "dial_level": rng.choice([1, 1.5, 2, 2.5, 3]),
        "dial_level_override": None if i % 4 == 0 else {
            "enabled": i % 2 == 0, "value": 1.5, "active_agents_threshold": 3},
        "max_dial_time": 60,
        "max_wait_time": 5,
        "max_dial_attempts": 3,
        "amd_enabled": i % 2 == 1,
        "amd_voicemail_message": None if i % 5 == 0 else {
            "enabled": False,
            "voice_message": {"type": "voice_message", "name": "Instructions"}},
        "caller_id_sets": [{"phone_numbers": [f"1888565{n:04d}" for n in range(i % 3 + 1)]}],
        "use_local_caller_id": i % 7 == 0,
        "asr_optimization_enabled": True,
        "follow_up_mode": "timer" if i % 2 == 0 else None,
        "created_at": "2026-01-15T10:30:00.000Z",
        "updated_at": "2026-01-20T14:15:00.000Z",
        "live": i % 2 == 0,
        "method": None if i % 3 else "power",
    }
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--name-prefix", default="")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    out = sys.stdout
    for i in range(1, args.n + 1):
        out.write(json.dumps(campaign(i, rng, args.name_prefix), separators=(",", ":")))
        out.write("\n")


if __name__ == "__main__":
    main()
