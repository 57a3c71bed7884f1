"""Node settings, from the command line or (for each uvicorn worker process) the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from passport_api.ratelimit import Limits

ENV_DB = "PASSPORT_DB"
ENV_HOME = "PASSPORT_HOME"
ENV_VERIFY_WORKERS = "PASSPORT_VERIFY_WORKERS"
DEFAULT_HOME = "~/.passport/node"
DB_FILE = "passport.sqlite"


@dataclass(frozen=True)
class NodeSettings:
    home: Path
    db: str  # SQLAlchemy URL, or a SQLite file path
    verify_workers: int | None = None  # None: one per core, started on the first large batch
    limits: Limits = field(default_factory=Limits)  # rates and quotas (passport_api.ratelimit)

    @classmethod
    def from_env(cls) -> NodeSettings:
        home = Path(os.environ.get(ENV_HOME, DEFAULT_HOME)).expanduser()
        db = os.environ.get(ENV_DB) or str(home / DB_FILE)
        workers = os.environ.get(ENV_VERIFY_WORKERS)
        return cls(home=home, db=db, verify_workers=int(workers) if workers else None,
                   limits=Limits.from_env())

    def to_env(self) -> dict[str, str]:
        env = {ENV_HOME: str(self.home), ENV_DB: self.db, **self.limits.to_env()}
        if self.verify_workers is not None:
            env[ENV_VERIFY_WORKERS] = str(self.verify_workers)
        return env
