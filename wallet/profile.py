"""An organisation's public profile: published on its own chain, read back from it.

Only spaces and services publish one: a member's name is a sealed field, read only by whom
the member granted it.
"""

from __future__ import annotations

from ledger.profiles import PROFILE_TYPE, Profile, profile_body, profile_of
from wallet.errors import UsageError
from wallet.wallet import Wallet

PUBLIC_ROLES = ("space", "service")


def own_profile(wallet: Wallet) -> Profile | None:
    """The latest profile on this wallet's chain (as synced), or None."""
    for record in reversed(wallet.chain):
        if record.type == PROFILE_TYPE:
            return profile_of(record.author, record.id, record.ts, record.body)
    return None


def publish(wallet: Wallet, *, name: str | None = None, city: str | None = None,
            description: str | None = None, web: str | None = None) -> Profile:
    """Sign and append a profile: the given parts over the current profile's."""
    role = wallet.store.role
    if role not in PUBLIC_ROLES:
        raise UsageError("members stay private: only a space or a service publishes a public "
                         "profile (your name is a sealed field: 'passport set name ...')")
    current = own_profile(wallet)
    name = name if name is not None else (current.name if current else None)
    if name is None:
        raise UsageError("a profile needs a name: --name 'Seats2meet Utrecht'")

    def keep(given: str | None, old: str | None) -> str | None:
        if given is None:
            return old
        return given or None  # an empty value removes the part

    body = profile_body(role, name,
                        city=keep(city, current.city if current else None),
                        description=keep(description, current.description if current else None),
                        web=keep(web, current.web if current else None))
    record = wallet.write(PROFILE_TYPE, body)
    return profile_of(record.author, record.id, record.ts, record.body)
