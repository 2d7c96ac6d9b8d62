"""CPU and memory of a worker's whole process tree (main process + pool children).

Memory is USS (pages only this process holds) summed over the tree: summed RSS counts the pages
a prefork parent shares with its children once per child (≈ 2.3× too much, measured).

Cheap enough to run every second for many workers: psutil's ``children(recursive=True)`` reads
``/proc/*/stat`` for *every* process on the machine (2.6 ms with ~100 processes, per call), so on
Linux the tree is walked through ``/proc/PID/task/TID/children`` instead, which touches only the
tree's own threads; elsewhere psutil's walk is the fallback. USS is the dear part (~1.1 ms per
process: the kernel walks the page tables for ``smaps_rollup``), so a sampler that runs every
second may reuse each process's USS for ``uss_max_age`` seconds and read only RSS meanwhile.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import psutil

_PROC_CHILDREN: bool | None = None  # does this kernel have /proc/PID/task/TID/children?


@dataclass
class TreeSample:
    cpu_percent: float  # 100 = one full core
    memory_bytes: int  # USS of the tree (RSS where USS is unavailable)
    rss_bytes: int
    children: int
    # user + system, cumulative, for "cores used" = Δcpu / Δwall. Includes the CPU of children
    # already reaped by a member (a recycled prefork child), so the sum never steps back when a
    # pool process exits.
    cpu_seconds: float
    open_fds: int = 0  # file descriptors open across the tree (0 where not readable)


def _has_proc_children() -> bool:
    global _PROC_CHILDREN
    if _PROC_CHILDREN is None:
        pid = os.getpid()
        _PROC_CHILDREN = os.path.exists(f"/proc/{pid}/task/{pid}/children")
    return _PROC_CHILDREN


def descendant_pids(pid: int) -> list[int]:
    """Every descendant of ``pid`` (children, grandchildren, ...); raises psutil.Error if gone."""
    if not _has_proc_children():
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    out: list[int] = []
    stack = [pid]
    while stack:
        parent = stack.pop()
        try:
            tids = os.listdir(f"/proc/{parent}/task")
        except FileNotFoundError:
            if parent == pid:
                raise psutil.NoSuchProcess(pid) from None
            continue  # a child that exited while we walked
        except PermissionError:
            return [c.pid for c in psutil.Process(pid).children(recursive=True)]
        for tid in tids:  # a child forked by any thread is listed under that thread
            try:
                with open(f"/proc/{parent}/task/{tid}/children", "rb") as fh:
                    kids = [int(k) for k in fh.read().split()]
            except OSError:
                continue  # the thread ended meanwhile
            out.extend(kids)
            stack.extend(kids)
    return out


class TreeSampler:
    """Keeps psutil.Process objects between calls so ``cpu_percent`` measures the interval.

    ``uss_max_age`` > 0: a process's USS is re-read at most that often (RSS every call).
    """

    def __init__(self, uss_max_age: float = 0.0) -> None:
        self._procs: dict[int, psutil.Process] = {}
        self.uss_max_age = uss_max_age
        self._uss: dict[int, tuple[float, int]] = {}  # pid → (monotonic read, USS)

    def _proc(self, pid: int) -> psutil.Process:
        proc = self._procs.get(pid)
        if proc is None or not proc.is_running():
            proc = psutil.Process(pid)
            proc.cpu_percent(None)  # prime: the first reading of a new Process is meaningless
            self._procs[pid] = proc
            self._uss.pop(pid, None)
        return proc

    def sample(self, pid: int, create_time: float | None = None) -> TreeSample | None:
        """The tree under ``pid``; ``None`` if it is gone or, given ``create_time``, reused."""
        try:
            root = self._proc(pid)
            if create_time is not None and abs(root.create_time() - create_time) >= 1.0:
                return None
            members = [root, *(self._proc(c) for c in descendant_pids(pid))]
        except psutil.Error:
            return None
        cpu = 0.0
        uss = rss = fds = 0
        cpu_seconds = 0.0
        for member in members:
            try:
                with member.oneshot():
                    cpu += member.cpu_percent(None)
                    times = member.cpu_times()
                    cpu_seconds += (
                        times.user + times.system + times.children_user + times.children_system
                    )
                    member_uss, member_rss = self._memory(member)
                    uss += member_uss
                    rss += member_rss
                    fds += _num_fds(member)
            except psutil.Error:
                continue
        return TreeSample(cpu, uss, rss, len(members) - 1, cpu_seconds, fds)

    def _memory(self, proc: psutil.Process) -> tuple[int, int]:
        """(USS, RSS) of one process; USS falls back to RSS where it is not readable."""
        now = time.monotonic()
        cached = self._uss.get(proc.pid) if self.uss_max_age > 0 else None
        if cached is not None and now - cached[0] < self.uss_max_age:
            return cached[1], int(proc.memory_info().rss)
        try:
            info = proc.memory_full_info()
            uss, rss = int(getattr(info, "uss", info.rss)), int(info.rss)
        except psutil.AccessDenied:
            uss = rss = int(proc.memory_info().rss)
        if self.uss_max_age > 0:
            if cached is None:  # spread the first refreshes so they don't all fall together
                now -= (proc.pid % 10) / 10 * self.uss_max_age
            self._uss[proc.pid] = (now, uss)
        return uss, rss

    def forget_dead(self) -> None:
        self._procs = {pid: p for pid, p in self._procs.items() if p.is_running()}
        self._uss = {pid: v for pid, v in self._uss.items() if pid in self._procs}


def _num_fds(proc: psutil.Process) -> int:
    counter = getattr(proc, "num_fds", None) or getattr(
        proc, "num_handles", None
    )  # POSIX / Windows
    try:
        return int(counter()) if counter is not None else 0
    except psutil.AccessDenied:
        return 0
