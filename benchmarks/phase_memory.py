"""Peak RSS of each phase of one process, as graft(watch=...) names them (benchmarks/graft.py).

A phase's peak is the kernel's high-water mark of resident memory (VmHWM) from the phase's start to its end:
the mark is reset to the current RSS when a phase starts (writing 5 to /proc/self/clear_refs, Linux 4.0+), so
each peak is the phase's own, memory kept from earlier phases included. Where the reset is refused, each
peak is the process's peak so far (`cumulative`), which still names the phase where a rise begins.
The stretches between phases are kept as rows of their own ("between"), so the peaks' maximum is the run's.
"""
from __future__ import annotations

import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        return int(re.search(rf"^{key}:\s+(\d+) kB", f.read(), re.M).group(1)) / 1024


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


@dataclass
class PhaseMemory:
    rows: list[dict] = field(default_factory=list)  # phase, rss_start_mb, peak_mb, wall_s
    cumulative: bool = False

    def __post_init__(self):
        self.cumulative = not _reset_peak()
        self._since, self._rss = time.perf_counter(), _status_mb("VmRSS")

    def _close(self, phase: str) -> None:
        now = time.perf_counter()
        self.rows.append({"phase": phase, "rss_start_mb": self._rss, "peak_mb": _status_mb("VmHWM"),
                          "wall_s": now - self._since})
        _reset_peak()
        self._since, self._rss = now, _status_mb("VmRSS")

    @contextmanager
    def watch(self, phase: str):
        self._close("between")
        try:
            yield
        finally:
            self._close(phase)

    def finish(self) -> list[dict]:
        """One row per phase, then one for all the stretches between and after them (their highest peak)."""
        self._close("between")
        between = [r for r in self.rows if r["phase"] == "between"]
        rest = {"phase": "between phases", "rss_start_mb": None, "wall_s": sum(r["wall_s"] for r in between),
                "peak_mb": max(r["peak_mb"] for r in between)}
        return [r for r in self.rows if r["phase"] != "between"] + [rest]
