"""Three trustees, each a `scrutin trustee …` process of its own, against a live service on
loopback (k = 2): they make the election key without anyone holding its secret, and refuse to
decrypt "sums" that the public log's ballots do not back (docs/trustees.md, docs/audit-log.md
§10). The honest decryption of a real round is tests/e2e/test_encrypted_round_over_http.py."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from crypto import canonical
from crypto.encoding import b64decode
from crypto.encrypted_ballots import RoundParams, encrypt_ballot, sum_ballots
from tests.fixtures.live import LiveService, start_keygens, trustee
from tests.fixtures.log import TEST_SECRET
from tests.fixtures.waiting import wait_until
from voting import trustees
from voting.log import LogService
from voting.primaries import create_primary
from web.app import create_pool
from web.settings import Settings

REPO = Path(__file__).resolve().parents[2]
PHASES = [
    {"name": "candidacies", "start": "2030-01-01T00:00:00Z", "end": "2030-02-01T00:00:00Z"},
    {"name": "supports", "start": "2030-01-15T00:00:00Z", "end": "2030-03-01T00:00:00Z"},
]


def log_service() -> LogService:
    return LogService(secret_key=TEST_SECRET, public_host=Settings(data_dir=Path()).public_host)


async def _in_db(url: str, work: Any) -> Any:
    """Run `work(conn)` in one transaction, with the service's JSON codecs."""
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn, conn.transaction():
            return await work(conn)
    finally:
        await pool.close()


def test_three_trustee_processes_make_the_key_and_two_decrypt(
    database_url: str, public_tmp_path: Path
) -> None:
    log = log_service()
    slug = f"t-{uuid.uuid4().hex[:8]}"
    definition = {
        "title": "Primaire chiffrée", "slug": slug, "phases": PHASES, "credentials": "voter",
        "ballots": "encrypted", "trustees": 3, "trustee_threshold": 2,
        "grades": ["Insuffisant", "Passable", "Bien", "Très bien"],
    }  # fmt: skip
    primary = asyncio.run(
        _in_db(database_url, lambda c: create_primary(c, log, definition, created_by=None))
    )
    live = LiveService(database_url, public_tmp_path / "data")
    try:
        folders = [public_tmp_path / f"trustee-{i}" for i in (1, 2, 3)]
        for i, folder in enumerate(folders, start=1):
            made = trustee("init", str(folder))
            assert made.returncode == 0, made.stderr
            signing = made.stdout.splitlines()[0].split()[-1]
            box = made.stdout.splitlines()[1].split()[-1]
            asyncio.run(
                _in_db(
                    database_url,
                    lambda c, i=i, signing=signing, box=box: trustees.register(
                        c,
                        log,
                        primary_id=primary.id,
                        name=f"Garant {i}",
                        signing_key=signing,
                        box_key=box,
                    ),
                )
            )
        again = trustee("init", str(folders[0]))
        assert again.returncode == 1 and again.stderr.count("\n") == 1, again.stderr

        # The three trustees run keygen at once, each in its own process.
        runs = start_keygens(live.url, slug, folders)
        outputs = [run.communicate(timeout=300) for run in runs]
        for run, (out, err) in zip(runs, outputs, strict=True):
            assert run.returncode == 0, (out, err)
        keys_printed = {out.strip().splitlines()[-1] for out, _ in outputs}
        assert len(keys_printed) == 1
        ceremony = json.loads(live.get(f"/api/primaries/{slug}/trustees"))
        assert ceremony["state"] == "done"
        assert keys_printed == {f"election key {ceremony['election_key']}"}
        page = live.get(f"/primaries/{slug}/trustees")
        assert "Clé d’élection établie" in page and "Garant 3" in page
        shown = trustee("status", "--url", live.url, "--primary", slug, "--key", str(folders[1]))
        assert shown.returncode == 0, shown.stderr
        assert "3 of 3 trustees registered, threshold 2, state done" in shown.stdout
        assert "2. Garant 2 (you): keygen posted, ack ok" in shown.stdout
        # Nothing secret ever reached the service: a trustee's secret share is in its folder
        # only, and no stored row holds it.
        states = [
            json.loads(p.read_text())
            for f in folders
            for p in f.glob("*.json")
            if p.name != "trustee-key.json"
        ]
        assert len(states) == 3 and all("coefficients" not in s for s in states)

        async def dump(conn):
            rows = []
            for table in ("trustees", "election_keys", "log_entries"):
                rows += [str(r) for r in await conn.fetch(f"SELECT * FROM {table}")]
            return "\n".join(rows)

        stored = asyncio.run(_in_db(database_url, dump))
        for state in states:
            assert state["secret_share"] not in stored

        # A dishonest operator logs, as round 1's sums, ciphertexts that no round and no ballot
        # of the log backs (they could be one voter's ballot): each trustee's `decrypt` has
        # scrutin-audit verify the public log first, sees the sums fail, and posts nothing.
        h = b64decode(ceremony["election_key"])
        a, b, c = (str(uuid.uuid4()) for _ in range(3))
        params = RoundParams(ceremony["origin"], 1, h, (a, b, c), 4, True, 2)
        plain = [{a: 3, b: 0}, {a: 3, c: 2}, None, {b: 1, c: 2}, {a: 0, c: 3}] * 2
        encrypted = [
            encrypt_ballot(
                params, list(g) if g else [a, b], g, bytes(SigningKey.generate().verify_key)
            )
            for g in plain
        ]
        sums = sum_ballots(4, encrypted)
        asyncio.run(
            _in_db(
                database_url,
                lambda conn: trustees.publish_sums(
                    conn,
                    log,
                    primary_id=primary.id,
                    round_number=1,
                    ballots=sums.ballots,
                    sums=sums.rows,
                    blank=sums.blank,
                ),
            )
        )
        wait_until(
            lambda: json.loads(live.get(f"/api/primaries/{slug}/rounds/1/sums"))["sums"],
            "the sums in the log",
        )
        for folder in folders[1:]:
            refused = trustee("decrypt", "--url", live.url, "--primary", slug, "--key",
                              str(folder), "--round", "1")  # fmt: skip
            assert refused.returncode == 1, refused.stdout
            assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
            assert "the public log does not verify" in refused.stderr, refused.stderr
            assert "no share posted" in refused.stderr
        # The log key each trustee checked the log with was kept at its keygen.
        vkey = live.get(f"/primaries/{slug}/log/vkey").strip()
        assert {json.loads(p.read_text()).get("log_key") for p in folders[1].glob("*.json")} >= {
            vkey
        }

        # The log holds every step, trustee-signed.
        async def kinds(conn):
            rows = await conn.fetch(
                "SELECT entry FROM log_entries WHERE primary_id = $1 ORDER BY idx", primary.id
            )
            return [canonical.loads(bytes(r["entry"]))["kind"] for r in rows]

        wait_until(
            lambda: len(asyncio.run(_in_db(database_url, kinds))) == 12, "the log's sequencer"
        )
        assert asyncio.run(_in_db(database_url, kinds)) == [
            "definition", "trustee", "trustee", "trustee", "trustee-keygen", "trustee-keygen",
            "trustee-keygen", "trustee-ack", "trustee-ack", "trustee-ack", "election-key",
            "tally-sums",
        ]  # fmt: skip
    finally:
        live.stop()


