"""A throwaway PostgreSQL server for the migration tests: a fresh cluster on a free loopback port, password
authentication (scram-sha-256), stopped and deleted at the end of the session.

`.ci/run` installs Debian's `postgresql` package when its binaries are missing, so these tests never skip. initdb
refuses to run as root: as root, the cluster belongs to the `postgres` user the package creates.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

USER = "batchyard"
# URL-unsafe characters on purpose: the masking must find the password however the URL spells it
PASSWORD = "pg-S3cret/with:odd@chars"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str

    def url(self, database: str = "postgres", with_password: bool = True) -> str:
        secret = f":{quote(self.password, safe='')}" if with_password else ""
        return f"postgresql://{self.user}{secret}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(database), autocommit=True)

    def fresh_database(self, name: str) -> str:
        """An empty database called `name` (dropped first if a previous test made it); returns its URL."""
        with self.connect() as connection:
            connection.execute(f'drop database if exists "{name}" with (force)')
            connection.execute(f'create database "{name}"')
        return self.url(name)


def postgres_binaries() -> Path:
    """The folder holding initdb and pg_ctl: on the PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    installed = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda path: int(path.split("/")[4]))
    if not installed:
        raise RuntimeError("PostgreSQL is not installed: run .ci/run, or apt-get install postgresql")
    return Path(installed[-1]).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def postgres_cluster() -> Iterator[PostgresServer]:
    binaries = postgres_binaries()
    base = Path(tempfile.mkdtemp(prefix="batchyard-postgres-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, user="postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    password_file = base / "pw"
    password_file.write_text(PASSWORD)
    if as_owner:
        shutil.chown(password_file, user="postgres")
    port = free_port()
    data = base / "data"
    subprocess.run(
        [*as_owner, str(binaries / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={password_file}"]
        + ["-A", "scram-sha-256", "--no-sync", "-E", "UTF8", "--locale=C"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*as_owner, str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(base / "log"), "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield PostgresServer("127.0.0.1", port, USER, PASSWORD)
    finally:
        subprocess.run(
            [*as_owner, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the test session (starting one costs about a second)."""
    with postgres_cluster() as server:
        yield server
