"""Helpers the import probes share (bench/revoke_during_import.py,
bench/wal_after_import.py): one HTTP GET, and what an import has staged."""
import http.client
import sqlite3


def get(port, path, key=None):
    """GET `path` on 127.0.0.1:`port` (with `key` as bearer token, if given):
    (status, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path, headers={"Authorization": f"Bearer {key}"} if key else {})
    resp = conn.getresponse()
    return resp.status, resp.read().decode()


def staged_rows(db):
    """Rows unfinished imports hold in the SQLite file `db` (0 before the
    schema exists)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        (n,) = conn.execute("SELECT coalesce(sum(staged), 0) FROM imports").fetchone()
        conn.close()
        return n
    except sqlite3.OperationalError:
        return 0
