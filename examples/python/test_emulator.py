"""Testing an integration against campaignd's emulator mode, from Python.

The fixture builds a seed once (a contact center, two campaigns, a key),
starts `campaignd serve --emulator --seed FILE` on a free port, waits on
/readyz, and resets the server before every test, so each starts from the
same state. Only the standard library and pytest are used.

    CAMPAIGND_BIN=target/release/campaignd pytest examples/python
"""
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

BIN = os.environ.get("CAMPAIGND_BIN", "campaignd")
ADMIN_TOKEN = "python-example-admin-token"


def call(base, method, path, token, body=None):
    """One request; answers (status, parsed JSON body or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw) if raw else None


# The integration under test: reads a campaign, retrying a 503 as Voiso's
# clients should.
def fetch_campaign(base, key, campaign_id, attempts=3):
    for attempt in range(attempts):
        status, body = call(base, "GET", f"/api/v4/campaigns/{campaign_id}", key)
        if status != 503:
            return status, body
        time.sleep(0.05 * (attempt + 1))
    return status, body


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    work = tmp_path_factory.mktemp("campaignd")
    env = dict(os.environ, CAMPAIGND_DATABASE_URL=f"sqlite://{work}/seed.db", CAMPAIGND_LOG="warn")
    # A seed, made once with the admin CLI and saved as a snapshot.
    subprocess.run([BIN, "center", "create", "acme"], env=env, check=True, capture_output=True)
    campaigns = '[{"name": "Spring Renewals"}, {"name": "Win-back", "status": "active"}]'
    subprocess.run([BIN, "campaign", "import", "--center", "acme", "-"], env=env, check=True,
                   input=campaigns, text=True, capture_output=True)
    key = subprocess.run(
        [BIN, "key", "create", "--center", "acme", "--scope", "campaigns.read",
         "--scope", "campaigns.manage"],
        env=env, check=True, capture_output=True, text=True).stdout.strip()
    seed = work / "seed.ndjson"
    subprocess.run([BIN, "snapshot", "save", str(seed)], env=env, check=True, capture_output=True)

    port = free_port()
    env["CAMPAIGND_DATABASE_URL"] = f"sqlite://{work}/served.db"
    server = subprocess.Popen(
        [BIN, "serve", "--emulator", "--seed", str(seed), "--admin-token", ADMIN_TOKEN,
         "--listen", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise RuntimeError("campaignd never became ready")
        time.sleep(0.05)
    yield {"base": base, "key": key}
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture
def api(emulator):
    """Each test starts from the seed: no faults, an empty journal."""
    base = emulator["base"]
    call(base, "POST", "/_campaignd/reset", ADMIN_TOKEN)
    call(base, "DELETE", "/_campaignd/faults", ADMIN_TOKEN)
    return emulator


def test_the_integration_retries_a_503(api):
    base, key = api["base"], api["key"]
    status, body = call(base, "POST", "/_campaignd/faults", ADMIN_TOKEN, {
        "match": {"method": "GET", "route": "/api/v4/campaigns/{campaign_id}"},
        "action": {"status": 503}, "times": 1})
    assert status == 201 and body["fault"]["fired"] == 0

    status, body = fetch_campaign(base, key, 1)
    assert status == 200
    assert body["campaign"]["name"] == "Spring Renewals"

    # The journal shows the failed attempt and the retry; never the key.
    status, journal = call(base, "GET", "/_campaignd/requests?route=/api/v4/campaigns/{campaign_id}",
                           ADMIN_TOKEN)
    assert [r["status"] for r in journal["requests"]] == [503, 200]
    assert key[5:] not in json.dumps(journal)


def test_what_the_integration_sent_is_in_the_journal(api):
    base, key = api["base"], api["key"]
    status, _ = call(base, "POST", "/api/v4/campaigns", key, {"name": "From Python", "dial_level": 2})
    assert status == 201
    _, journal = call(base, "GET", "/_campaignd/requests?method=POST", ADMIN_TOKEN)
    (sent,) = journal["requests"]
    assert sent["body"] == {"name": "From Python", "dial_level": 2}
    assert sent["status"] == 201


def test_each_test_starts_from_the_seed(api):
    base, key = api["base"], api["key"]
    # Whatever an earlier test created is gone after the reset.
    _, listing = call(base, "GET", "/api/v4/campaigns", key)
    assert [c["name"] for c in listing["campaigns"]] == ["Spring Renewals", "Win-back"]
    status, paused = call(base, "POST", "/api/v4/campaigns/2/pause", key)
    assert status == 200 and paused["status"] == "paused"
    status, _ = call(base, "POST", "/_campaignd/reset", ADMIN_TOKEN)
    assert status == 200
    _, again = call(base, "GET", "/api/v4/campaigns/2", key)
    assert again["campaign"]["status"] == "active"
