"""Helpers for the ROS tests: real processes, real DDS, bounded waits.

- :func:`claim_domain_id` gives this test run a ROS_DOMAIN_ID nobody else on
  the machine holds (an flock per id), so concurrent runs never cross-talk.
- :class:`NodeProcess` starts one INSTALLED executable of this package
  (``lib/operation_dispatcher_ros/<name>``) as its own process, logs to a
  file, and stops it with SIGINT, then SIGTERM, then SIGKILL.
- :class:`RosClient` is the test's own rclpy node, spun by a
  MultiThreadedExecutor in a background thread: service calls, action goals
  and topic recordings that the test thread waits on with timeouts.
- :class:`Recorder` keeps every message of a topic and waits for one that
  matches a predicate.

Every wait has a timeout and, on failure, says what it saw.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from rclpy.action import ActionClient
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

PACKAGE = "operation_dispatcher_ros"
DEFAULT_DOMAIN_RANGE = "10-39"
EVENTS_QOS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
STATE_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


# --------------------------------------------------------------------- domain

class DomainClaim:
    """A ROS_DOMAIN_ID held (flock) for as long as this object lives."""

    def __init__(self, domain_id: int, lock_file: Any) -> None:
        self.domain_id = domain_id
        self._lock_file = lock_file

    def release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


def claim_domain_id(domain_range: str | None = None) -> DomainClaim:
    """Claim a free domain id from ``domain_range`` ("lo-hi", default from
    $OD_TEST_DOMAIN_RANGE, else 10-39), starting at one picked by pid."""
    lo, hi = (int(x) for x in (domain_range or os.environ.get("OD_TEST_DOMAIN_RANGE", DEFAULT_DOMAIN_RANGE)).split("-"))
    span = hi - lo + 1
    first = os.getpid() % span
    for i in range(span):
        domain_id = lo + (first + i) % span
        lock_file = open(f"/tmp/od-ros-domain-{domain_id}.lock", "w")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock_file.close()
            continue
        return DomainClaim(domain_id, lock_file)
    raise RuntimeError(f"every ROS domain id in {lo}-{hi} is held by another test run")


# ------------------------------------------------------------------ processes

def executable_path(name: str) -> Path:
    """Where colcon installed the console script ``name`` of this package."""
    from ament_index_python.packages import get_package_prefix

    path = Path(get_package_prefix(PACKAGE)) / "lib" / PACKAGE / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make setup` (colcon build) first")
    return path


def ros_args(
    namespace: str = "",
    params: dict[str, Any] | None = None,
    params_file: str | os.PathLike[str] | None = None,
    log_level: str | None = None,
    node_name: str | None = None,
) -> list[str]:
    """``--ros-args`` for a node: namespace, params file, then single params (they win)."""
    args = ["--ros-args"]
    if namespace:
        args += ["-r", f"__ns:=/{namespace.strip('/')}"]
    if node_name:
        args += ["-r", f"__node:={node_name}"]
    if params_file:
        args += ["--params-file", str(params_file)]
    for key, value in (params or {}).items():
        args += ["-p", f"{key}:={_param_text(value)}"]
    if log_level:
        args += ["--log-level", log_level]
    return args


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a YAML string, quoted so "08:00" or "true" stay strings
    return str(value) if not isinstance(value, (list, tuple)) else json.dumps(list(value))


class NodeProcess:
    """One installed node executable running as a separate process."""

    def __init__(self, executable: str, args: Sequence[str], env: dict[str, str], log_path: Path) -> None:
        self.executable = executable
        self.args = list(args)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")
        self.popen = subprocess.Popen(
            [str(executable_path(executable)), *self.args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C of the test run reaches it only through stop()
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 5.0) -> int:
        """SIGINT, then SIGTERM, then SIGKILL; returns the exit code."""
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if self.popen.poll() is not None:
                break
            self.popen.send_signal(sig)
            try:
                self.popen.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        self._log.close()
        return self.popen.returncode

    def kill(self) -> int:
        """SIGKILL at once (a crashed node): nothing is cleaned up."""
        if self.popen.poll() is None:
            self.popen.kill()
        rc = self.popen.wait(5.0)
        self._log.close()
        return rc

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class ProcessGroup:
    """Starts node processes and reaps every one of them, also on failure."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.processes: list[NodeProcess] = []

    def start(
        self,
        executable: str,
        namespace: str = "",
        params: dict[str, Any] | None = None,
        params_file: str | os.PathLike[str] | None = None,
        log_level: str | None = None,
        node_name: str | None = None,
    ) -> NodeProcess:
        args = ros_args(namespace, params, params_file, log_level, node_name)
        n = sum(1 for p in self.processes if p.executable == executable)
        proc = NodeProcess(executable, args, self.env, self.log_dir / f"{executable}-{n}.log")
        self.processes.append(proc)
        return proc

    def stop_all(self) -> dict[str, int]:
        codes = {}
        for proc in reversed(self.processes):
            codes[f"{proc.executable}[{proc.pid}]"] = proc.stop()
        return codes

    def logs(self) -> str:
        return "\n".join(f"--- {p.executable} (pid {p.pid}, {p.log_path})\n{p.log_tail()}" for p in self.processes)


