"""Getting the log's checkpoints cosigned by the primary's witnesses (docs/witness.md).

The primary's definition may carry a `witness_policy` (C2SP tlog-policy text: witnesses
with their submission URL, groups, quorum). After the log signs a checkpoint, `cosign`
submits it to every witness of the policy with C2SP tlog-witness `add-checkpoint`, with a
consistency proof from the last size that witness cosigned, and stores the cosignature lines
it gets back; the published checkpoint is the log-signed note followed by those lines.

A witness that is down, slow or refusing never blocks anything: its failure is logged, the
checkpoint is published without its cosignature (the quorum is then reported as missing),
and the background service submits the latest checkpoint again every round until the
witness answers. A witness that was unreachable a moment ago (refused connection, timeout)
is skipped by the foreground path (receipts, phase changes) for `BACKOFF` seconds so that
voters do not wait on it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg

from crypto.cosignature import format_add_checkpoint, parse_cosignature_lines, parse_size_body
from crypto.note import NoteError, parse_note
from crypto.policy import Policy, PolicyWitness, parse_policy

if TYPE_CHECKING:
    from voting.log import Database, LogService

logger = logging.getLogger("scrutin.witnesses")

TIMEOUT = 3.0  # seconds for one add-checkpoint request
BACKOFF = 30.0  # seconds the foreground path skips a witness that just failed

SELECT_POLICY = "SELECT definition->>'witness_policy' FROM primaries WHERE id = $1"
SELECT_POLICY_LOGS = """
SELECT l.primary_id FROM logs l JOIN primaries p ON p.id = l.primary_id
WHERE p.definition ? 'witness_policy'
"""
SELECT_CHECKPOINT_NOTE = "SELECT note FROM log_checkpoints WHERE primary_id = $1 AND size = $2"
SELECT_COSIGNED = """
SELECT witness, max(size) AS size,
       bool_or(size = $2) AS has_current
FROM log_cosignatures WHERE primary_id = $1 GROUP BY witness
"""
INSERT_COSIGNATURE = """
INSERT INTO log_cosignatures (primary_id, size, witness, line) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING
"""
SELECT_COSIGNERS_AT = "SELECT witness FROM log_cosignatures WHERE primary_id = $1 AND size = $2"
SELECT_COSIGNED_NOTE_AT = """
SELECT c.note || coalesce((
    SELECT string_agg(w.line, '' ORDER BY w.created_at, w.witness) FROM log_cosignatures w
    WHERE w.primary_id = c.primary_id AND w.size = c.size), '')