def test_the_trustee_command_answers_bad_input_in_one_line(public_tmp_path: Path) -> None:
    folder = public_tmp_path / "nobody"
    cases = [
        ("keygen", "--url", "ftp://example.org", "--primary", "p", "--key", str(folder)),
        ("keygen", "--url", "http://127.0.0.1:9", "--primary", "p", "--key", str(folder)),
        ("decrypt", "--url", "http://127.0.0.1:9", "--primary", "p", "--key", str(folder),
         "--round", "1"),
    ]  # fmt: skip
    (folder).mkdir()
    (folder / "trustee-key.json").write_text("{}")
    for args in cases:
        done = trustee(*args)
        assert done.returncode == 1, done
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith("scrutin trustee: error: ")
    missing = trustee("keygen", "--url", "http://127.0.0.1:9", "--primary", "p", "--key",
                      str(public_tmp_path / "absent"))  # fmt: skip
    assert missing.returncode == 1 and "scrutin trustee init" in missing.stderr


def test_the_trustee_refuses_sums_that_are_not_the_log_entrys() -> None:
    import base64

    from web.trustee import TrusteeCommandError, logged_sums

    sums = {"round": 1, "ballots": 2, "sums": {}}
    entry = {"kind": "tally-sums", "body": sums}
    served = {"sums": sums, "entry": base64.b64encode(canonical.dumps(entry)).decode()}
    assert logged_sums(served) == sums
    with pytest.raises(TrusteeCommandError, match="not those of the public log"):
        logged_sums({**served, "sums": {**sums, "ballots": 3}})
