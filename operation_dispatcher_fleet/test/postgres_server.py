"""A real PostgreSQL server for tests, in a temporary directory, removed afterwards.

initdb into the directory, then ``postgres`` on 127.0.0.1 (a free port) and
a unix socket in the same directory. initdb and postgres refuse to run as
root, so as root they run as the unprivileged ``postgres`` user (Debian's
package creates it). :func:`running_postgres` skips the test (pytest.skip,
saying why) where there are no server binaries or no psycopg.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

OS_USER = "postgres"  # runs the server when we are root
ROLE = "fleet"  # the superuser initdb creates; trust authentication, so no password
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def find_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin (Debian), else the directory of ``postgres`` on PATH."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in path.parent.name.split(".") if part.isdigit())

    debian = [path for path in Path("/usr/lib/postgresql").glob("*/bin") if (path / "initdb").exists()]
    if debian:
        return max(debian, key=version)
    on_path = shutil.which("postgres")
    return Path(on_path).parent if on_path and shutil.which("initdb") else None


class PostgresServer:
    """A started server: :meth:`create_database` gives a fresh database and its DSN."""

    def __init__(self, root: Path, port: int, process: subprocess.Popen[bytes]) -> None:
        self.root = root  # also the unix socket directory
        self.port = port
        self.process = process
        self._names = itertools.count(1)

    def url(self, dbname: str) -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{dbname}"

    def socket_dsn(self, dbname: str) -> str:
        return f"host={self.root} port={self.port} user={ROLE} dbname={dbname}"

    def create_database(self) -> str:
        import psycopg

        name = f"test_{next(self._names)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT: sessions are ended); SIGKILL should it not end in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _run_as() -> dict[str, Any]:
    """Popen arguments that drop root to OS_USER; none when we are not root."""
    if os.geteuid() != 0:
        return {}
    try:
        account = pwd.getpwnam(OS_USER)
    except KeyError:
        pytest.skip(f"running as root and there is no {OS_USER!r} user to run PostgreSQL as (initdb refuses root)")
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_ready(server: PostgresServer, log: Path) -> None:
    """Until the server accepts a connection; fails at once should it exit, and after START_TIMEOUT."""
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            psycopg.connect(server.url("postgres"), connect_timeout=5).close()
            return
        except psycopg.OperationalError as exc:
            last = exc
        if server.process.poll() is not None:
            raise RuntimeError(f"postgres exited with {server.process.returncode}:\n{log.read_text(errors='replace')}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"postgres did not accept connections within {START_TIMEOUT} s: {last}")
        with suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=0.05)  # a pause between attempts that ends at once should postgres exit


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A started server for the duration of the block; stopped and its directory removed afterwards, also on failure."""
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'psycopg[binary]'")
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, postgres) in /usr/lib/postgresql/*/bin or on PATH: apt-get install postgresql")
    run_as = _run_as()
    root = Path(tempfile.mkdtemp(prefix="fleet-pg-"))
    server: PostgresServer | None = None
    try:
        if run_as:
            os.chown(root, run_as["user"], run_as["group"])
        initdb = subprocess.run(
            [bin_dir / "initdb", "-D", root / "data", "-U", ROLE, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
            **run_as,
        )
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed ({initdb.returncode}):\n{initdb.stdout}{initdb.stderr}")
        log = root / "postgres.log"
        port = _free_port()
        with log.open("wb") as out:
            process = subprocess.Popen(
                [bin_dir / "postgres", "-D", root / "data", "-p", str(port), "-h", "127.0.0.1", "-k", root, "-c", "fsync=off"],
                cwd=root,
                stdout=out,
                stderr=subprocess.STDOUT,
                **run_as,
            )
        server = PostgresServer(root, port, process)
        _wait_ready(server, log)
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