FROM log_checkpoints c WHERE c.primary_id = $1 AND c.size = $2
"""
SELECT_LATEST_QUORUM_SIZES = """
SELECT c.size, array_remove(array_agg(w.witness), NULL) AS witnesses
FROM log_checkpoints c LEFT JOIN log_cosignatures w USING (primary_id, size)
WHERE c.primary_id = $1 GROUP BY c.size ORDER BY c.size DESC LIMIT $2
"""


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


def _post(url: str, body: bytes, timeout: float) -> Answer:
    request = urllib.request.Request(  # noqa: S310 - policy URLs are checked to be http(s)
        url.rstrip("/") + "/add-checkpoint", data=body, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return Answer(
                response.status, response.headers.get("Content-Type", ""), response.read()
            )
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.headers.get("Content-Type", ""), exc.read())


class Witnesses:
    """The witness client of one LogService."""

    def __init__(self, log: LogService, *, timeout: float = TIMEOUT) -> None:
        self.log = log
        self.timeout = timeout
        self._down_until: dict[str, float] = {}
        self._policies: dict[str, Policy] = {}

    async def policy(self, db: Database, pid: UUID) -> Policy | None:
        text = await db.fetchval(SELECT_POLICY, pid)
        if not text:
            return None
        policy = self._policies.get(text)
        if policy is None:
            policy = self._policies[text] = parse_policy(text)
        return policy

    async def cosign(self, db: Database, pid: UUID, *, background: bool = False) -> bool:
        """Submit the latest checkpoint to the witnesses that have not cosigned it yet;
        False when the primary has no witnesses. Never raises: a failure only leaves that
        witness's cosignature missing."""
        try:
            policy = await self.policy(db, pid)
            if policy is None or not policy.witnesses:
                return False
            latest = await self.log.latest_checkpoint(db, pid)
            size = latest.size
            note = await db.fetchval(SELECT_CHECKPOINT_NOTE, pid, size)
            rows = {r["witness"]: r for r in await db.fetch(SELECT_COSIGNED, pid, size)}
            now = time.monotonic()
            jobs = []
            for witness in policy.witnesses.values():
                row = rows.get(witness.cosigner.vkey)
                if row is not None and row["has_current"]:
                    continue
                if not background and self._down_until.get(witness.cosigner.vkey, 0) > now:
                    continue
                known = 0 if row is None else row["size"]
                jobs.append(self._submit(db, pid, witness, note, size, min(known, size)))
            if isinstance(db, asyncpg.Pool):
                await asyncio.gather(*jobs)
            else:  # one connection runs one query at a time
                for job in jobs:
                    await job
        except Exception:  # the log goes on without cosignatures
            logger.exception("cosigning the checkpoint of log %s failed", pid)
        return True

    async def _submit(
        self, db: Database, pid: UUID, witness: PolicyWitness, note: str, size: int, old: int
    ) -> None:
        assert witness.url is not None
        key = witness.cosigner.vkey
        try:
            for _attempt in range(2):
                proof = await self.log.consistency_proof(db, pid, old, size) if old else None
                body = format_add_checkpoint(old, proof.hashes if proof else [], note)
                answer = await asyncio.to_thread(_post, witness.url, body, self.timeout)
                if answer.status == 409 and answer.content_type.startswith("text/x.tlog.size"):
                    known = parse_size_body(answer.body)
                    if known <= size and known != old:
                        old = known  # it knows another size of ours: prove from there
                        continue
                break
        except (OSError, ValueError) as exc:
            self._down_until[key] = time.monotonic() + BACKOFF
            logger.warning("witness %s (%s) unreachable: %s", witness.name, witness.url, exc)
            return
        if answer.status != 200:  # a prompt refusal: no need to back off
            logger.warning(
                "witness %s refused the checkpoint of size %d: %d %s",
                witness.name, size, answer.status, answer.body[:200].decode("utf-8", "replace"),
            )  # fmt: skip
            return
        text = parse_note(note)[0]
        try:
            lines = parse_cosignature_lines(answer.body)
        except NoteError as exc:
            logger.warning("witness %s answered malformed lines: %s", witness.name, exc)
            return
        good = [line for line in lines if witness.cosigner.verify(text, line) is not None]
        if not good:
            logger.warning("witness %s answered no valid cosignature", witness.name)
            return
        self._down_until.pop(key, None)
        await db.execute(INSERT_COSIGNATURE, pid, size, key, good[0].line())

    async def background(self, db: Database) -> None:
        """One background round: retry every log whose latest checkpoint misses someone."""
        for row in await db.fetch(SELECT_POLICY_LOGS):
            await self.cosign(db, row["primary_id"], background=True)

    async def status(self, db: Database, pid: UUID) -> dict[str, Any]:
        """What the observers' page and `log/witnesses` show."""
        policy = await self.policy(db, pid)
        if policy is None:
            return {"policy": None, "witnesses": [], "quorum": "none", "latest": None}
        rows = {r["witness"]: r for r in await db.fetch(SELECT_COSIGNED, pid, -1)}
        names = {w.cosigner.vkey: name for name, w in policy.witnesses.items()}
        latest_quorum = None
        checkpoints = await db.fetch(SELECT_LATEST_QUORUM_SIZES, pid, 50)
        for row in checkpoints:
            cosigners = {names[v] for v in row["witnesses"] if v in names}
            if policy.witnessed(cosigners):
                latest_quorum = row["size"]
                break
        latest = checkpoints[0]["size"] if checkpoints else 0
        quorum_note = None  # the newest checkpoint that has the quorum, as published
        if latest_quorum is not None:
            quorum_note = await db.fetchval(SELECT_COSIGNED_NOTE_AT, pid, latest_quorum)
        return {
            "policy": policy.text,
            "quorum": policy.quorum,
            "latest": latest,
            "quorum_met": latest_quorum == latest,
            "latest_with_quorum": latest_quorum,
            "latest_with_quorum_checkpoint": quorum_note,
            "witnesses": [
                {
                    "name": name,
                    "vkey": witness.cosigner.vkey,
                    "url": witness.url,
                    "cosigned_size": rows[witness.cosigner.vkey]["size"]
                    if witness.cosigner.vkey in rows
                    else None,
                }
                for name, witness in policy.witnesses.items()
            ],
        }
