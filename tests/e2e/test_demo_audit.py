"""The observer's view of the demo: its export passes every check of `scrutin-audit verify`,
and each tampered copy fails with exit 1 and the right check named.

The tampering that keeps valid signatures (a result with two ranks swapped, re-signed with the
log key itself, as a dishonest operator could) shows that the recount, not only signatures,
protects the result.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from crypto import canonical
from crypto.entries import make_entry
from crypto.keys import LogKey
from crypto.merkle import leaf_hash, root
from crypto.note import Checkpoint, sign_checkpoint
from voting.log import LogService
from web.app import create_pool
from web.demo import DEMO_SLUG, seed_demo
from web.settings import Settings

REPO = Path(__file__).resolve().parents[2]


async def _export_and_key(database_url: str, settings: Settings) -> tuple[dict[str, Any], LogKey]:
    log = LogService(secret_key=settings.secret_key or "", public_host=settings.public_host)
    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        primary_id = await pool.fetchval("SELECT id FROM primaries WHERE slug = $1", DEMO_SLUG)
        export = await log.export(pool, primary_id)
        row = await pool.fetchrow(
            "SELECT origin, sealed_key FROM logs WHERE primary_id = $1", primary_id
        )
        key = LogKey.unseal(row["origin"], bytes(row["sealed_key"]), settings.secret_key.encode())
    finally:
        await pool.close()
    return export, key


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, template_database: str):  # type: ignore[no-untyped-def]
    from tests.conftest import _fresh_database, admin_execute, with_database

    name = _fresh_database(pg_admin_url, template_database)
    url = with_database(pg_admin_url, name)
    data = tmp_path_factory.mktemp("demo-data")
    settings = Settings(data_dir=data, database_url=url, secret_key="d" * 48)
    asyncio.run(seed_demo(url, settings))
    export, key = asyncio.run(_export_and_key(url, settings))
    yield export, key
    admin_execute(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def audit(tmp_path: Path, export: dict[str, Any], vkey: str) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    result = subprocess.run(
        [sys.executable, "-m", "audit", "verify", str(path), "--log-key", vkey, "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout) if result.stdout.strip() else {}


def failed_checks(report: dict[str, Any]) -> set[int]:
    return {check["number"] for check in report["checks"] if not check["ok"]}


def entries(export: dict[str, Any]) -> list[bytes]:
    return [base64.b64decode(e) for e in export["entries"]]


def with_entries(
    export: dict[str, Any], new: list[bytes], key: LogKey | None = None
) -> dict[str, Any]:
    """A copy with other entries; with `key`, re-signed as the operator could (new checkpoint)."""
    copy = dict(export, entries=[base64.b64encode(e).decode() for e in new])
    if key is not None:
        tree = root([leaf_hash(e) for e in new])
        note = sign_checkpoint(Checkpoint(export["origin"], len(new), tree), key.signing_key)
        copy["checkpoints"] = [note]
    return copy


def test_demo_export_passes_every_check(tmp_path: Path, demo) -> None:  # type: ignore[no-untyped-def]
    export, _ = demo
    code, report = audit(tmp_path, export, export["vkey"])
    assert code == 0, report
    assert [c["number"] for c in report["checks"]][:11] == list(range(1, 12))
    assert all(c["ok"] for c in report["checks"])


def test_flipped_byte_in_an_entry_fails_the_signature_check(tmp_path: Path, demo) -> None:  # type: ignore[no-untyped-def]
    export, _ = demo
    new = entries(export)
    target = bytearray(new[3])
    target[target.index(b'"body"') + 10] ^= 0x01
    new[3] = bytes(target)
    code, report = audit(tmp_path, with_entries(export, new), export["vkey"])
    assert code == 1
    assert 2 in failed_checks(report)  # the checkpoint no longer matches
    assert failed_checks(report) & {4, 5}  # and the entry itself is refused


def test_removed_entry_fails_completeness(tmp_path: Path, demo) -> None:  # type: ignore[no-untyped-def]
    export, _ = demo
    new = entries(export)
    del new[10]
    code, report = audit(tmp_path, with_entries(export, new), export["vkey"])
    assert code == 1 and 2 in failed_checks(report)


def test_forged_checkpoint_signature_fails_check_1(tmp_path: Path, demo) -> None:  # type: ignore[no-untyped-def]
    export, _ = demo
    forged = LogKey.generate(export["origin"])
    new = entries(export)
    copy = with_entries(export, new, forged)  # same tree, signed by someone else's key
    code, report = audit(tmp_path, copy, export["vkey"])
    assert code == 1 and 1 in failed_checks(report)


def test_result_with_swapped_ranks_resigned_by_the_operator_fails_the_recount(
    tmp_path: Path,
    demo,  # type: ignore[no-untyped-def]
) -> None:
    export, key = demo
    new = entries(export)
    index = next(i for i, e in enumerate(new) if canonical.loads(e)["kind"] == "result")
    envelope = canonical.loads(new[index])
    body = envelope["body"]
    first, second = body["ranking"][0], body["ranking"][1]
    body["candidates"][first]["rank"], body["candidates"][second]["rank"] = (
        body["candidates"][second]["rank"],
        body["candidates"][first]["rank"],
    )
    body["ranking"][0], body["ranking"][1] = second, first
    new[index] = make_entry(
        origin=envelope["origin"], primary=envelope["primary"], kind="result",
        time=envelope["time"], body=body, signing_key=key.signing_key,
    )  # fmt: skip
    code, report = audit(tmp_path, with_entries(export, new, key), export["vkey"])
    assert code == 1
    assert failed_checks(report) == {10}  # signatures and tree are fine: only the recount fails


def test_wrong_key_format_is_unusable_input(tmp_path: Path, demo) -> None:  # type: ignore[no-untyped-def]
    export, _ = demo
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    result = subprocess.run(
        [sys.executable, "-m", "audit", "verify", str(path), "--log-key", "not-a-key"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


def _instant(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def test_demo_log_happened_inside_its_own_calendar(tmp_path: Path, demo) -> None:  # type: ignore[no-untyped-def]
    """Issue 11 item 6 / issue 16 item 1: supports in the supports phase, round 1 in its
    phase, round 2 opened in its phase which is under way now, so the pages (which read the
    same calendar) say round 2 is open, as it is."""
    import time

    export, _ = demo
    parsed = [canonical.loads(e) for e in entries(export)]
    phases = {
        p["name"]: (_instant(p["start"]), _instant(p["end"]))
        for p in [e for e in parsed if e["kind"] == "definition"][-1]["body"]["phases"]
    }

    def inside(entry: dict[str, Any], name: str) -> bool:
        start, end = phases[name]
        return start <= entry["time"] < end

    supports = [e for e in parsed if e["kind"] in ("support", "qualification")]
    assert supports and all(inside(e, "supports") for e in supports)
    opens = {e["body"]["round"]: e for e in parsed if e["kind"] == "round-open"}
    assert inside(opens[1], "round-1") and inside(opens[2], "round-2")
    ballots = [e for e in parsed if e["kind"] == "ballot"]
    assert len(ballots) > 30 and all(inside(e, "round-1") for e in ballots)
    start, end = phases["round-2"]
    assert start <= time.time() < end  # round 2 is open now, in its phase
    code, report = audit(tmp_path, export, export["vkey"])
    timeline = next(c for c in report["checks"] if c["number"] == 11)
    assert code == 0 and timeline["ok"] and timeline["note"] == ""


def test_demo_support_dated_today_fails_the_timeline(tmp_path: Path, demo) -> None:  # type: ignore[no-untyped-def]
    """The old demo dated its supports weeks after their phase: re-signed with the log key,
    such a log fails check 11 (and check 10, whose results name the root of a tree that
    held the original support)."""
    import time

    export, key = demo
    new = entries(export)
    index = next(i for i, e in enumerate(new) if canonical.loads(e)["kind"] == "support")
    envelope = canonical.loads(new[index])
    new[index] = make_entry(
        origin=envelope["origin"], primary=envelope["primary"], kind="support",
        time=int(time.time()), body=envelope["body"], signing_key=key.signing_key,
    )  # fmt: skip
    code, report = audit(tmp_path, with_entries(export, new, key), export["vkey"])
    assert code == 1 and failed_checks(report) == {10, 11}
    timeline = next(c for c in report["checks"] if c["number"] == 11)
    assert timeline["failures"][0]["index"] == index
    assert "supports" in timeline["failures"][0]["reason"]


def test_demo_says_why_marc_dubois_is_not_on_round_1(demo) -> None:  # type: ignore[no-untyped-def]
    """Issue 11 item 8: qualified, never confirmed, he lapses in the log just before round 1
    opens; round 1 lists exactly the confirmed qualified candidates."""
    export, _ = demo
    parsed = [canonical.loads(e) for e in entries(export)]
    opening = next(i for i, e in enumerate(parsed) if e["kind"] == "round-open")
    lapsed = [
        e["body"] for e in parsed if e["kind"] == "candidacy" and e["body"]["action"] == "lapsed"
    ]
    assert [b["name"] for b in lapsed] == ["Marc Dubois"]
    # Then the roll (§8: after the lapses, just before the opening).
    assert parsed[opening - 1]["kind"] == "roll"
    assert parsed[opening - 2]["body"]["action"] == "lapsed"
    last: dict[str, str] = {}
    for e in parsed[:opening]:
        if e["kind"] == "candidacy":
            last[e["body"]["candidate"]] = e["body"]["action"]
    qualified = {e["body"]["candidate"] for e in parsed[:opening] if e["kind"] == "qualification"}
    confirmed = {c for c in qualified if last[c] == "confirmed"}
    assert {c["candidate"] for c in parsed[opening]["body"]["candidates"]} == confirmed


def test_demo_ballots_and_supports_are_signed_by_the_citizens_keys(tmp_path: Path, demo) -> None:  # type: ignore[no-untyped-def]
    """Issue 13: the demo primary runs under `credentials: voter`; its log verifies with the
    credential checks on, and the report gives the roll, the ballots counted, the revote,
    the assisted ballot and the replaced key."""
    export, _ = demo
    code, report = audit(tmp_path, export, export["vkey"])
    assert code == 0, report
    check = next(c for c in report["checks"] if c["number"] == 13)
    assert check["ok"] and "nothing" not in check["note"]
    # 8 citizens (supporters) + 45 voters + the two visitors' demo accounts, one replacement.
    assert report["summary"]["credentials"] == {
        "registered": 56,
        "assisted": 2,
        "replacements": 1,
        "rolls": {"1": 55, "2": 55},
        "counted": 45,
        "revotes": 1,
        "assisted_ballots": 1,
    }
    parsed = [canonical.loads(e) for e in entries(export)]
    signed = [e for e in parsed if e["kind"] in ("ballot", "support")]
    assert signed and all("credential_sig" in e["body"] for e in signed)
    close = next(e for e in parsed if e["kind"] == "round-close")
    assert close["body"]["turnout"] == 45  # the revote counts once


def _audit_key(tmp_path: Path, export: dict[str, Any], key: str) -> str:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    result = subprocess.run(
        [sys.executable, "-m", "audit", "verify", str(path), "--log-key", export["vkey"],
         "--credential", key, "--lang", "en"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_demo_voters_check_their_keys_with_scrutin_audit(tmp_path: Path, demo) -> None:  # type: ignore[no-untyped-def]
    """The revoter sees two ballots under their key, the last one counted; the visitor's
    demo key, which no seeded ballot carries, is on both rolls and carries none."""
    from nacl.signing import SigningKey

    from web.demo import device_seed
    from web.demo_rounds import REVOTER, VISITOR_KEY_EMAIL, VOTER_EMAIL

    export, _ = demo

    def public(email: str) -> str:
        seed = device_seed("d" * 48, email)
        return base64.b64encode(bytes(SigningKey(seed).verify_key)).decode()

    out = _audit_key(tmp_path, export, public(VOTER_EMAIL.format(REVOTER + 1)))
    line = next(x for x in out.splitlines() if "round 1: ballots under your key" in x)
    indexes = re.search(r"entries (\d+), (\d+); the one counted: (\d+)", line)
    assert indexes and indexes.group(2) == indexes.group(3)
    out = _audit_key(tmp_path, export, public(VISITOR_KEY_EMAIL))
    assert "on the roll of rounds 1, 2" in out and "no ballot carries your key" in out
