"""Private Redis and PostgreSQL servers on spare ports, which a fault test may stop at will."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from glob import glob
from pathlib import Path

from sqlalchemy import create_engine, text

from cli.stack import free_port, stop_process
from tests.conftest import reachable


def wait_reachable(url: str, up: bool = True, timeout: float = 30.0) -> None:
    """Wait until a TCP connection to the URL succeeds (or, with up=False, fails)."""
    deadline = time.monotonic() + timeout
    while reachable(url) != up:
        assert time.monotonic() < deadline, f"{url} still {'down' if up else 'up'}"
        time.sleep(0.05)


class RedisServer:
    """A redis-server of our own, with no persistence: a restart comes back empty."""

    def __init__(self, folder: Path) -> None:
        self.binary = shutil.which("redis-server") or "redis-server"
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server (empty) and wait until it accepts connections."""
        arguments = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.process = subprocess.Popen(
            [self.binary, *arguments, "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_reachable(self.url)

    def stop(self) -> None:
        """Stop the server; what it held is gone."""
        if self.process is not None:
            stop_process(self.process)
            self.process = None
        wait_reachable(self.url, up=False)

    def client(self):  # type: ignore[no-untyped-def]
        """Return a redis-py client for the server's database 0."""
        import redis

        return redis.Redis.from_url(self.url)


def postgres_binary(name: str) -> str:
    """Return the path of a PostgreSQL server program (initdb, pg_ctl)."""
    found = shutil.which(name) or next(iter(sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"))), "")
    return found or name


class PostgresServer:
    """A PostgreSQL cluster of our own in a temporary folder, trust auth, on a spare port."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="inferq-pg-"))
        self.port = free_port()
        self.admin_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.url = self.admin_url.rsplit("/", 1)[0] + "/inferq"
        self._as_owner: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.folder, "postgres")
            self._as_owner = ["runuser", "-u", "postgres", "--"]
        initdb = postgres_binary("initdb")
        self._run(initdb, "-D", str(self.folder / "data"), "-A", "trust", "-U", "postgres")

    def _run(self, *command: str) -> None:
        subprocess.run(
            [*self._as_owner, *command],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _pg_ctl(self, *arguments: str) -> None:
        data = str(self.folder / "data")
        self._run(postgres_binary("pg_ctl"), "-D", data, "-w", "-t", "60", *arguments)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._pg_ctl("-o", options, "-l", str(self.folder / "log"), "start")
        wait_reachable(self.admin_url)

    def stop(self) -> None:
        """Stop the server at once, disconnecting every client (fast shutdown)."""
        self._pg_ctl("-m", "fast", "stop")
        wait_reachable(self.admin_url, up=False)

    def create_database(self) -> str:
        """Create the `inferq` database and return its URL."""
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text('CREATE DATABASE "inferq"'))
        engine.dispose()
        return self.url

    def remove(self) -> None:
        """Stop the server if it runs and delete its folder."""
        if (self.folder / "data" / "postmaster.pid").exists():
            self._pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
