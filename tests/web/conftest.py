"""Web pages in a real browser: Playwright driving Debian's Chromium, against a real node
process (anchoring on the in-process chain) and real wallets run through the `passport` CLI."""

from __future__ import annotations

import contextlib
import io
import json
import os
import selectors
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.main import main
from tests.api.conftest import Node, stop_process

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("PASSPORT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PASSPHRASE = "correct horse battery"
SERVE_START_S = 60
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = ROOT / "docs" / "screenshots"

playwright_api = pytest.importorskip("playwright.sync_api")


def anchoring_node(home: Path, db: str) -> Node:
    """``passport node serve`` anchoring every record on the in-process chain."""
    return Node(home, db, args=("--anchor-rpc", "inprocess", "--anchor-every-records", "1"),
                env={"PASSPORT_ANCHOR_POLL_S": "0.3"})


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    tmp = tmp_path_factory.mktemp("webnode")
    started = anchoring_node(tmp / "home", str(tmp / "node.sqlite"))
    yield started
    started.stop()


class Party:
    """A wallet of its own, driven through the real `passport` command."""

    def __init__(self, home: Path, node: Node) -> None:
        self.home, self.node = home, node
        self.did = ""

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PASSPORT_PASSPHRASE": PASSPHRASE,
               "PASSPORT_KDF": "interactive", "PASSPORT_NODE": self.node.url, "COLUMNS": "200"}
        env.pop("PASSPORT_HOME", None)
        return env

    def ok(self, *args: str) -> Any:
        """The real `passport` entry point, in this process (a new one costs seconds)."""
        saved_env, saved_argv = dict(os.environ), sys.argv
        os.environ.clear()
        os.environ.update(self.env())
        sys.argv = ["passport", *args, "--home", str(self.home), "--json"]
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                main()
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        finally:
            os.environ.clear()
            os.environ.update(saved_env)
            sys.argv = saved_argv
        assert code == 0, err.getvalue()
        return json.loads(out.getvalue())

    def fails(self, *args: str) -> str:
        try:
            self.ok(*args)
        except AssertionError as e:
            return str(e)
        raise AssertionError(f"passport {' '.join(args)} did not fail")

    def init(self, name: str, role: str = "member") -> Party:
        self.did = self.ok("init", "--name", name, "--role", role)["did"]
        return self


@pytest.fixture
def party(tmp_path: Path, node: Node) -> Any:
    def make(name: str, role: str = "member") -> Party:
        return Party(tmp_path / name.lower().replace(" ", "-"), node).init(name, role)
    return make


class Served:
    """A wallet page process (`passport ui`, `passport desk serve`) and the URL it printed."""

    def __init__(self, party: Party, *command: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from cli.main import main; main()", *command,
             "--home", str(party.home), "--port", "0"],
            env=party.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout=SERVE_START_S):
                self.stop()
                raise RuntimeError("the page server printed no URL")
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.stop()
            why = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"no URL: {self.url!r} {why}")
        self.base = self.url.split("/?", 1)[0]
        self.token = self.url.split("token=", 1)[1]

    def stop(self) -> None:
        stop_process(self.proc)


@pytest.fixture
def serve() -> Iterator[Any]:
    started: list[Served] = []

    def start(party: Party, *command: str) -> Served:
        served = Served(party, *command)
        started.append(served)
        return served

    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"no Chromium at {CHROMIUM}: run 'make browsers'")
        # reason: a developer machine without Chromium; CI fails instead (above)
        pytest.skip(f"no Chromium at {CHROMIUM} (make browsers installs it)")
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP)
    opened = context.new_page()
    yield opened
    context.close()


def screenshot(page: Any, out: Path, name: str, docs: tuple[str, ...] = ("desktop",)) -> None:
    """Desktop and phone-sized shots into the test's folder; with PASSPORT_SCREENSHOTS=1
    those named in ``docs`` also into docs/screenshots/ (committed), so that a normal run
    never touches the working tree."""
    out.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        path = out / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        if label in docs and os.environ.get("PASSPORT_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, SCREENSHOTS / path.name)
    page.set_viewport_size(DESKTOP)


# Every word of the page's text whose pieces land on more than one line: a word split by the
# layout ("activi ty"). Identifiers (.did, .did-chip, .token, pre, code, and anything shaped
# like a hash, a did or base64) may break anywhere; a break after a hyphen or a slash is not a
# split.
SPLIT_WORDS_JS = """() => {
  const skip = el => el.closest('.did, .did-chip, .token, pre, code, script, style, svg');
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.parentElement || skip(n.parentElement)) continue;
    const words = /[^\\s\\-\\/]{2,}/g;
    for (let m = words.exec(n.data); m; m = words.exec(n.data)) {
      const r = document.createRange();
      r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length);
      const tops = new Set([...r.getClientRects()].filter(x => x.width > 0)
                           .map(x => Math.round(x.top)));
      const ident = /^(sha256:|0x)?[0-9a-f]{32,}$|^did:|^[A-Za-z0-9_=+]{40,}$/.test(m[0]);
      if (tops.size > 1 && !ident) found.push(m[0]);
    }
  }
  return found;
}"""


def split_words(page: Any) -> dict[str, list[str]]:
    """The words split across lines at each size (desktop 1280×800, phone 390×844)."""
    found = {}
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        found[label] = page.evaluate(SPLIT_WORDS_JS)
    page.set_viewport_size(DESKTOP)
    return found


def wait_until(check: Any, what: str, timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
