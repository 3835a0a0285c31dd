"""Hosts on one machine for multi-host tests: a network namespace per host, joined by veth
pairs to a bridge in the root namespace, where the test's own servers listen.

    root namespace: bridge na<pid>br, 10.77.0.1/24 (PostgreSQL, Redis, the SMTP server)
    host n:         namespace na-h<n>-<pid>, na<pid>h<n>i = 10.77.0.1<n>/24, loopback up

A process run in a host's namespace (`Hosts.command`) reaches the servers only through its
veth pair, as a worker on another machine reaches them over the network: `cut` sets the
host's side of the pair down (its connections stall, new ones fail), `heal` sets it up.

Only the names and addresses made here are touched. Creating them needs root and `ip`
(iproute2); `unavailable` says why they cannot be made. Two runs at once take turns (a lock
file: the subnet is fixed), and a run that crashed and left its namespaces behind has them
removed by the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SUBNET = "10.77.0.0/24"
SERVER_ADDRESS = "10.77.0.1"
PREFIX_LENGTH = 24
LOCK_FILE = Path("/tmp/newsalerts-hosts-test.lock")
_NAMESPACE = re.compile(r"^na-h\d+-(\d+)$")
_LINK = re.compile(r"^na(\d+)(?:br|h\d+)$")


def host_address(number: int) -> str:
    """Host n's address: 10.77.0.11 for host 1, 10.77.0.12 for host 2, ..."""
    return f"10.77.0.{10 + number}"


def unavailable() -> str | None:
    """Why hosts cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root to make network namespaces (ip netns); CI runs as root"
    if shutil.which("ip") is None:
        return "needs iproute2's `ip` (Debian: apt-get install iproute2)"
    return None


def _ip(*arguments: str, check: bool = True) -> str:
    done = subprocess.run(["ip", *arguments], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(arguments)} failed: {done.stderr.strip()}")
    return done.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers() -> None:
    """Delete the namespaces and links of earlier runs whose process is gone."""
    for line in _ip("netns", "list", check=False).splitlines():
        name = line.split()[0] if line.split() else ""
        found = _NAMESPACE.match(name)
        if found and not _alive(int(found.group(1))):
            _ip("netns", "delete", name, check=False)
    for line in _ip("-o", "link", "show", check=False).splitlines():
        parts = line.split(":")
        if len(parts) < 2:
            continue
        name = parts[1].strip().split("@")[0]
        found = _LINK.match(name)
        if found and not _alive(int(found.group(1))):
            _ip("link", "delete", name, check=False)


@dataclass
class Host:
    number: int
    namespace: str
    link: str  # the host's side of its veth pair, inside its namespace
    address: str

    @property
    def command(self) -> list[str]:
        """The prefix that runs a command on this host."""
        return ["ip", "netns", "exec", self.namespace]


@dataclass
class Hosts:
    """`count` hosts on one bridge; `Hosts.made(count)` makes and always removes them."""

    count: int
    tag: str = field(default_factory=lambda: str(os.getpid()))
    hosts: list[Host] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"na{self.tag}br"

    @classmethod
    @contextlib.contextmanager
    def made(cls, count: int) -> Iterator[Hosts]:
        LOCK_FILE.touch(exist_ok=True)
        with LOCK_FILE.open("r+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another run's hosts use the same subnet
            remove_leftovers()
            hosts = cls(count)
            try:
                hosts._make()
                yield hosts
            finally:
                hosts._remove()

    def _make(self) -> None:
        in_use = _ip("-o", "-4", "addr", "show", "to", SUBNET).strip()
        if in_use:
            raise RuntimeError(f"{SUBNET} is already used on this machine: {in_use}")
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{SERVER_ADDRESS}/{PREFIX_LENGTH}", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for number in range(1, self.count + 1):
            host = Host(
                number,
                namespace=f"na-h{number}-{self.tag}",
                link=f"na{self.tag}h{number}i",
                address=host_address(number),
            )
            outside = f"na{self.tag}h{number}"
            _ip("netns", "add", host.namespace)
            self.hosts.append(host)
            _ip("link", "add", outside, "type", "veth", "peer", "name", host.link,
                "netns", host.namespace)  # fmt: skip
            _ip("link", "set", outside, "master", self.bridge, "up")
            inside = ("-n", host.namespace)
            _ip(*inside, "addr", "add", f"{host.address}/{PREFIX_LENGTH}", "dev", host.link)
            _ip(*inside, "link", "set", host.link, "up")
            _ip(*inside, "link", "set", "lo", "up")

    def host(self, number: int) -> Host:
        return self.hosts[number - 1]

    def cut(self, number: int) -> None:
        """Host `number` loses its network: its side of the veth pair goes down."""
        host = self.host(number)
        _ip("-n", host.namespace, "link", "set", host.link, "down")

    def heal(self, number: int) -> None:
        """Host `number` has its network back, with its address (and so its route)."""
        host = self.host(number)
        inside = ("-n", host.namespace)
        _ip(*inside, "link", "set", host.link, "up")
        if host.address not in _ip(*inside, "-o", "-4", "addr", "show", "dev", host.link):
            _ip(*inside, "addr", "add", f"{host.address}/{PREFIX_LENGTH}", "dev", host.link)

    def _remove(self) -> None:
        # Deleting a namespace deletes the veth pairs with their inside ends in it.
        for host in self.hosts:
            _ip("netns", "delete", host.namespace, check=False)
        _ip("link", "delete", self.bridge, check=False)
        self.hosts.clear()
