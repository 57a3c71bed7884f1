"""The real ``passport`` command in a new process, without paying its start-up each time.

Most CLI tests run the command as a person does: a new process, its own environment, its own
stdout, stderr and exit status.  A new interpreter that imports the whole CLI costs about a
second of CPU, and the suite runs that many hundreds of times.  So one *zygote* process per
test session imports the CLI once and forks a child per command (the way Android's zygote or
``multiprocessing``'s forkserver do).  The child is a real process: it gets the caller's
argv, environment, working directory and pipes, runs ``cli.main.main`` and exits through the
interpreter's ordinary shutdown; the zygote reports its exit status as ``waitpid`` saw it.

Only what imports cleanly without reading the environment is preloaded (every read of the
environment in the project happens when a command runs; ``tests/cli/test_lazy_help.py`` and
the start-up benchmark still start fresh interpreters, so the entry point itself stays tested).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_MAX_HEADER = 1 << 20


# --- the zygote (its own process) ------------------------------------------------------------

def _preload() -> None:
    import httpx  # noqa: F401, PLC0415
    import pydantic  # noqa: F401, PLC0415

    import matching.client  # noqa: F401, PLC0415
    import wallet.wallet  # noqa: F401, PLC0415
    from cli import full  # noqa: PLC0415

    for module in full.MODULES:  # imported, never registered: what a command builds is its own
        importlib.import_module(module)


def _child(header: dict[str, object], fds: list[int]) -> None:
    """In the forked child: become the command (argv, environment, cwd, stdio), run it, and
    exit the way the interpreter does (non-daemon threads joined, atexit handlers run, stdio
    flushed, the status of ``SystemExit`` or 1 after a printed traceback), minus the teardown
    of every loaded module, which would cost more than the command."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    env, cwd, argv = header["env"], header["cwd"], header["argv"]
    assert isinstance(env, dict) and isinstance(cwd, str) and isinstance(argv, list)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.argv = ["passport", *argv]
    code = 0
    try:
        from cli.main import main  # noqa: PLC0415

        main()
    except SystemExit as e:
        code = _exit_status(e.code)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def serve(path: str) -> None:
    """Fork a child per request on the Unix socket ``path``; exit when stdin closes (the test
    session ended)."""
    _preload()
    assert threading.active_count() == 1, "a preloaded module started a thread: fork is unsafe"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    waiting: dict[int, socket.socket] = {}
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        readable, _, _ = select.select([listener, wake_r, sys.stdin], [], [])
        if sys.stdin in readable and not sys.stdin.buffer.read1(1):
            return  # the test session is gone
        if wake_r in readable:
            while os.read(wake_r, 4096) if _pending(wake_r) else b"":
                pass
            _reap(waiting)
        if listener in readable:
            conn, _ = listener.accept()
            msg, fds, _, _ = socket.recv_fds(conn, _MAX_HEADER, 3)
            if not msg or len(fds) != 3:
                conn.close()
                for fd in fds:
                    os.close(fd)
                continue
            pid = os.fork()
            if pid == 0:
                listener.close()
                conn.close()
                os.close(wake_r)
                os.close(wake_w)
                _child(json.loads(msg), fds)
            for fd in fds:
                os.close(fd)
            conn.send(b"pid %d" % pid)
            waiting[pid] = conn
            _reap(waiting)


def _pending(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def _reap(waiting: dict[int, socket.socket]) -> None:
    while waiting:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = waiting.pop(pid, None)
        if conn is not None:
            with contextlib.suppress(OSError):  # the caller gave up on it (a timeout)
                conn.send(b"exit %d" % os.waitstatus_to_exitcode(status))
            conn.close()


# --- the caller's side (the test process) ----------------------------------------------------

class _Zygote:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._path = ""

    def path(self) -> str:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            return self._path

    def _start(self) -> None:
        where = tempfile.mkdtemp(prefix="passport-zygote-")
        self._path = os.path.join(where, "sock")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
        self._proc = subprocess.Popen(
            [sys.executable, "-c", f"import tests.clizygote as z; z.serve({self._path!r})"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=ROOT)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if line != b"ready\n":
            raise RuntimeError(f"the CLI zygote did not start: {line!r}")
        atexit.register(self._proc.kill)


_ZYGOTE = _Zygote()


class Forked:
    """A command running in a child of the zygote, with the parts of ``subprocess.Popen`` the
    tests use (``communicate``, ``poll``, ``wait``, ``terminate``, ``kill``, ``returncode``,
    ``args``, ``pid``)."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], cwd: str | None,
                 stdin: bytes | None) -> None:
        self.args = ["passport", *argv]
        self.returncode: int | None = None
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe()
        self._conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._conn.connect(_ZYGOTE.path())
        header = json.dumps({"argv": list(argv), "env": dict(env),
                             "cwd": cwd or os.getcwd()}).encode()
        socket.send_fds(self._conn, [header], [in_r, out_w, err_w])
        for fd in (in_r, out_w, err_w):
            os.close(fd)
        if stdin:
            os.write(in_w, stdin)  # small inputs only: a pipe buffer's worth
        os.close(in_w)
        reply = self._conn.recv(64)
        if not reply.startswith(b"pid "):
            raise RuntimeError(f"the CLI zygote refused the command: {reply!r}")
        self.pid = int(reply.split()[1])
        self._out, self._err = os.fdopen(out_r, "rb"), os.fdopen(err_r, "rb")

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def poll(self) -> int | None:
        """The exit status if the command has ended, else None (does not wait)."""
        if self.returncode is None and select.select([self._conn], [], [], 0)[0]:
            self._take_status(self._conn.recv(64))
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not select.select([self._conn], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self._take_status(self._conn.recv(64))
        assert self.returncode is not None
        return self.returncode

    def _take_status(self, reply: bytes) -> None:
        self._conn.close()
        if not reply.startswith(b"exit "):
            raise RuntimeError(f"the CLI zygote lost the command: {reply!r}")
        self.returncode = int(reply.split()[1])

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        out_fd, err_fd = self._out.fileno(), self._err.fileno()
        chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
        open_fds = set(chunks)
        while open_fds:
            ready, _, _ = select.select(list(open_fds), [], [], timeout)
            if not ready:
                self.kill()
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            for fd in ready:
                data = os.read(fd, 65536)
                if data:
                    chunks[fd].append(data)
                else:
                    open_fds.discard(fd)
        self.wait(timeout)
        self._out.close()
        self._err.close()
        return b"".join(chunks[out_fd]).decode(), b"".join(chunks[err_fd]).decode()


def start(argv: Sequence[str], env: Mapping[str, str], *, cwd: str | None = None,
          stdin: str | None = None) -> Forked:
    """``passport *argv`` in a new process with exactly ``env``, not waited for."""
    return Forked(argv, env, cwd, stdin.encode() if stdin is not None else None)


def finish(proc: Forked, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    stdout, stderr = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode or 0, stdout, stderr)


def run(argv: Sequence[str], env: Mapping[str, str], *, cwd: str | None = None,
        stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``passport *argv`` in a new process with exactly ``env``; its output and exit status."""
    return finish(start(argv, env, cwd=cwd, stdin=stdin), timeout)
