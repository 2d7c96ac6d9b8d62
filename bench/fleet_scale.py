"""What N fleet agents cost the panel and the broker: linear, and small (issue 20).

Starts N agents on this machine (each a separate ``pooldesk agent serve`` process with its own
data directory and ``--host-name``) against one managed broker, and a panel-side host registry
in this process (``HostWatcher``: the same listener the CLI and a window use). For each N it
measures, over a window:

- the panel's CPU: this process's user + system time (psutil) while it only consumes the hosts
  fanout, as % of one core, and per host;
- the broker's traffic: Redis INFO ``total_net_input_bytes``/``total_net_output_bytes`` and
  commands processed per second, per host (output includes the delivery to this one panel);
- messages the registry received per second, per host (≈ 1 sample/s + an announce every 30 s).

Agents are added between rows (5 → 10 → 20 reuses the first ones). Run briefly::

    .venv/bin/python bench/fleet_scale.py --counts 5,10,20 --window 10

``--counts`` accepts up to 50 agents (the issue's goal: 50 hosts cost the panel < 5 % of one
core). Every agent and the broker are stopped and the temporary home removed on the way out.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from _common import bench_home, text_table

MAX_AGENTS = 50


def _counts(text: str) -> list[int]:
    counts = sorted({int(x) for x in text.split(",") if x.strip()})
    if not counts or counts[0] < 1 or counts[-1] > MAX_AGENTS:
        raise argparse.ArgumentTypeError(f"give counts between 1 and {MAX_AGENTS}, e.g. 5,10,20")
    return counts


def _start_agent(root: Path, index: int, url: str) -> subprocess.Popen[bytes]:
    home = root / f"agent-{index}"
    env = {**os.environ, "POOLDESK_HOME": str(home), "POOLDESK_BROKER_URL": url}
    env.pop("POOLDESK_FLEET_KEY_FILE", None)  # watching costs the same with or without a key
    log = open(root / f"agent-{index}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "pooldesk.backend", "agent", "serve", "--host-name",
         f"bench-{index:02d}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def _redis_stats(url: str) -> tuple[int, int, int]:
    import redis

    info = redis.Redis.from_url(url).info("stats")
    return (
        int(info["total_net_input_bytes"]),
        int(info["total_net_output_bytes"]),
        int(info["total_commands_processed"]),
    )


def _cpu() -> float:
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


def _agents_cpu(agents: list[subprocess.Popen[bytes]]) -> float:
    import psutil

    total = 0.0
    for a in agents:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(a.pid).cpu_times()
            total += t.user + t.system
    return total


def measure(url: str, agents: list[subprocess.Popen[bytes]], n: int, window: float) -> list[str]:
    from pooldesk.backend.fleet.watch import HostWatcher

    watcher = HostWatcher(url=url)
    try:
        deadline = time.monotonic() + 60
        while sum(r["online"] for r in watcher.registry.rows()) < n:
            assert time.monotonic() < deadline, "agents did not all come online in 60 s"
            watcher.poll(0.5)
        watcher.poll(2.0)  # settle: start-up CPU of the newest agents is over
        received, cpu, net, agents_cpu = (
            watcher.registry.received,
            _cpu(),
            _redis_stats(url),
            _agents_cpu(agents),
        )
        start = time.monotonic()
        watcher.poll(window)
        wall = time.monotonic() - start
        received = watcher.registry.received - received
        cpu = _cpu() - cpu
        after = _redis_stats(url)
        agents_cpu = _agents_cpu(agents) - agents_cpu
    finally:
        watcher.close()
    bytes_in, bytes_out, commands = (b - a for a, b in zip(net, after, strict=True))
    return [
        str(n),
        f"{100 * cpu / wall:.2f} %",
        f"{100 * cpu / wall / n:.3f} %",
        f"{received / wall:.1f}",
        f"{received / wall / n:.2f}",
        f"{bytes_in / wall / n:,.0f}",
        f"{bytes_out / wall / n:,.0f}",
        f"{commands / wall / n:.1f}",
        f"{100 * agents_cpu / wall / n:.2f} %",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=_counts, default=[10], help="agents per row: 5,10,20")
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured per row")
    args = parser.parse_args()
    header = [
        "hosts", "panel CPU", "per host", "msgs/s", "msgs/s/host", "broker in B/s/host",
        "broker out B/s/host", "cmds/s/host", "agent CPU each",
    ]  # fmt: skip
    rows = [header]
    agents: list[subprocess.Popen[bytes]] = []
    with bench_home("pooldesk-fleet-") as root:
        from pooldesk.backend.broker import ensure_broker

        url = ensure_broker().broker_url
        assert url
        try:
            for n in args.counts:
                while len(agents) < n:
                    agents.append(_start_agent(root, len(agents), url))
                rows.append(measure(url, agents, n, args.window))
                print(text_table([header, rows[-1]]).splitlines()[-1], flush=True)
        finally:
            for agent in agents:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(agent.pid, signal.SIGTERM)
            for agent in agents:
                try:
                    agent.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(agent.pid, signal.SIGKILL)
    print()
    print(text_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
