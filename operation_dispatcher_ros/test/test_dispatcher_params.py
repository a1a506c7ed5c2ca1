"""The dispatcher node's parameter checks and the store path, without a running graph."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("rclpy", reason="needs the ROS 2 wheels (make setup)")
pytest.importorskip("operation_dispatcher_interfaces", reason="needs the colcon workspace (make setup)")

from operation_dispatcher_ros import dispatcher_params
from operation_dispatcher_ros.dispatcher_params import DEFAULT_STORE_PATH, SPECS, check, store_file


def _defaults(**changes):
    values = {name: spec.default for name, spec in SPECS.items()}
    values.update(changes)
    return values


def test_default_store_is_per_resource_under_the_users_ros_home(monkeypatch):
    monkeypatch.setenv("HOME", "/home/robot")
    assert SPECS["store_path"].default == dispatcher_params.DEFAULT_STORE_PATH
    assert store_file(SPECS["store_path"].default, "robot_7") == "/home/robot/.ros/operation_dispatcher/robot_7.db"


def test_store_path_expansion_and_memory_only(monkeypatch, tmp_path):
    monkeypatch.setenv("OD_DATA", str(tmp_path))
    assert store_file("", "robot_1") is None
    assert store_file("$OD_DATA/{resource_id}/queue.db", "r1") == os.path.join(str(tmp_path), "r1", "queue.db")
    assert store_file("rel.db", "r1") == os.path.abspath("rel.db")
    assert store_file("/data/{resource_id}.db", "a/b") == "/data/a.b.db"  # an id never makes a sub-folder


@pytest.mark.parametrize(
    ("namespace", "resource_id"),
    [("/", "robot_1"), ("", "robot_1"), ("/robot_2", "robot_2"), ("/site_a/robot_2", "site_a/robot_2")],
)
def test_resource_id_defaults_to_the_namespace(namespace, resource_id):
    assert dispatcher_params.namespace_resource_id(namespace) == resource_id


def test_namespaces_never_share_a_store_file():
    # ROS names hold no dots: the file of a namespace with a slash cannot be another namespace's.
    # (The root namespace "/" is robot_1, as the issue asks, so only it meets /robot_1.)
    namespaces = ["/robot_1", "/robot_2", "/a/b", "/a_b", "/a/b_c", "/a_b/c", "/site_a/robot_1", "/site_b/robot_1"]
    files = {store_file(DEFAULT_STORE_PATH, dispatcher_params.namespace_resource_id(ns)) for ns in namespaces}
    assert len(files) == len(namespaces)
    assert all(os.path.dirname(f) == os.path.dirname(next(iter(files))) for f in files)  # one folder, no sub-folders


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"on_interrupted": "retry"}, "on_interrupted: must be one of requeue, fail; got 'retry'"),
        ({"store_path": "/data/{robot}.db"}, "store_path: the only placeholder allowed is {resource_id}"),
        ({"store_path": "/data/{.db"}, "store_path: the only placeholder allowed is {resource_id}"),
    ],
)
def test_bad_values_are_named(changes, problem):
    assert check(_defaults(**changes)) == problem


def test_defaults_pass_and_the_watchdog_can_be_off():
    assert check(_defaults()) is None
    assert check(_defaults(robot_timeout=0.0, on_interrupted="fail", store_path="")) is None
    assert SPECS["robot_timeout"].low == 0.0 and not SPECS["robot_timeout"].read_only
    assert SPECS["store_path"].read_only and SPECS["on_interrupted"].read_only
