"""`scrutin-witness` as a real server on loopback: the status codes C2SP tlog-witness fixes,
against litetlog's test requests and against forks and rollbacks of a log we sign here."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import nacl.signing
import pytest

from crypto import merkle, note
from crypto.cosignature import format_add_checkpoint, parse_cosignature_lines
from crypto.encoding import b64decode
from tests.fixtures import witness_vectors as v
from tests.fixtures.witnesses import WitnessServer, http
from web.witness import main as witness_main

ORIGIN = "scrutin.localhost/primaries/witnessed"
LOG_KEY = nacl.signing.SigningKey(hashlib.sha256(b"witness test log").digest())
LOG_VKEY = note.format_verifier_key(ORIGIN, LOG_KEY.verify_key)
SIGSUM_VKEY = note.format_verifier_key(v.SIGSUM_ORIGIN, bytes.fromhex(v.SIGSUM_LOG_PUBLIC_KEY))


@pytest.fixture(scope="module")
def witness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WitnessServer]:
    server = WitnessServer(
        tmp_path_factory.mktemp("witness"), "witness.test/w1", [LOG_VKEY, SIGSUM_VKEY]
    )
    server.start()
    yield server
    server.stop()


def leaves(n: int, fork: int | None = None) -> list[bytes]:
    return [
        merkle.leaf_hash(f"entry {i}{' forked' if fork is not None and i >= fork else ''}".encode())
        for i in range(n)
    ]


def signed(size: int, hashes: list[bytes], key: nacl.signing.SigningKey = LOG_KEY) -> str:
    return note.sign_checkpoint(note.Checkpoint(ORIGIN, size, merkle.root_at(size, hashes)), key)


def submit(
    witness: WitnessServer, old: int, size: int, hashes: list[bytes], **kw
) -> tuple[int, str, bytes]:
    proof = merkle.consistency_proof(old, size, hashes) if 0 < old else []
    return witness.add_checkpoint(format_add_checkpoint(old, proof, signed(size, hashes, **kw)))


def verify_line(witness: WitnessServer, checkpoint_note: str, body: bytes) -> int | None:
    (line,) = parse_cosignature_lines(body)
    return witness.key.cosigner.verify(note.parse_note(checkpoint_note)[0], line)


def test_litetlog_requests(witness: WitnessServer) -> None:
    """The requests of litetlog's litewitness test, with the statuses tlog-witness fixes."""
    proof = [b64decode(h) for h in v.SIGSUM_PROOF_1_3]
    broken = [b64decode(h) for h in v.SIGSUM_PROOF_1_3_BROKEN]
    status, _, body = witness.add_checkpoint(format_add_checkpoint(0, [], v.SIGSUM_SIZE_1))
    assert status == 200
    assert verify_line(witness, v.SIGSUM_SIZE_1, body)
    # A tampered log signature.
    request = format_add_checkpoint(1, proof, v.SIGSUM_SIZE_3_BAD_SIGNATURE)
    assert witness.add_checkpoint(request)[0] == 403
    # An origin the witness does not know: 404 (litetlog, written before v1.0.0, says 403).
    assert (
        witness.add_checkpoint(format_add_checkpoint(1, proof, v.UNKNOWN_ORIGIN_SIZE_3))[0] == 404
    )
    # A missing, then a wrong consistency proof.
    assert witness.add_checkpoint(format_add_checkpoint(1, [], v.SIGSUM_SIZE_3))[0] == 422
    assert witness.add_checkpoint(format_add_checkpoint(1, broken, v.SIGSUM_SIZE_3))[0] == 422
    status, _, body = witness.add_checkpoint(format_add_checkpoint(1, proof, v.SIGSUM_SIZE_3))
    assert status == 200
    assert verify_line(witness, v.SIGSUM_SIZE_3, body)
    # The monitoring API serves what it cosigned, log signature and cosignature together.
    origin_hash = hashlib.sha256(v.SIGSUM_ORIGIN.encode()).hexdigest()
    status, _, latest = http("GET", f"{witness.url}/{origin_hash}/checkpoint")
    assert status == 200
    assert latest.decode() == v.SIGSUM_SIZE_3 + body.decode()


