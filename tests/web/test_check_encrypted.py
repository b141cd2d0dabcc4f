"""Check my ballot in an encrypted round (docs/audit-log.md §10 "Revoting": only the last
*valid* ballot of each credential counts): a ballot followed by an invalid one under the same
key is not shown as replaced, neither by its tracker nor in the key's list of ballots."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey
from starlette.testclient import TestClient

from crypto import encrypted_ballots as eb
from crypto.encoding import b64decode
from tests.fixtures.rounds import make_round_primary, make_voters
from voting.ballots import cast
from voting.credentials import register
from voting.encrypted_rounds import EncryptedCast, round_params
from voting.rounds import open_round
from voting.unit_of_work import UnitOfWork
from web.trustee import local_ceremony

ENCRYPTED = {"ballots": "encrypted", "trustees": 3, "trustee_threshold": 2}
GRADES4 = ["Insuffisant", "Passable", "Bien", "Très bien"]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_ballot_followed_by_an_invalid_one_still_counts_on_check_my_ballot(
    client: TestClient, public_tmp_path: Path
) -> None:
    app = client.app
    pool, log = app.state.pool, app.state.log  # type: ignore[attr-defined]
    secret = app.state.settings.secret_key  # type: ignore[attr-defined]
    key = SigningKey.generate()

    async def seed() -> tuple[str, str, str]:
        async with pool.acquire() as conn:
            primary = await make_round_primary(
                conn, log, candidates=3, credentials="voter", grades=GRADES4, extra=ENCRYPTED
            )
            (voter,) = await make_voters(conn, 1)
        pid = primary.id
        async with UnitOfWork(pool, log) as uow:
            await register(
                uow.conn, uow.log, secret_key=secret, primary_id=pid, account_id=voter,
                public_key=bytes(key.verify_key),
            )  # fmt: skip
        folders = [public_tmp_path / f"garant-{i}" for i in (1, 2, 3)]
        await local_ceremony(pool, log, pid, folders, ["Ada", "Bob", "Cyd"])
        async with UnitOfWork(pool, log) as uow:
            round_ = (await open_round(uow.conn, uow.log, primary_id=pid, opened_by=None)).round
        params = round_params(round_, log.origin_for(primary.slug))
        a, b, c = round_.candidate_ids
        good = eb.build_ballot(params, [a, b, c], {a: 3, b: 2, c: 0}, key)
        async with UnitOfWork(pool, log) as uow:
            queued = await cast(
                uow.conn, uow.log, primary_id=pid, number=1, account_id=voter,
                secret_key=secret, encrypted=EncryptedCast(
                    b64decode(good["encrypted"]), b64decode(good["credential_sig"])
                ),
            )  # fmt: skip
        valid_tracker = uow.placed(queued).leaf_hash.hex()
        # A later ballot whose proof fails, signed by the same key (an operator's bug: the
        # service refuses it at the cast), reaches the log.
        blob = bytearray(b64decode(eb.build_ballot(params, [a, b, c], None, key)["encrypted"]))
        blob[-40] ^= 1
        sig = key.sign(eb.signed_message(params.origin, 1, bytes(blob))).signature
        broken: dict[str, Any] = {
            "round": 1, "encrypted": base64.b64encode(bytes(blob)).decode(),
            "credential": base64.b64encode(bytes(key.verify_key)).decode(),
            "credential_sig": base64.b64encode(sig).decode(),
        }  # fmt: skip
        async with UnitOfWork(pool, log) as uow:
            queued = await uow.log.append(uow.conn, pid, "ballot", broken)
        invalid_tracker = uow.placed(queued).leaf_hash.hex()
        return primary.slug, valid_tracker, invalid_tracker

    slug, valid_tracker, invalid_tracker = client.portal.call(seed)  # type: ignore[union-attr]

    page = client.get(f"/primaries/{slug}/check", params={"tracker": valid_tracker})
    assert page.status_code == 200
    text = _text(page.text)
    assert "remplacé" not in text and "remplace" not in text
    assert "le résultat de ce tour n’est pas encore publié" in text

    page = client.get(f"/primaries/{slug}/check", params={"tracker": invalid_tracker})
    assert "bulletin chiffré invalide" in _text(page.text)

    public = base64.b64encode(bytes(key.verify_key)).decode()
    page = client.get(f"/primaries/{slug}/check", params={"credential": public})
    assert page.status_code == 200
    items = re.findall(r"<li>(.*?)</li>", page.text, re.S)
    ballots = [_text(i) for i in items if "/check?tracker=" in i]
    assert len(ballots) == 2
    assert valid_tracker[:12] in ballots[0] and "c’est lui qui compte" in ballots[0]
    assert invalid_tracker[:12] in ballots[1] and "invalide" in ballots[1]
    assert "c’est lui qui compte" not in ballots[1]
