"""``passport node ...``: run the ledger node."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

import nacl.signing
import typer

from cli import anchor_cmds
from ledger import keys
from ledger.chain import Author
from ledger.checkpoint import vkey_line
from ledger.profiles import PROFILE_TYPE, profile_body
from ledger.store import directory
from ledger.store.ledger import Ledger
from ledger.store.logkey import load_or_create_log_key
from passport_api.access_log import ENV_ACCESS_LOG
from passport_api.anchoring import (
    DEFAULT_EVERY_MINUTES,
    DEFAULT_EVERY_RECORDS,
    ENV_KEY,
    ENV_RPC,
    AnchorSettings,
)
from passport_api.ratelimit import (
    DEFAULT_ADDRESS,
    DEFAULT_KEY,
    DEFAULT_RECORDS_PER_DAY,
    ENV_QUOTA_RECORDS,
    ENV_RATE_ADDRESS,
    ENV_RATE_KEY,
    Limits,
    Rate,
)
from passport_api.settings import DEFAULT_HOME, ENV_HOME, NodeSettings

app = typer.Typer(no_args_is_help=True, help="Run the Passport node.")
app.command("anchor")(anchor_cmds.node_anchor)


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="TCP port")] = 8400,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    db: Annotated[str | None, typer.Option(
        help="SQLAlchemy URL or SQLite file (default: passport.sqlite in the home)")] = None,
    home: Annotated[Path | None, typer.Option(
        help=f"node home, for the log key (default: ${ENV_HOME} or {DEFAULT_HOME})")] = None,
    workers: Annotated[int, typer.Option(min=1, help="worker processes (use PostgreSQL for "
                                                     "more than one)")] = 1,
    anchor_rpc: Annotated[str | None, typer.Option(
        envvar=ENV_RPC, help="anchor on this chain (JSON-RPC URL, or 'inprocess'); off if unset")
    ] = None,
    anchor_every_records: Annotated[int, typer.Option(
        min=1, help="anchor after this many new records")] = DEFAULT_EVERY_RECORDS,
    anchor_every_minutes: Annotated[float, typer.Option(
        help="... or this many minutes after the last anchor")] = DEFAULT_EVERY_MINUTES,
    anchor_confirmations: Annotated[int, typer.Option(min=1, help="blocks to wait")] = 1,
    peer: Annotated[list[str] | None, typer.Option(
        help="a peer node to follow (pull and verify its records) and to let replicate this "
             "node's values; repeat for several")] = None,
    follow_every: Annotated[float, typer.Option(
        min=0.1, help="seconds between pulls from the peers")] = 2.0,
    name: Annotated[str | None, typer.Option(
        help="publish the node's public profile under this name (signed by its log key)")
    ] = None,
    web: Annotated[str | None, typer.Option(help="the node's web address, in its profile")
                   ] = None,
    access_log: Annotated[bool, typer.Option(
        help="one line per request on stderr (method, path, status; never a query string)")
    ] = True,
    rate_per_address: Annotated[str, typer.Option(
        envvar=ENV_RATE_ADDRESS, help="requests per second per client address, RATE/BURST, "
                                      "or off (per worker)")] = DEFAULT_ADDRESS.text(),
    rate_per_key: Annotated[str, typer.Option(
        envvar=ENV_RATE_KEY, help="signed requests per second per key, RATE/BURST, or off "
                                  "(per worker)")] = DEFAULT_KEY.text(),
    quota_records_per_day: Annotated[int, typer.Option(
        envvar=ENV_QUOTA_RECORDS, min=0, help="records one key may append per UTC day, 0 for "
                                              "no quota (per worker)")
    ] = DEFAULT_RECORDS_PER_DAY,
) -> None:
    """Serve the node's HTTP API; GET /v1/health answers once it is ready."""
    home = (home or Path(os.environ.get(ENV_HOME, DEFAULT_HOME))).expanduser()
    # Everything the node creates (its home, the SQLite file and its -wal/-shm, log.key) is
    # for its own user only; the workers inherit the mask.
    os.umask(0o077)
    try:
        limits = Limits(Rate.parse(rate_per_address, "--rate-per-address"),
                        Rate.parse(rate_per_key, "--rate-per-key"), quota_records_per_day)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    settings = NodeSettings(home=home, db=db or str(home / "passport.sqlite"), limits=limits)
    # Create the log key, the schema and the empty signed head once, before any worker
    # starts, so workers never race to initialise the same database.
    import uvicorn  # imported here: other passport commands start without the web stack

    from passport_api.app import open_ledger

    ledger = open_ledger(settings)
    origin, log_key = ledger.origin, ledger.public_key
    try:
        if name is not None:
            publish_node_profile(ledger, load_or_create_log_key(home), name, web)
    finally:
        ledger.close()
    os.environ.update(settings.to_env())
    if anchor_rpc == "inprocess" and workers > 1:
        raise typer.BadParameter("the in-process EVM lives in one process: use --workers 1 "
                                 "or a JSON-RPC chain", param_hint="--anchor-rpc")
    if anchor_rpc:
        os.environ.update(AnchorSettings(
            rpc=anchor_rpc, contract=os.environ.get("PASSPORT_ANCHOR_CONTRACT") or None,
            confirmations=anchor_confirmations, every_records=anchor_every_records,
            every_minutes=anchor_every_minutes).to_env())
    if peer:
        from passport_api.federation import FederationSettings

        os.environ.update(FederationSettings(tuple(u.rstrip("/") for u in peer),
                                             follow_every).to_env())
    os.environ[ENV_ACCESS_LOG] = "1" if access_log else "0"
    print("\n".join(banner(host, port, settings, origin, log_key, anchor_rpc, peer or [])),
          f"  limits:    {rate_per_address} per address, {rate_per_key} per key, "
          f"{quota_records_per_day or 'no'} records per key per day (per worker)",
          sep="\n", flush=True)
    # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from any loopback
    # client as the client's address, and one address could pose as many (rate limits)
    uvicorn.run("passport_api.app:app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level="warning", access_log=False, proxy_headers=False)


def shown_db(url: str) -> str:
    """The database URL without its password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def banner(host: str, port: int, settings: NodeSettings, origin: str, log_key: bytes,
           anchor_rpc: str | None, peers: list[str]) -> list[str]:
    """What the operator needs to see at start: where, what, which key, which chain, peers."""
    vkey = vkey_line(origin, nacl.signing.VerifyKey(log_key))
    lines = [f"passport node: http://{host}:{port} (explorer: http://{host}:{port}/explorer)",
             f"  database:  {shown_db(settings.db)}",
             f"  home:      {settings.home}",
             f"  log key:   {keys.did_from_public_key(log_key)}",
             f"  vkey:      {vkey} (C2SP signed-note verifier key)",
             f"  anchoring: {anchoring_line(settings.home, anchor_rpc)}",
             f"  peers:     {', '.join(peers) if peers else 'none'}",
             f"  profile:   {profile_line(settings)}"]
    return lines


def profile_line(settings: NodeSettings) -> str:
    from passport_api.app import open_ledger

    ledger = open_ledger(settings)
    try:
        found = directory.profile_of(ledger.engine, keys.did_from_public_key(ledger.public_key))
    finally:
        ledger.close()
    if found is None:
        return "none published (--name to publish one)"
    return f"{found.record.body['name']} (in the directory)"


def anchoring_line(home: Path, rpc: str | None) -> str:
    if not rpc:
        return "not configured (--anchor-rpc URL, or 'inprocess' for development)"
    from contracts.anchoring import ANCHOR_KEY_FILE  # web3 loads only when anchoring
    from contracts.chain import address_of

    key = os.environ.get(ENV_KEY)
    where = rpc if rpc == "inprocess" else re.sub(r"(://)[^/@]*@", r"\1***@", rpc)
    if key:
        return f"{where}, account {address_of(key)} (PASSPORT_ANCHOR_KEY)"
    path = home / ANCHOR_KEY_FILE
    if path.exists():
        return f"{where}, account {address_of(path.read_text().strip())} (development key)"
    return f"{where}, account: a development key made in {home} at the first round"


def publish_node_profile(ledger: Ledger, key: nacl.signing.SigningKey, name: str,
                         web: str | None) -> None:
    """The node's public profile on its own chain (author: the did of its log key), appended
    when it differs from the latest one; records and tree heads are signed under different
    domains, so one key serves both."""
    did = keys.did_of(key)
    body = profile_body("node", name, web=web)
    state = ledger.chain_state(did)
    if state is not None:
        current = directory.profile_of(ledger.engine, did)
        if current is not None and current.record.body == body:
            return
    author = Author(key, did=did, seq=state.seq if state else 0,
                    head=state.head if state else None)
    ledger.append(author.next(PROFILE_TYPE, body).raw)
