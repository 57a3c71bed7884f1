"""A node (or the reference route) in its own process group, its CPU time counted."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from passport_api.client import NodeClient

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 20
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NodeProcess:
    """``passport node serve`` on 127.0.0.1, in a session of its own so it can be stopped whole
    (uvicorn workers, verify pools) and its CPU time counted."""

    def __init__(self, db: str, home: Path, workers: int, args: Sequence[str] = (),
                 port: int | None = None, reference: str | None = None) -> None:
        """``reference``: serve ``bench.reference_node`` in that mode instead of the node."""
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home.with_suffix(".log")
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if reference is None:
            command = [sys.executable, "-c", "from cli.main import main; main()", "node",
                       "serve", "--host", "127.0.0.1", "--port", str(self.port), "--db", db,
                       "--home", str(home), "--workers", str(workers), *args]
        else:
            command = [sys.executable, "-m", "bench.reference_node", "--port", str(self.port),
                       "--workers", str(workers), "--mode", reference]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        try:
            if reference is None:
                self._wait(workers)
            else:
                self._wait_port()
        except BaseException:
            self.stop()
            raise

    def _wait_port(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the reference exited: " + self.log.read_text()[-2000:])
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    time.sleep(1.0)  # the other workers start with the first
                    return
            time.sleep(0.2)
        raise RuntimeError("the reference did not start: " + self.log.read_text()[-2000:])

    def _wait(self, workers: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        answered = 0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the node exited: " + self.log.read_text()[-2000:])
            if NodeClient(self.url, timeout=2).is_ready():
                # Each worker opens its ledger on start; ask until all have had the time.
                answered += 1
                if answered >= 3 * workers:
                    return
                continue
            time.sleep(0.2)
        raise RuntimeError("the node did not become ready: " + self.log.read_text()[-2000:])

    def cpu_seconds(self) -> float:
        """User + system CPU of every live process of the node's session."""
        ticks = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) == self.proc.pid:  # session id
                ticks += int(fields[11]) + int(fields[12])
        return ticks / CLK_TCK

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass
        with contextlib.suppress(ProcessLookupError):  # stragglers of the group
            os.killpg(self.proc.pid, signal.SIGKILL)


@contextmanager
def running_node(db: str, home: Path, workers: int) -> Iterator[NodeProcess]:
    node = NodeProcess(db, home, workers)
    try:
        yield node
    finally:
        node.stop()

