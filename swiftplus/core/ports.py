"""Ports: is the asked one free, which one a server group really listens on, where a client connects.

ms-swift's deploy quietly moves to the next free port when the asked one is taken (its
`find_free_port` binds ('', port) without SO_REUSEADDR). The pre-check binds the same way, plus the
exact host, so a port that passes here is one ms-swift will keep; the listening check after start
catches the rare race in between.
"""
from __future__ import annotations

import errno
import ipaddress
import os
import random
import socket
import urllib.error
import urllib.request

WILDCARDS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}


def _family(host: str) -> int:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:  # a name such as localhost
        return socket.AF_INET


def _bind_error(family: int, host: str, port: int) -> OSError | None:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as e:
            return e
    return None


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def port_problem(host: str, port: int) -> str | None:
    """None when `swift deploy --host host --port port` would get exactly that port, else why not."""
    err = _bind_error(_family(host), host, port) or _bind_error(socket.AF_INET, "", port)
    if err is None:
        return None
    if err.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine ({err.strerror})"
    if _answers(client_host(host), port):
        return f"port {port} is in use: something already listens on {client_host(host)}:{port}"
    return (f"port {port} is not free on {host} ({err.strerror}); nothing answers there, so it is probably held by "
            "connections of a server that just stopped (they linger up to a minute)")


def _ephemeral_low() -> int:
    try:
        return int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1") -> int:
    """A free port below the OS's ephemeral range (the caller still verifies the server got it).

    Not the OS's own pick (bind to port 0): that comes from the ephemeral range, where the kernel
    hands the same number to the next outgoing connection, and a readiness probe of a port in that
    range can even connect to itself; either takes the port before `swift deploy` binds it.
    """
    low = 20000
    high = max(low + 1000, _ephemeral_low())
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(low, high)
        if port_problem(host, port) is None:
            return port
    raise OSError(f"no free port found between {low} and {high} on {host}")


def client_host(host: str) -> str:
    """Where a client on this machine connects to a server bound to `host`."""
    return WILDCARDS.get(host, host)


def base_url(host: str, port: int) -> str:
    h = client_host(host)
    if ":" in h:
        h = f"[{h}]"
    return f"http://{h}:{port}/v1"


def listening_ports(pgid: int) -> set[int] | None:
    """TCP ports the processes of group `pgid` listen on; None when it cannot be told (no psutil)."""
    try:
        import psutil
    except ImportError:
        return None
    ports: set[int] = set()
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) != pgid:
                continue
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr:
                    ports.add(conn.laddr.port)
        except (ProcessLookupError, psutil.Error, OSError):
            continue
    return ports


def get_json(url: str, api_key: str | None = None, timeout: float = 3.0):
    """GET a JSON document; raises OSError (URLError included) when nothing usable answers."""
    import json

    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}"} if api_key else {})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        try:
            return json.loads(resp.read().decode("utf-8"))
        except ValueError as e:
            raise urllib.error.URLError(f"{url} did not answer JSON: {e}") from None


def served_models(base: str, api_key: str | None = None, timeout: float = 3.0) -> list[str]:
    """Model ids an OpenAI-compatible endpoint lists at /v1/models."""
    doc = get_json(f"{base.rstrip('/')}/models", api_key, timeout)
    return [m.get("id") for m in doc.get("data", []) if isinstance(m, dict) and m.get("id")]
