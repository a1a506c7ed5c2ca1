"""One process harness for the demo, the benchmarks and the tests: a domain of their own, nodes as processes, all reaped.

Everything here starts real ROS node processes next to other people's work
on the same machine (other test runs, benchmarks, a robot engineer's
``ros2 launch``), so:

- :func:`claim_domain` takes a ROS_DOMAIN_ID that no other run on this
  machine holds: an exclusive flock on ``/tmp/od-ros-domain-<id>.lock`` per
  id, held for as long as the :class:`DomainClaim` lives, so two concurrent
  runs never share a domain (and never answer each other's requests). The
  kernel drops the lock when the holder dies, even by SIGKILL, so a crashed
  run blocks nothing. Each user has its own range (:data:`TEST_DOMAINS`,
  :data:`BENCH_DOMAINS`, :data:`DEMO_DOMAINS`) so they rarely even probe the
  same ids; the lock, not the range, is what guarantees it.
- :meth:`DomainClaim.environment` / :meth:`DomainClaim.apply` give a process
  that domain and LOCALHOST discovery (and drop ``ROS_LOCALHOST_ONLY``, the
  deprecated twin that conflicts with it on Jazzy): nothing leaves loopback.
- :class:`ProcessGroup` starts installed console scripts of this package,
  or any command (a test's stand-in node, a bench server), with namespace,
  parameter files (in order: rcl merges several ``--params-file`` and the
  later wins, as the launch files layer them), single parameters (they win
  over the files) and extra environment; each logs to its own file. It
  stops every process by PID, last started first, with SIGINT, then SIGTERM,
  then SIGKILL, also when the caller fails (a context manager), and a
  process whose parent dies is killed by the kernel (PR_SET_PDEATHSIG), so
  not even a killed run leaves a node behind in its domain.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

PACKAGE = "operation_dispatcher_ros"
TEST_DOMAINS = "10-39"
BENCH_DOMAINS = "40-59"
DEMO_DOMAINS = "60-99"
LOCK_PATH = "/tmp/od-ros-domain-{}.lock"
LOG_ENV = {"PYTHONUNBUFFERED": "1", "RCUTILS_LOGGING_BUFFERED_STREAM": "0", "RCUTILS_COLORIZED_OUTPUT": "0"}
"""Set for every node unless the group's env says otherwise: its log file gets each line as it is
written (a failing test or bench prints the tail) and no colour codes."""
STOP_SIGNALS = ((signal.SIGINT, None), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0))
"""How a node is stopped: SIGINT (a clean shutdown, the waiting time is the caller's), then SIGTERM,
then SIGKILL, each given the seconds shown to take effect."""
PathLike = str | os.PathLike[str]
ParamsFiles = PathLike | Iterable[PathLike] | None


# --------------------------------------------------------------------- domain

class DomainClaim:
    """A ROS_DOMAIN_ID held (flock) until :meth:`release`, or the end of a ``with`` block."""

    def __init__(self, domain_id: int, lock_file: IO[str]) -> None:
        self.domain_id = domain_id
        self._lock_file: IO[str] | None = lock_file

    def environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) in this domain, with LOCALHOST discovery."""
        env = dict(os.environ if base is None else base)
        env.pop("ROS_LOCALHOST_ONLY", None)  # deprecated twin of the range; conflicts with it on Jazzy
        env.update(ROS_DOMAIN_ID=str(self.domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
        return env

    def apply(self) -> None:
        """Put this process (its own rclpy, and every child that inherits its environment) in the domain."""
        os.environ.pop("ROS_LOCALHOST_ONLY", None)
        os.environ.update(self.environment({}))

    def release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def __enter__(self) -> DomainClaim:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def claim_domain(domain_range: str = TEST_DOMAINS) -> DomainClaim:
    """Claim a free domain id from ``domain_range`` ("lo-hi"), trying from one picked by pid
    (so concurrent runs seldom try the same id first); RuntimeError when every id is held."""
    lo, hi = (int(x) for x in domain_range.split("-"))
    span = hi - lo + 1
    first = os.getpid() % span
    for i in range(span):
        domain_id = lo + (first + i) % span
        lock_file = open(LOCK_PATH.format(domain_id), "w")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock_file.close()
            continue
        return DomainClaim(domain_id, lock_file)
    raise RuntimeError(f"every ROS domain id in {lo}-{hi} is held by another run")


# ------------------------------------------------------------------ arguments

def executable_path(name: str, package: str = PACKAGE) -> Path:
    """Where colcon installed the console script ``name`` of ``package`` (this one by default)."""
    from ament_index_python.packages import get_package_prefix

    path = Path(get_package_prefix(package)) / "lib" / package / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make setup` (colcon build) first")
    return path


def ros_args(
    namespace: str = "",
    params: Mapping[str, Any] | None = None,
    params_files: ParamsFiles = None,
    log_level: str | None = None,
    node_name: str | None = None,
) -> list[str]:
    """One ``--ros-args`` section: namespace, node name, the params file(s) in load order (a later
    file wins, as rcl merges them and the launch files layer them), then single params (they win)."""
    args = ["--ros-args"]
    if namespace:
        args += ["-r", f"__ns:=/{namespace.strip('/')}"]
    if node_name:
        args += ["-r", f"__node:={node_name}"]
    for path in _paths(params_files):
        args += ["--params-file", str(path)]
    for key, value in (params or {}).items():
        args += ["-p", f"{key}:={param_text(value)}"]
    if log_level:
        args += ["--log-level", log_level]
    return args


def _paths(params_files: ParamsFiles) -> list[PathLike]:
    """One path (the callers of one file) or several, as a list: a str is a path, never its characters."""
    if params_files is None:
        return []
    if isinstance(params_files, (str, os.PathLike)):
        return [params_files]
    return list(params_files)


def param_text(value: Any) -> str:
    """A parameter value as ``-p`` reads it (YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # quoted, so "08:00", "true" or "" stay strings
    return json.dumps(list(value)) if isinstance(value, (list, tuple)) else str(value)


# ------------------------------------------------------------------ processes

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the starting process dies, even by SIGKILL (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: stop() and the context manager still reap on every normal exit


class NodeProcess:
    """One node running as its own process (own session), its output in ``log_path``, a fresh file.

    Fresh, not appended: a test that reads a node's log must never read a line of an earlier run of the
    same test (CI runs every test once per distro into the same folder; :class:`ProcessGroup` names a
    node started twice ``<name>-1.log`` so its earlier run stays readable).
    """

    def __init__(self, name: str, command: Sequence[str], env: Mapping[str, str], log_path: Path) -> None:
        self.executable = name  # the name in logs and in stop_all's result
        self.command = list(command)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "wb")
        self.popen = subprocess.Popen(
            self.command,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal reaches it only through stop()
            preexec_fn=_die_with_parent,  # a killed parent leaves no node behind
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 5.0) -> int:
        """SIGINT (``timeout`` seconds to exit), then SIGTERM, then SIGKILL; returns the exit code."""
        for sig, wait in STOP_SIGNALS:
            if self.popen.poll() is not None:
                break
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout if wait is None else wait)
            except subprocess.TimeoutExpired:
                continue
        self._log.close()
        return self.popen.returncode

    def kill(self) -> int:
        """SIGKILL at once (a crash: the node cleans nothing up); returns the exit code."""
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
    """Starts node processes and reaps every one of them, also on failure (``with ProcessGroup(...) as group``).

    ``env`` (default: this process's environment when the group is made) is every node's environment,
    :data:`LOG_ENV` under it; ``log_dir`` gets one ``<name>-<n>.log`` per process started.
    """

    def __init__(self, env: Mapping[str, str] | None, log_dir: Path) -> None:
        self.env = {**LOG_ENV, **(os.environ if env is None else env)}
        self.log_dir = log_dir
        self.processes: list[NodeProcess] = []

    def start(
        self,
        executable: str,
        namespace: str = "",
        params: Mapping[str, Any] | None = None,
        params_files: ParamsFiles = None,
        log_level: str | None = None,
        node_name: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        package: str = PACKAGE,
    ) -> NodeProcess:
        """Start the installed console script ``executable`` of ``package`` (see :func:`ros_args` for the
        arguments); ``env`` adds to the group's environment for this process only."""
        args = ros_args(namespace, params, params_files, log_level, node_name)
        return self.start_command(executable, [str(executable_path(executable, package))], args, env)

    def start_script(
        self, script: PathLike, namespace: str = "", params: Mapping[str, Any] | None = None, *, env: Mapping[str, str] | None = None
    ) -> NodeProcess:
        """Run a node script of one's own (a stand-in that misbehaves on demand) with this Python."""
        return self.start_command(Path(script).stem, [sys.executable, str(script)], ros_args(namespace, params), env)

    def start_command(
        self, name: str, command: Sequence[str], args: Sequence[str] = (), env: Mapping[str, str] | None = None
    ) -> NodeProcess:
        """Run ``command`` + ``args`` (e.g. :func:`ros_args`) as the process ``name``."""
        n = sum(1 for p in self.processes if p.executable == name)
        proc = NodeProcess(name, [*command, *args], {**self.env, **(env or {})}, self.log_dir / f"{name}-{n}.log")
        self.processes.append(proc)
        return proc

    def check(self) -> None:
        """RuntimeError naming the first process that has exited (and its log), for callers that need them all up."""
        for proc in self.processes:
            if not proc.alive():
                raise RuntimeError(f"{proc.executable} (pid {proc.pid}) exited with {proc.popen.returncode}: see {proc.log_path}")

    def stop_all(self) -> dict[str, int]:
        """Stop every process, the last started first (a dispatcher before the robot it drives); their exit codes."""
        codes = {}
        for proc in reversed(self.processes):
            codes[f"{proc.executable}[{proc.pid}]"] = proc.stop()
        return codes

    def logs(self) -> str:
        return "\n".join(f"--- {p.executable} (pid {p.pid}, {p.log_path})\n{p.log_tail()}" for p in self.processes)

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None) -> None:
        self.stop_all()
