"""Port pre-check: the asked port or a message naming it; where clients connect; who really listens."""
import os
import socket
import subprocess
import sys

from swiftplus.core import ports


def test_free_port_has_no_problem():
    port = ports.free_port()
    assert ports.port_problem("127.0.0.1", port) is None


def test_listening_port_is_named():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        problem = ports.port_problem("127.0.0.1", port)
    assert problem and f"port {port} is in use" in problem and f"127.0.0.1:{port}" in problem


def test_port_taken_on_all_interfaces_blocks_loopback_too():
    # ms-swift's own check binds ('', port): a server on 0.0.0.0 would make it move silently
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = s.getsockname()[1]
        assert str(port) in ports.port_problem("127.0.0.1", port)


def test_foreign_address_is_refused():
    problem = ports.port_problem("192.0.2.1", ports.free_port())  # TEST-NET-1: never an address of this machine
    assert problem and "not an address of this machine" in problem


def test_client_host_and_base_url():
    assert ports.base_url("0.0.0.0", 8000) == "http://127.0.0.1:8000/v1"
    assert ports.base_url("127.0.0.1", 9) == "http://127.0.0.1:9/v1"
    assert ports.base_url("::", 8000) == "http://[::1]:8000/v1"


def test_listening_ports_of_a_group():
    code = ("import socket, sys, time\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
            "print(s.getsockname()[1], flush=True); time.sleep(30)")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        port = int(p.stdout.readline())
        assert ports.listening_ports(os.getpgid(p.pid)) == {port}
    finally:
        p.kill()
        p.wait()
