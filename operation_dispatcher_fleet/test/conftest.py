"""Fixtures shared by the fleet tests.

- the ROS fixtures of ``operation_dispatcher_ros/test`` (own domain, real processes, the rclpy
  client, ``bringup``), through its shared_fixtures.py; its folder goes on ``sys.path`` for the
  helpers it and the tests import (``ros_testing``).
- ``postgres_server``  (session) a real PostgreSQL server (postgres_server.py); skips, saying why,
                       where the server binaries or psycopg are missing.
- ``postgres_dsn``     a fresh, empty database on it: its DSN (``postgresql://fleet@127.0.0.1:<port>/test_<n>``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres_server import PostgresServer, running_postgres

ROS_TEST_DIR = Path(__file__).resolve().parents[2] / "operation_dispatcher_ros" / "test"
if str(ROS_TEST_DIR) not in sys.path:
    sys.path.append(str(ROS_TEST_DIR))
from shared_fixtures import ros_fixtures  # noqa: E402  (found through the line above)

globals().update(ros_fixtures())


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database()