# --------------------------------------------------------------------- client

class Recorder:
    """Every message received on one topic, with waits on them."""

    def __init__(self, describe: Callable[[Any], str] = repr) -> None:
        self.messages: list[Any] = []
        self._cond = threading.Condition()
        self._describe = describe

    def __call__(self, msg: Any) -> None:
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def snapshot(self) -> list[Any]:
        with self._cond:
            return list(self.messages)

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float = 10.0, what: str = "a matching message") -> Any:
        """The first message (old or new) matching ``predicate``; AssertionError after ``timeout``."""
        return self.wait_for_count(predicate, 1, timeout, what)[0]

    def wait_for_count(
        self, predicate: Callable[[Any], bool], count: int, timeout: float = 10.0, what: str = "matching messages"
    ) -> list[Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self.messages if predicate(m)]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = "\n  ".join(self._describe(m) for m in self.messages[-30:]) or "(nothing)"
                    raise AssertionError(f"timed out after {timeout:g} s waiting for {count} x {what}; last seen:\n  {seen}")
                self._cond.wait(left)


def describe_event(event: Any) -> str:
    """One line per DispatchEvent message, for failure output and the demo."""
    op = f" {event.operation_id}" if event.operation_id else ""
    meta = f" {event.metadata_json}" if event.metadata_json not in ("", "{}") else ""
    return f"{event.event_type}{op}{meta}"


class EventRecorder(Recorder):
    """Recorder of ``dispatch_events`` with event-specific waits."""

    def __init__(self) -> None:
        super().__init__(describe_event)

    def wait_event(self, event_type: str, operation_id: str | None = None, timeout: float = 10.0, **metadata: Any) -> Any:
        """The first event of ``event_type`` (for ``operation_id``), whose metadata holds ``metadata``."""

        def match(e: Any) -> bool:
            if e.event_type != event_type or (operation_id is not None and e.operation_id != operation_id):
                return False
            meta = event_metadata(e)
            return all(meta.get(k) == v for k, v in metadata.items())

        what = f"{event_type}" + (f" for {operation_id}" if operation_id else "") + (f" with {metadata}" if metadata else "")
        return self.wait_for(match, timeout, what)

    def types_for(self, operation_id: str) -> list[str]:
        return [e.event_type for e in self.snapshot() if e.operation_id == operation_id]

    def of_type(self, event_type: str) -> list[Any]:
        return [e for e in self.snapshot() if e.event_type == event_type]


def event_metadata(event: Any) -> dict[str, Any]:
    return json.loads(event.metadata_json) if event.metadata_json else {}


