"""The one place that starts processes: own their process group, stream their output, forward signals.

swift sft / swift deploy spawn children of their own (torchrun workers, the uvicorn server), so a
child is started in a new session and always stopped as a whole group: a Ctrl-C or SIGTERM to
swiftplus never leaves an orphan holding a GPU or a port.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable, Mapping, Sequence

from swiftplus.core.errors import UserError

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({k: str(v) for k, v in (extra or {}).items()})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def kill_group(pgid: int, grace: float = 10.0) -> None:
    """SIGTERM the whole group, then SIGKILL whatever is still there after `grace` seconds.

    Every group here is started with start_new_session, so its id is its leader's pid, and it is used as it
    is: the group outlives a leader that exited (and was reaped) while workers it forked still run, and
    looking the group up from the leader would then find nothing to stop. The id cannot have been reused
    while any member is alive."""
    pid = pgid
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not group_alive(pgid):
                return
            _reap(pid)
            time.sleep(0.1)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _answers(send: Callable[[int, int], None], target: int) -> bool:
    """Whether signal 0 reaches target: a process (os.kill) or group (os.killpg) exists, zombies included."""
    try:
        send(target, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_alive(pgid: int) -> bool:
    return _answers(os.killpg, pgid)


def group_running(pgid: int) -> bool:
    """Whether the group has a live member; unlike group_alive, exited-but-unreaped members (zombies, e.g.
    orphans of a SIGKILLed parent waiting for init) do not count. Reads /proc where there is one."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").is_file():
        return group_alive(pgid)
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp ...
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def process_running(pid: int) -> bool:
    """Whether process pid runs; a zombie (killed, not yet reaped) does not. Reads /proc where there is one."""
    if not _answers(os.kill, pid):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no procfs: the signal check is all there is
    return state not in ("Z", "X")


class Managed:
    """A child process group whose output goes to a log file and, optionally, the terminal."""

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, log: Path | None = None,
                 cwd: Path | None = None, echo: bool = True, on_line: Callable[[str], None] | None = None,
                 tail_lines: int = 40):
        self.argv = [str(a) for a in argv]
        self.env = child_env(env)
        self.log = Path(log) if log else None
        self.cwd = cwd
        self.echo = echo
        self.on_line = on_line
        self.tail: deque[str] = deque(maxlen=tail_lines)
        self.proc: subprocess.Popen | None = None
        self._pump: threading.Thread | None = None

    def start(self) -> "Managed":
        if self.log:
            self.log.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self._pump = threading.Thread(target=self._copy_output, daemon=True)
        self._pump.start()
        return self

    def _copy_output(self) -> None:
        sink = open(self.log, "ab") if self.log else None
        try:
            for raw in iter(self.proc.stdout.readline, b""):
                if sink:
                    sink.write(raw)
                    sink.flush()
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.tail.append(line)
                if self.echo:
                    sys.stdout.write(line + "\n")
                    sys.stdout.flush()
                if self.on_line:
                    self.on_line(line)
        finally:
            if sink:
                sink.close()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        rc = self.proc.wait(timeout)
        if self._pump:
            self._pump.join(timeout=5)
        return rc

    def stop(self, grace: float = 10.0) -> None:
        if self.proc is not None:
            kill_group(self.proc.pid, grace)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            if self._pump:
                self._pump.join(timeout=5)

    def __enter__(self) -> "Managed":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


class interrupting_signals:
    """While active, SIGTERM and SIGHUP raise KeyboardInterrupt as SIGINT does, so `finally` blocks that stop
    child groups run whichever way swiftplus is told to stop; `on_signal` runs first. Later signals are
    ignored while cleaning up."""

    def __init__(self, on_signal: Callable[[], None] | None = None):
        self.on_signal, self.saved, self.fired = on_signal, {}, False

    def _handler(self, signum, frame):
        if self.fired:
            return
        self.fired = True
        if self.on_signal is not None:
            self.on_signal()
        raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}")

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in FORWARDED:
                self.saved[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, old in self.saved.items():
            signal.signal(sig, old)


def forwarding_signals(managed: Managed, grace: float = 10.0) -> interrupting_signals:
    """While active, SIGINT/SIGTERM/SIGHUP stop the managed group, then surface as KeyboardInterrupt."""
    return interrupting_signals(lambda: managed.stop(grace))


def spawn_detached(argv: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None,
                   cwd: Path | None = None) -> subprocess.Popen:
    """Start a group meant to outlive this process (`deploy --detach`): its output goes straight to `log`,
    so no pipe breaks when swiftplus exits. Stop it later with kill_group(pid)."""
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as sink:
        return subprocess.Popen([str(a) for a in argv], env=child_env(env), cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)


def run(argv: Sequence[str], *, env: Mapping[str, str] | None = None, log: Path | None = None,
        cwd: Path | None = None, echo: bool = True, on_line: Callable[[str], None] | None = None) -> tuple[int, list[str]]:
    """Run to completion, streaming; returns (exit status, last output lines). Signals stop the group."""
    managed = Managed(argv, env=env, log=log, cwd=cwd, echo=echo, on_line=on_line)
    with managed, forwarding_signals(managed):
        rc = managed.wait()
    return rc, list(managed.tail)


def swift_executable() -> str:
    """The `swift` console script of this interpreter's environment, so a venv never picks up another."""
    candidate = Path(sys.executable).with_name("swift")
    if candidate.is_file():
        return str(candidate)
    from shutil import which

    found = which("swift")
    if not found:
        raise UserError("the `swift` command (ms-swift) is not installed in this environment; run `make install`")
    return found
