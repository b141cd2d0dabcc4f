"""The short crash drill (bench/crash.py with one server kill and one database kill): under
casting load, `scrutin serve` is killed with SIGKILL and restarted, and its embedded
PostgreSQL is killed with SIGKILL under the running server, which starts it again by itself;
every acknowledged ballot is in the log, voters marked = ballots, and
scrutin-audit passes. The drill waits for states (acknowledgements, /healthz), not for time.
The full drill is `python bench/crash.py` (10 + 3 kills)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

CRASH = Path(__file__).resolve().parents[2] / "bench" / "crash.py"


def test_kills_under_load_lose_no_acknowledged_ballot() -> None:
    spec = importlib.util.spec_from_file_location("crash_drill", CRASH)
    assert spec is not None and spec.loader is not None
    crash = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(crash)
    result = crash.drill(server_kills=1, database_kills=1, voters=30, clients=4)
    assert result["acknowledged"] > 0
    assert result["lost"] == 0, result
    assert result["marked"] == result["ballots"], result
    assert result["audit"] == "ok", result["audit_output"]
