"""Fixtures shared by the fleet tests.

- ``postgres_server``  (session) a real PostgreSQL server (postgres_server.py); skips, saying why,
                       where the server binaries or psycopg are missing.
- ``postgres_dsn``     a fresh, empty database on it: its DSN (``postgresql://fleet@127.0.0.1:<port>/test_<n>``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from postgres_server import PostgresServer, running_postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database()
