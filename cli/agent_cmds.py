"""``passport agent ...``: unlock once, and let every command sign without the passphrase.

Like ssh-agent: ``start`` runs Argon2id once and keeps the keys in a background process for
the time given; every command finds it through the wallet home and uses it; ``stop`` ends it
early.  What it exposes, and to whom, is in docs/security.md ("The wallet agent").
"""

from __future__ import annotations

import re
from typing import Annotated

import typer

from cli.common import AsJson, Home, emit, home_of, passphrase
from wallet import agent_server, keystore
from wallet.agent import socket_path
from wallet.errors import UsageError

app = typer.Typer(no_args_is_help=True, help="Unlock your wallet once and let commands use it "
                  "for a while (like ssh-agent).")

TTL = re.compile(r"(\d+)([smh])")
UNIT_S = {"s": 1, "m": 60, "h": 3600}


def ttl_s(text: str) -> int:
    match = TTL.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise UsageError(f"--ttl {text!r}: give a time like 15m, 2h or 90s")
    seconds = int(match.group(1)) * UNIT_S[match.group(2)]
    if seconds > agent_server.MAX_TTL_S:
        raise UsageError(f"--ttl {text!r} is more than {agent_server.MAX_TTL_S // 3600} h; "
                         "start it again when it runs out")
    return seconds


@app.command("start")
def start(ttl: Annotated[str, typer.Option(help="how long the keys stay unlocked: 15m, 2h, "
                                           "90s (at most 24h)")] = "15m",
          home: Home = None, as_json: AsJson = False) -> None:
    """Unlock your key store once and keep the keys in a background agent for --ttl."""
    seconds = ttl_s(ttl)
    where = home_of(home)
    keystore.header(where)  # "no wallet here" before asking for a passphrase
    store = keystore.load(where, passphrase())
    pid = agent_server.start(where, store, seconds)
    emit(as_json, {"pid": pid, "did": store.did, "ttl_s": seconds,
                   "socket": str(socket_path(where))},
         f"wallet agent running (pid {pid}) for {ttl}: commands use it without your "
         f"passphrase; anything running as you can ask it to sign until then "
         f"('passport agent stop' ends it)")


@app.command("stop")
def stop(home: Home = None, as_json: AsJson = False) -> None:
    """End the agent now: the keys are dropped, commands ask for the passphrase again."""
    pid = agent_server.stop(home_of(home))
    emit(as_json, {"stopped": pid is not None, "pid": pid},
         "no wallet agent runs for this wallet" if pid is None
         else f"wallet agent (pid {pid}) stopped")


@app.command("status")
def status(home: Home = None, as_json: AsJson = False) -> None:
    """Whether an agent holds this wallet's keys, and for how much longer."""
    found = agent_server.status(home_of(home))
    if found is None:
        emit(as_json, {"running": False}, "no wallet agent runs for this wallet")
        return
    emit(as_json, {"running": True, **found},
         f"wallet agent (pid {found['pid']}) holds {found['did']}'s keys for "
         f"{found['expires_in_s']} s more")