def test_a_log_growing_then_forking_then_rolling_back(witness: WitnessServer) -> None:
    hashes = leaves(20)
    assert submit(witness, 0, 0, hashes)[0] == 200  # the empty tree
    assert submit(witness, 0, 5, hashes)[0] == 200
    status, _, body = submit(witness, 5, 12, hashes)
    assert status == 200
    assert verify_line(witness, signed(12, hashes), body)
    # Resubmitting the same checkpoint is fine (a client retrying).
    assert submit(witness, 12, 12, hashes)[0] == 200

    # A fork: another tree sharing the first 10 entries, signed by the log's own key.
    forked = leaves(20, fork=10)
    proof = merkle.consistency_proof(12, 15, forked)
    status, _, text = witness.add_checkpoint(format_add_checkpoint(12, proof, signed(15, forked)))
    assert status == 422
    assert b"consistency" in text
    # The same size with another root: a fork too (422 since tlog-witness clarified it).
    assert submit(witness, 12, 12, forked)[0] == 422

    # A rollback: the witness answers 409 with the size it knows, as text/x.tlog.size.
    status, content_type, body = submit(witness, 5, 8, hashes)
    assert (status, content_type, body) == (409, "text/x.tlog.size", b"12\n")
    # A client that does not know where the witness is asks with old 0.
    status, _, body = submit(witness, 0, 14, hashes)
    assert (status, body) == (409, b"12\n")
    # Old size above the checkpoint's: a bad request.
    assert witness.add_checkpoint(format_add_checkpoint(13, [], signed(12, hashes)))[0] == 400

    # The log moves on normally after the refusals.
    assert submit(witness, 12, 20, hashes)[0] == 200


def test_unknown_key_and_malformed_requests(witness: WitnessServer) -> None:
    hashes = leaves(3)
    other_key = nacl.signing.SigningKey(bytes(32))
    # Right origin, a key the witness does not trust for it.
    assert submit(witness, 0, 3, hashes, key=other_key)[0] == 403
    # A trusted key's line whose signature fails.
    good = signed(3, hashes)
    tampered = good.replace("\n3\n", "\n4\n", 1)
    assert witness.add_checkpoint(format_add_checkpoint(0, [], tampered))[0] == 403
    for body in [b"", b"old 0\n", b"old x\n\n" + good.encode(), b"old 0\n\nnot a note\n"]:
        status = witness.add_checkpoint(body)[0]
        assert status in (400, 404), body
    assert witness.add_checkpoint(b"old 00\n\n" + good.encode())[0] == 400
    assert http("GET", witness.url + "/add-checkpoint")[0] == 405
    assert http("GET", witness.url + "/" + "0" * 64 + "/checkpoint")[0] == 404


def test_check_and_update_is_atomic(tmp_path: Path) -> None:
    """Many clients race from the same old size: exactly one wins, the others get 409."""
    server = WitnessServer(tmp_path, "witness.test/race", [LOG_VKEY]).start()
    try:
        hashes = leaves(40)
        # A size-0 checkpoint must carry the empty tree's root.
        zero = note.sign_checkpoint(note.Checkpoint(ORIGIN, 0, bytes(32)), LOG_KEY)
        assert server.add_checkpoint(format_add_checkpoint(0, [], zero))[0] == 422
        # A proof from size 0 must be empty.
        proof = [merkle.leaf_hash(b"x")]
        assert server.add_checkpoint(format_add_checkpoint(0, proof, signed(4, hashes)))[0] == 422
        assert submit(server, 0, 4, hashes)[0] == 200
        results: list[int] = []

        def race(size: int) -> None:
            results.append(submit(server, 4, size, hashes)[0])

        threads = [threading.Thread(target=race, args=(size,)) for size in range(10, 40, 3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [200] + [409] * (len(threads) - 1)
        # Its state survives a restart.
        server.stop()
        server.start()
        assert submit(server, 4, 39, hashes)[0] == 409
    finally:
        server.stop()


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key_file = tmp_path / "w.key"
    assert witness_main(["init", "--name", "news.example/w", "--key", str(key_file)]) == 0
    vkey = capsys.readouterr().out.strip()
    assert vkey.startswith("news.example/w+")
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert witness_main(["vkey", "--key", str(key_file)]) == 0
    assert capsys.readouterr().out.strip() == vkey
    assert witness_main(["init", "--name", "x", "--key", str(key_file)]) == 2
    assert "already exists" in capsys.readouterr().err
    (tmp_path / "logs.txt").write_text("log not-a-key\n")
    code = witness_main(
        [
            "serve",
            "--key",
            str(key_file),
            "--logs",
            str(tmp_path / "logs.txt"),
            "--state",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert "line 1" in capsys.readouterr().err
