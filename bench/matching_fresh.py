"""How fast a grant, a revoke or a check-in on the node shows in the matcher's answers.

Real processes: a node (``passport node serve``, SQLite) and the matcher (``passport match
serve``, its own key, ``--poll-ms``); members are wallets in this process writing to the node
over HTTP.  Each trial takes a fresh member with a word of their own in their expertise:

* *grant*: the member grants ``name, expertise, space`` to the matcher (the member never calls
  the matcher: it learns of them from the consent feed); the clock runs from the grant record's
  acceptance by the node until an asker's question on that word names the member;
* *check-in*: the member checks in at the desk and sets ``space``; until the asker's people to
  meet include them;
* *revoke*: the member revokes; until the question no longer names them.

The asker polls with a signed request every ``--probe-ms``; each answer first catches up with
the node's consent feed, so the delay is the feed and refresh work plus one answer.  The same
is measured for the background loop alone (grant and revoke, watching the matcher's profile
count in ``/v1/health``, which never catches up by itself).  ``make bench-matching-fresh``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.matching_metrics import pct
from bench.report import print_result
from ledger.times import format_ts, now_ms
from matching.client import MatcherClient
from passport_api.client import NodeClient
from wallet import keystore
from wallet.checkin import Challenge, check_in, issue
from wallet.wallet import Wallet

ROOT = Path(__file__).resolve().parents[1]
PASSPHRASE = "bench passphrase"
DAY_MS = 86_400_000
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PASSPORT_PASSPHRASE": PASSPHRASE,
       "PASSPORT_KDF": "interactive"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], ready: Callable[[], bool], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", "from cli.main import main; main()",
                                 *args], env=ENV, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(log.read_text())
        if ready():
            return proc
        time.sleep(0.1)
    raise RuntimeError(f"{args[:2]} did not start: {log.read_text()}")


def wallet(home: Path, node: str, role: str = "member", name: str = "") -> Wallet:
    keystore.save(keystore.create(role), home, PASSPHRASE, profile="interactive")
    w = Wallet(home, keystore.load(home, PASSPHRASE), PASSPHRASE, node)
    w.sync()
    if name:
        w.set("name", name)
    return w


def until(probe: Callable[[], bool], timeout_s: float, every_s: float) -> float:
    """Seconds until ``probe`` holds (``inf`` on timeout)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        if probe():
            return time.perf_counter() - t0
        time.sleep(every_s)
    return float("inf")


def summary(xs: list[float]) -> dict[str, Any]:
    ok = [x * 1000 for x in xs if x != float("inf")]
    return {"n": len(xs), "timeouts": len(xs) - len(ok),
            "p50_ms": round(pct(ok, 50), 1) if ok else None,
            "p99_ms": round(pct(ok, 99), 1) if ok else None,
            "max_ms": round(max(ok), 1) if ok else None,
            "under_1s": sum(x < 1000 for x in ok)}


def run(trials: int, background: int, poll_ms: int, probe_ms: int, work: Path
        ) -> dict[str, Any]:
    node_url = f"http://127.0.0.1:{free_port()}"
    node = start(["node", "serve", "--port", node_url.rsplit(":", 1)[1], "--db",
                  str(work / "node.sqlite"), "--home", str(work / "node"), "--workers", "1"],
                 NodeClient(node_url, timeout=2).is_ready, work / "node.log")
    matcher_proc = None
    try:
        svc = wallet(work / "matcher", node_url, "service", "matcher")
        desk = wallet(work / "desk", node_url, "space", "Hub")
        asker = wallet(work / "asker", node_url, name="Asker")
        m_url = f"http://127.0.0.1:{free_port()}"
        probe = MatcherClient(m_url, asker.author.signing_key, asker.did, timeout=5)
        matcher_proc = start(["match", "serve", "--home", str(work / "matcher"), "--node",
                              node_url, "--port", m_url.rsplit(":", 1)[1], "--poll-ms",
                              str(poll_ms)], probe.is_ready, work / "matcher.log")
        fields = ["name", "expertise", "looking_for", "space"]
        with MatcherClient(m_url, desk.author.signing_key, desk.did) as c:
            c.list_space("Hub", "Utrecht", [])
        asker.set("looking_for", "word0 word1 word2 and everything else")
        asker.set("space", {"space": desk.did, "at": format_ts(now_ms())})
        asker.grant(svc.did, fields, "bench", now_ms() + DAY_MS)
        for i in range(background):  # members already known to the matcher
            w = wallet(work / f"bg{i}", node_url, name=f"Member {i}")
            w.set("expertise", f"generic{i % 7} tools")
            w.grant(svc.did, fields, "bench", now_ms() + DAY_MS)
        client = probe

        def asked(word: str) -> list[str]:
            return [s.did for s in client.ask(word, 5).suggestions]

        def met() -> list[str]:
            return [s.did for s in client.people(20).suggestions]

        def profiles() -> int:
            return client.health().profiles

        until(lambda: profiles() >= background + 1, 60, 0.1)
        every = probe_ms / 1000
        grant_s: list[float] = []
        checkin_s: list[float] = []
        revoke_s: list[float] = []
        grant_bg: list[float] = []
        revoke_bg: list[float] = []
        answer_ms: list[float] = []

        def trial(i: int) -> None:
            w = wallet(work / f"t{i}", node_url, name=f"Trial {i}")
            word = f"trialword{i}"
            w.set("expertise", f"{word} compilers")
            w.sync()
            mode_bg = i % 2 == 1  # odd trials measure the background loop alone
            before = profiles()
            gid = w.grant(svc.did, fields, "bench", now_ms() + DAY_MS)
            if mode_bg:
                grant_bg.append(until(lambda: profiles() > before, 10, every))
            else:
                grant_s.append(until(lambda: w.did in asked(word), 10, every))
            token = issue(desk).token()
            record = check_in(w, token)
            space = Challenge.from_token(token).space
            w.set("space", {"space": space, "checkin": record.id, "at": format_ts(now_ms())})
            checkin_s.append(until(lambda: w.did in met(), 10, every))
            t = time.perf_counter()
            asked(word)
            answer_ms.append((time.perf_counter() - t) * 1000)
            before = profiles()
            w.revoke(gid)
            if mode_bg:
                revoke_bg.append(until(lambda: profiles() < before, 10, every))
            else:
                revoke_s.append(until(lambda: w.did not in asked(word), 10, every))

        for i in range(trials):
            trial(i)
        health = client.health()
        client.close()
        return {"trials": trials, "background_members": background, "poll_ms": poll_ms,
                "probe_ms": probe_ms, "load_average": [round(x, 1) for x in os.getloadavg()],
                "next_answer": {"grant": summary(grant_s), "checkin": summary(checkin_s),
                                "revoke": summary(revoke_s)},
                "background_loop": {"grant": summary(grant_bg), "revoke": summary(revoke_bg)},
                "question_answer_ms": {"p50": round(pct(answer_ms, 50), 1),
                                       "p99": round(pct(answer_ms, 99), 1)},
                "matcher": {"profiles": health.profiles, "poll_took_ms": health.poll_took_ms,
                            "reads": health.reads}}
    finally:
        for proc in (matcher_proc, node):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=15)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--background", type=int, default=30)
    ap.add_argument("--poll-ms", type=int, default=250)
    ap.add_argument("--probe-ms", type=int, default=20)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="matching-fresh-") as tmp:
        result = run(args.trials, args.background, args.poll_ms, args.probe_ms, Path(tmp))
    print_result(result, args.json)


if __name__ == "__main__":
    main()
