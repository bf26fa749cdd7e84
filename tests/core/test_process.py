"""The process helper stops whole groups and streams output to a log."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from swiftplus.core.process import Managed, group_alive, run


def test_run_streams_to_log_and_returns_status(tmp_path):
    log = tmp_path / "x.log"
    rc, tail = run([sys.executable, "-c", "print('hello'); import sys; sys.exit(3)"], log=log, echo=False)
    assert rc == 3 and tail == ["hello"] and log.read_text() == "hello\n"


def test_stop_kills_grandchildren(tmp_path):
    # the child starts a grandchild that ignores SIGTERM: the whole group must still go
    script = textwrap.dedent("""
        import subprocess, sys, time
        p = subprocess.Popen([sys.executable, '-c', 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(60)'])
        print(p.pid, flush=True)
        time.sleep(60)
    """)
    m = Managed([sys.executable, "-c", script], echo=False).start()
    deadline = time.time() + 10
    while len(m.tail) < 2 and time.time() < deadline:
        time.sleep(0.05)
    grandchild = int(m.tail[0])
    pgid = os.getpgid(m.pid)
    m.stop(grace=0.5)
    assert not group_alive(pgid)
    try:
        os.kill(grandchild, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive


def test_sigterm_to_parent_leaves_no_orphan(tmp_path):
    code = textwrap.dedent("""
        import sys
        from swiftplus.core.process import run
        run([sys.executable, '-c', 'import time; print("up", flush=True); time.sleep(60)'], echo=True)
    """)
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert parent.stdout.readline().strip() == "up"
    children = subprocess.run(["pgrep", "-P", str(parent.pid)], capture_output=True, text=True).stdout.split()
    assert children
    parent.send_signal(signal.SIGTERM)
    parent.wait(timeout=20)
    time.sleep(0.2)
    for pid in children:
        try:
            os.kill(int(pid), 0)
            still = True
        except ProcessLookupError:
            still = False
        assert not still


def test_kill_group_stops_workers_left_behind_by_a_leader_that_exited():
    import subprocess

    from swiftplus.core.process import group_running, kill_group

    proc = subprocess.Popen(["sh", "-c", "sleep 300 & exit 1"], start_new_session=True)
    assert proc.wait(timeout=10) == 1  # the leader is gone and reaped; its sleep still runs in the group
    assert group_running(proc.pid)
    kill_group(proc.pid, grace=5)
    assert not group_running(proc.pid)


def test_tests_run_on_cpu_unless_marked_gpu():
    import os

    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""


@pytest.mark.gpu
def test_a_gpu_test_sees_the_machines_gpus():
    import os

    from tests.conftest import VISIBLE_GPUS

    assert os.environ.get("CUDA_VISIBLE_DEVICES") == VISIBLE_GPUS
