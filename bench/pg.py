"""A scratch PostgreSQL database for a benchmark, on the server
CAMPAIGND_BENCH_POSTGRES_URL names (default: the machine's, as the
postgres user), created fresh and dropped after."""
import os
import re
import subprocess

ADMIN_URL = os.environ.get("CAMPAIGND_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def with_database(url, name):
    """`url` naming database `name` instead."""
    base, _, query = url.partition("?")
    base = re.sub(r"^(\w+://[^/]*)(/.*)?$", rf"\g<1>/{name}", base)
    return base + ("?" + query if query else "")


def psql(sql, url=ADMIN_URL):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], check=True,
                   capture_output=True, text=True)


class Database:
    """`with Database("name") as url:` — a fresh database, dropped after."""

    def __init__(self, name):
        self.name = f"{name}_{os.getpid()}"
        self.url = with_database(ADMIN_URL, self.name)

    def __enter__(self):
        psql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
        psql(f"CREATE DATABASE {self.name}")
        return self.url

    def __exit__(self, *exc):
        psql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
