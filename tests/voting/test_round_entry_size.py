"""A round whose result could not fit in one log entry (65,535 bytes, docs/audit-log.md §7)
is refused when it is opened, not discovered at the reveal, when nothing could be done."""

from __future__ import annotations

import asyncpg
import pytest

from crypto import canonical
from tests.fixtures.rounds import PASSPHRASE, make_round_primary, make_voters
from voting.ballots import cast
from voting.log import LogService
from voting.refusals import Refused
from voting.results import reveal_and_tally
from voting.rounds import close_round, open_round, worst_result_entry_size

pytestmark = pytest.mark.anyio


async def _written(conn: asyncpg.Connection, primary_id: object) -> int:
    return await conn.fetchval(
        "SELECT (SELECT count(*) FROM log_entries WHERE primary_id = $1)"
        " + (SELECT count(*) FROM log_queue WHERE primary_id = $1)",
        primary_id,
    )


async def test_a_round_whose_result_could_not_be_logged_is_refused_at_opening(
    log_pool: asyncpg.Pool, log_service: LogService
) -> None:
    # 300 short names: the round-open entry (about 45 kB) fits, its result might not.
    names = [f"C{i:03d}" for i in range(300)]
    async with log_pool.acquire() as conn:
        primary = await make_round_primary(conn, log_service, candidates=300, names=names)
        before = await _written(conn, primary.id)
        with pytest.raises(Refused) as refused:
            async with conn.transaction():
                await open_round(
                    conn, log_service, primary_id=primary.id, opened_by=None,
                    passphrase=PASSPHRASE,
                )  # fmt: skip
        assert refused.value.field == "candidates"
        assert "son résultat pourrait faire une entrée de journal" in refused.value.message
        assert refused.value.params["limit"] == 65_535
        assert refused.value.params["size"] > 65_535
        assert await _written(conn, primary.id) == before
        assert (
            await conn.fetchval("SELECT count(*) FROM rounds WHERE primary_id = $1", primary.id)
            == 0
        )
        # Fewer candidates: the round opens, and its real result stays under the bound.
        chosen = primary.candidates[:5]
        async with conn.transaction():
            opened = await open_round(
                conn, log_service, primary_id=primary.id, opened_by=None,
                candidate_ids=chosen, passphrase=PASSPHRASE,
            )  # fmt: skip
        for i, voter in enumerate(await make_voters(conn, 3)):
            async with conn.transaction():
                await cast(
                    conn, log_service, primary_id=primary.id, number=1, account_id=voter,
                    grades={c: (i + k) % 7 for k, c in enumerate(chosen)}, blank=False,
                )  # fmt: skip
        async with conn.transaction():
            await close_round(conn, log_service, primary_id=primary.id, number=1)
    await reveal_and_tally(
        log_pool, log_service, primary_id=primary.id, number=1, passphrase=PASSPHRASE
    )
    await log_service.integrate(log_pool, primary.id)
    head = await log_service.head(log_pool, primary.id)
    [result] = [
        e for e in await log_service.entries(log_pool, primary.id, 0, head.size)
        if e.kind == "result"
    ]  # fmt: skip
    assert canonical.loads(result.entry)["body"]["ranking"]
    assert len(result.entry) <= worst_result_entry_size(1, opened.round.candidate_ids, 7)
