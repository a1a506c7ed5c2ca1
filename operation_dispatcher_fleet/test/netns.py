"""Two simulated hosts for a test: two network namespaces joined by one veth pair.

:func:`two_hosts` makes ``odf_<pid>_robots`` and ``odf_<pid>_gateway``, a
veth pair created straight inside them (its ends never appear in the root
namespace), one /30 of 10.213.0.0/16 on it, the link and ``lo`` up on both
sides, and nothing else: no default route, no other interface, so whatever a
process in either namespace sends can reach only the other end of the link or
its own loopback. ``ip netns del`` removes each namespace and, with it, its
end of the veth (the pair goes with either end).

A process runs on a host with ``ip netns exec <ns> <command>``, which enters
the namespace and then execs the command: the PID one starts is the
command's own (checked by :func:`check_exec_keeps_pid`), so stopping it by
PID stops the node itself.

The test process stays in the root namespace. :class:`NamespaceThread` is one
thread of it moved into a namespace (``setns``, per thread on Linux): sockets
made there belong to that namespace, so an HTTP client run on that thread
reaches a server bound to 127.0.0.1 on that host, and nothing else.

Root only; :class:`Unavailable` says why a machine cannot make them.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

PREFIX = "odf"
_NAME = re.compile(rf"^{PREFIX}_(\d+)_(robots|gateway)$")
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"


class Unavailable(Exception):
    """This machine cannot make network namespaces (not root, no ``ip``, a container without the right)."""


@dataclass(frozen=True)
class Host:
    """One side of the link: its namespace, its veth end and that end's address."""

    netns: str
    interface: str
    address: str

    def exec_prefix(self) -> list[str]:
        """Prefix a command with this to run it on this host."""
        return ["ip", "netns", "exec", self.netns]

    def counters(self) -> dict[str, int]:
        """The veth end's rx/tx bytes and packets, read inside the namespace."""
        out = _ip("-n", self.netns, "-j", "-s", "link", "show", "dev", self.interface)
        stats = json.loads(out)[0]["stats64"]
        return {
            "rx_bytes": stats["rx"]["bytes"], "tx_bytes": stats["tx"]["bytes"],
            "rx_packets": stats["rx"]["packets"], "tx_packets": stats["tx"]["packets"],
        }

    def set_link(self, up: bool) -> None:
        """Bring this end of the link up or down (a cable pulled, then put back)."""
        _ip("-n", self.netns, "link", "set", "dev", self.interface, "up" if up else "down")


@dataclass(frozen=True)
class TwoHosts:
    robots: Host
    gateway: Host


def _ip(*args: str) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip() or result.returncode}")
    return result.stdout


def check_available() -> None:
    """Unavailable (the reason) unless this process may make namespaces."""
    if os.geteuid() != 0:
        raise Unavailable("network namespaces need root (this run is not root)")
    if shutil.which("ip") is None:
        raise Unavailable("the `ip` command (iproute2) is missing")


def remove_stale() -> None:
    """Remove the namespaces of earlier runs whose process is gone (a run killed before its teardown)."""
    try:
        names = [line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip()]
    except RuntimeError:
        return
    for name in names:
        match = _NAME.match(name)
        if match and not os.path.exists(f"/proc/{match.group(1)}"):
            with contextlib.suppress(RuntimeError):
                _ip("netns", "del", name)


@contextlib.contextmanager
def two_hosts(subnet: int | None = None) -> Iterator[TwoHosts]:
    """Make the two hosts, yield them, remove them (also when the body fails).

    ``subnet``: the third byte of 10.213.<subnet>.0/30 (default: from the pid). The addresses exist only
    inside the two namespaces, so they can clash with nothing outside."""
    check_available()
    remove_stale()
    pid = os.getpid()
    third = pid % 256 if subnet is None else subnet
    robots = Host(f"{PREFIX}_{pid}_robots", "veth-robots", f"10.213.{third}.1")
    gateway = Host(f"{PREFIX}_{pid}_gateway", "veth-gateway", f"10.213.{third}.2")
    made: list[str] = []
    try:
        for host in (robots, gateway):
            try:
                _ip("netns", "add", host.netns)
            except RuntimeError as exc:
                raise Unavailable(f"cannot make a network namespace here: {exc}") from None
            made.append(host.netns)
        try:
            _ip("-n", robots.netns, "link", "add", robots.interface, "type", "veth", "peer", "name", gateway.interface, "netns", gateway.netns)
        except RuntimeError as exc:
            raise Unavailable(f"cannot make a veth pair here: {exc}") from None
        for host in (robots, gateway):
            _ip("-n", host.netns, "addr", "add", f"{host.address}/30", "dev", host.interface)
            _ip("-n", host.netns, "link", "set", "dev", host.interface, "up")
            _ip("-n", host.netns, "link", "set", "dev", "lo", "up")
        yield TwoHosts(robots, gateway)
    finally:
        for name in reversed(made):
            with contextlib.suppress(RuntimeError):
                _ip("netns", "del", name)


def _identity(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def netns_identity(host: Host) -> tuple[int, int]:
    """The namespace's identity (device and inode of its /run/netns file), as ``ip netns identify`` compares them."""
    return _identity(os.path.join(NETNS_DIR, host.netns))


def in_namespace(pid: int, host: Host) -> bool:
    """Whether process ``pid`` lives in ``host``'s namespace."""
    return _identity(f"/proc/{pid}/ns/net") == netns_identity(host)


def check_exec_keeps_pid(host: Host) -> None:
    """AssertionError unless ``ip netns exec`` execs the command in the namespace: the PID one starts is
    then the command's own, not a wrapper's, and stopping it by PID stops the node."""
    proc = subprocess.Popen([*host.exec_prefix(), "sh", "-c", "echo $$"], stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=10)
    assert out.strip() == str(proc.pid), f"`ip netns exec` ran its command as pid {out.strip()}, not {proc.pid}: stopping by PID would miss it"


def _enter(netns: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(os.path.join(NETNS_DIR, netns), os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {netns}: {os.strerror(err)}")
    finally:
        os.close(fd)


class NamespaceThread:
    """One worker thread of this process inside ``host``'s namespace; :meth:`call` runs a function there."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"in-{host.netns}", initializer=_enter, initargs=(host.netns,))
        there = self.call(_identity, "/proc/thread-self/ns/net")
        assert there == netns_identity(host), f"the worker thread is not in {host.netns}"

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return self._pool.submit(fn, *args, **kwargs).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
