"""The offline defaults, in one place: litellm reads its bundled price map, Prefect sends no analytics
and gives a fresh temporary server time to migrate.

litellm reads `LITELLM_LOCAL_MODEL_COST_MAP` when it is imported, so a module that imports litellm calls
`offline_defaults()` just before. The CLI entry point, the benchmarks, `gemflow serve`'s children and
the tests use the same values. A value already set is kept.
"""
from __future__ import annotations

import os
from typing import MutableMapping

OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # litellm imports without fetching prices from the internet
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # A first run on a fresh PREFECT_HOME migrates its database before the temporary server answers (17 s
    # on an idle 2-core machine); Prefect's 20 s default made such a run fail on a busy one.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}


def offline_defaults(env: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Set the offline defaults in `env` (the process environment by default) where not already set."""
    env = os.environ if env is None else env
    for key, value in OFFLINE_ENV.items():
        env.setdefault(key, value)
    return env
