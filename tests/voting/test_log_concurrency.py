"""Concurrent writers in several processes share one log: no gap, no duplicate, right root.

Each writer process runs this module as a script (`python -m tests.voting.test_log_concurrency
URL PRIMARY COUNT WRITERS`): WRITERS tasks append and wait in their own transactions, and
the process prints the indexes it was given as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from uuid import UUID

import asyncpg
import pytest

from crypto import merkle
from crypto.entries import open_entry
from crypto.note import open_checkpoint, parse_verifier_key
from tests.conftest import REPO_ROOT
from tests.fixtures.log import TEST_SECRET, LogPrimary
from voting.log import LogService

PROCESSES = 2
WRITERS = 8
TOTAL = 2000


async def _writer_process(url: str, primary_id: UUID, count: int, writers: int) -> list[int]:
    service = LogService(secret_key=TEST_SECRET, public_host="scrutin.localhost")
    pool = await asyncpg.create_pool(url, min_size=writers, max_size=writers + 2)
    try:

        async def writer(number: int) -> list[int]:
            indexes = []
            for i in range(count // writers):
                async with pool.acquire() as conn, conn.transaction():
                    queued = await service.append(
                        conn, primary_id, "support", {"writer": f"{os.getpid()}-{number}", "n": i}
                    )
                integrated = await service.wait(pool, queued)
                assert integrated.tree_size > integrated.index
                indexes.append(integrated.index)
            return indexes

        results = await asyncio.gather(*(writer(n) for n in range(writers)))
        return [index for result in results for index in result]
    finally:
        await pool.close()


@pytest.mark.anyio
async def test_concurrent_writers_in_two_processes(
    database_url: str, log_pool: asyncpg.Pool, log_service: LogService, log_primary: LogPrimary
) -> None:
    per_process = TOTAL // PROCESSES
    command = [sys.executable, "-m", "tests.voting.test_log_concurrency", database_url]
    procs = [
        await asyncio.create_subprocess_exec(
            *command,
            str(log_primary.id),
            str(per_process),
            str(WRITERS),
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(PROCESSES)
    ]
    given: list[int] = []
    for proc in procs:
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        given.extend(json.loads(out))

    assert sorted(given) == list(range(TOTAL))  # every writer got its own index, no gap
    note = await log_service.publish_checkpoint(log_pool, log_primary.id)
    checkpoint = open_checkpoint(note, log_primary.vkey)
    assert checkpoint.size == TOTAL
    entries = await log_service.entries(log_pool, log_primary.id, 0, TOTAL)
    assert [e.index for e in entries] == list(range(TOTAL))
    verify_key = parse_verifier_key(log_primary.vkey).verify_key
    leaves = [open_entry(e.entry, verify_key, origin=log_primary.origin).leaf_hash for e in entries]
    assert leaves == [e.leaf_hash for e in entries]
    head = await log_service.head(log_pool, log_primary.id)
    assert head.root == merkle.root(leaves) == checkpoint.root_hash
    assert await log_pool.fetchval("SELECT count(*) FROM log_queue") == 0
    # Each writer waited for its entry before the next: its entries are in its own order.
    by_writer: dict[str, list[int]] = {}
    for e in entries:
        body = e.envelope()["body"]
        by_writer.setdefault(body["writer"], []).append(body["n"])
    assert len(by_writer) == PROCESSES * WRITERS
    for sequence in by_writer.values():
        assert sequence == list(range(TOTAL // PROCESSES // WRITERS))
    # The tiles stored during integration serve proofs for the final tree.
    proof = await log_service.inclusion_proof(log_pool, log_primary.id, 1234, TOTAL)
    proof.verify(head.root)


if __name__ == "__main__":
    url, primary, count, writers = sys.argv[1:5]
    indexes = asyncio.run(_writer_process(url, UUID(primary), int(count), int(writers)))
    print(json.dumps(indexes))