class RosClient:
    """The test's own node, spun in a background thread by a MultiThreadedExecutor.

    The test thread never spins: it sends requests and waits on threading
    primitives with timeouts while the executor delivers the answers.
    """

    def __init__(self, context: Any, name: str = "test_client", namespace: str = "") -> None:
        self.namespace = namespace
        self.node = Node(name, namespace=namespace or None, context=context)
        self.executor = MultiThreadedExecutor(num_threads=4, context=context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name="ros-test-executor", daemon=True)
        self._clients: dict[tuple[Any, str], Any] = {}
        self._action_clients: dict[tuple[Any, str], ActionClient] = {}
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # context shut down under us at teardown
            pass

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self._thread.join(3.0)  # spin has returned: nothing runs on the node any more
        self.node.destroy_node()

    # services
    def client(self, srv_type: Any, name: str) -> Any:
        key = (srv_type, name)
        if key not in self._clients:
            self._clients[key] = self.node.create_client(srv_type, name)
        return self._clients[key]

    def wait_for_service(self, srv_type: Any, name: str, timeout: float = 15.0) -> None:
        if not self.client(srv_type, name).wait_for_service(timeout_sec=timeout):
            raise AssertionError(f"service {self._full(name)} not available within {timeout:g} s")

    def call(self, srv_type: Any, name: str, request: Any = None, timeout: float = 10.0, **fields: Any) -> Any:
        """Call a service and wait for the response (AssertionError on timeout).

        Sent twice at most: Fast DDS drops a response when the request came
        before the server matched this client's reply reader ("failed to send
        response (timeout)"), which happens to a first call right after
        discovery on a loaded machine. Use ids in requests that add things,
        so a repeat is harmless (the dispatcher reports already_present).
        """
        if request is None:
            request = srv_type.Request(**fields)
        client = self.client(srv_type, name)
        deadline = time.monotonic() + timeout
        if not client.wait_for_service(timeout_sec=timeout):
            raise AssertionError(f"service {self._full(name)} not available within {timeout:g} s")
        first = client.call_async(request)
        try:
            return wait_future(first, min(3.0, max(deadline - time.monotonic(), 0.1)), "first response")
        except AssertionError:
            if hasattr(client, "remove_pending_request"):  # rclpy >= Humble
                client.remove_pending_request(first)
        left = max(deadline - time.monotonic(), 0.1)
        return wait_future(client.call_async(request), left, f"response of {self._full(name)}")

    # actions
    def action_client(self, action_type: Any, name: str) -> ActionClient:
        key = (action_type, name)
        if key not in self._action_clients:
            self._action_clients[key] = ActionClient(self.node, action_type, name)
        return self._action_clients[key]

    # topics
    def record(self, msg_type: Any, topic: str, qos: QoSProfile | int = 10, recorder: Recorder | None = None) -> Recorder:
        recorder = recorder or Recorder()
        self.node.create_subscription(msg_type, topic, recorder, qos)
        return recorder

    def record_events(self, topic: str = "dispatch_events") -> EventRecorder:
        from operation_dispatcher_interfaces.msg import DispatchEvent

        recorder = EventRecorder()
        self.node.create_subscription(DispatchEvent, topic, recorder, EVENTS_QOS)
        self.wait_for_publishers(topic)
        return recorder

    def wait_for_publishers(self, topic: str, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``count`` publishers exist on ``topic`` (discovery done)."""
        full = self._full(topic)
        wait_until(lambda: self.node.count_publishers(full) >= count, timeout, f"{count} publisher(s) on {full}")

    wait_for_subscribers = wait_for_publishers  # the first, misleading name; kept for callers

    def _full(self, name: str) -> str:
        return name if name.startswith("/") else f"/{self.namespace.strip('/')}/{name}".replace("//", "/")


def wait_future(future: Any, timeout: float, what: str) -> Any:
    """Wait on an rclpy future from a non-executor thread."""
    done = threading.Event()
    future.add_done_callback(lambda _f: done.set())
    if not done.wait(timeout):
        raise AssertionError(f"no {what} within {timeout:g} s")
    return future.result()


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll ``condition`` (for graph queries, which have no callback) until true or timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def first_index(items: Iterable[Any], predicate: Callable[[Any], bool]) -> int:
    for i, item in enumerate(items):
        if predicate(item):
            return i
    raise ValueError("no item matches")
