"""CPU and memory of a worker's whole process tree (main process + pool children).

Memory is USS (pages only this process holds) summed over the tree: summed RSS counts the pages
a prefork parent shares with its children once per child (≈ 2.3× too much, measured).
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil


@dataclass
class TreeSample:
    cpu_percent: float  # 100 = one full core
    memory_bytes: int  # USS of the tree (RSS where USS is unavailable)
    rss_bytes: int
    children: int
    cpu_seconds: float  # user + system, cumulative, for "cores used" = Δcpu / Δwall


class TreeSampler:
    """Keeps psutil.Process objects between calls so ``cpu_percent`` measures the interval."""

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}

    def _proc(self, pid: int) -> psutil.Process:
        proc = self._procs.get(pid)
        if proc is None or not proc.is_running():
            proc = psutil.Process(pid)
            proc.cpu_percent(None)  # prime: the first reading of a new Process is meaningless
            self._procs[pid] = proc
        return proc

    def sample(self, pid: int) -> TreeSample | None:
        try:
            root = self._proc(pid)
            members = [root, *(self._proc(c.pid) for c in root.children(recursive=True))]
        except psutil.Error:
            return None
        cpu = 0.0
        uss = rss = 0
        cpu_seconds = 0.0
        for member in members:
            try:
                with member.oneshot():
                    cpu += member.cpu_percent(None)
                    times = member.cpu_times()
                    cpu_seconds += times.user + times.system
                    try:
                        info = member.memory_full_info()
                        uss += int(getattr(info, "uss", info.rss))
                        rss += int(info.rss)
                    except psutil.AccessDenied:
                        mem = member.memory_info()
                        uss += int(mem.rss)
                        rss += int(mem.rss)
            except psutil.Error:
                continue
        return TreeSample(cpu, uss, rss, len(members) - 1, cpu_seconds)

    def forget_dead(self) -> None:
        self._procs = {pid: p for pid, p in self._procs.items() if p.is_running()}
