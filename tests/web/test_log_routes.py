"""Publication routes under /primaries/<slug>/log/ (docs/audit-log.md §7), through the app."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
from typing import Any

import asyncpg
import pytest
from starlette.testclient import TestClient

from crypto import merkle, tiles
from crypto.encoding import b64decode
from crypto.entries import open_entry
from crypto.keys import LogKey
from crypto.merkle import ConsistencyProof, InclusionProof, leaf_hash
from crypto.note import Checkpoint, open_checkpoint, parse_verifier_key, sign_checkpoint
from tests.conftest import REPO_ROOT
from tests.fixtures.log import LogPrimary, make_log_primary
from tests.fixtures.waiting import wait_until
from voting.log import LogService

BASE = "/primaries/demo-log/log"


async def _setup(database_url: str, service: LogService, count: int, publish: bool) -> LogPrimary:
    conn = await asyncpg.connect(database_url)
    try:
        primary = await make_log_primary(conn, service, "demo-log")
        await _append(conn, service, primary, count)
        if publish:
            await service.publish_checkpoint(conn, primary.id)
        return primary
    finally:
        await conn.close()


async def _append(
    conn: asyncpg.Connection, service: LogService, primary: LogPrimary, n: int
) -> None:
    async with conn.transaction():
        for i in range(n):
            await service.append(conn, primary.id, "support", {"candidate": "c", "n": i})


def setup_log(app: Any, database_url: str, count: int, *, publish: bool = True) -> LogPrimary:
    return asyncio.run(_setup(database_url, app.state.log, count, publish))


def checkpoint_of(client: TestClient, primary: LogPrimary) -> Checkpoint:
    response = client.get(f"{BASE}/checkpoint")
    assert response.status_code == 200
    return open_checkpoint(response.text, primary.vkey)


def test_checkpoint_and_vkey_are_served_and_verify(
    client: TestClient, app: Any, database_url: str
) -> None:
    primary = setup_log(app, database_url, 5)
    response = client.get(f"{BASE}/checkpoint")
    assert response.headers["content-type"].startswith("text/plain")
    assert "max-age" in response.headers["cache-control"]
    vkey = client.get(f"{BASE}/vkey").text
    assert vkey == primary.vkey
    checkpoint = open_checkpoint(response.text, parse_verifier_key(vkey))
    assert (checkpoint.origin, checkpoint.size) == ("scrutin.localhost/primaries/demo-log", 5)


def test_checkpoint_verifies_with_the_standalone_example_script(
    client: TestClient, app: Any, database_url: str, tmp_path: Any
) -> None:
    setup_log(app, database_url, 3)
    note = tmp_path / "checkpoint"
    note.write_bytes(client.get(f"{BASE}/checkpoint").content)
    vkey = client.get(f"{BASE}/vkey").text
    script = REPO_ROOT / "docs" / "examples" / "verify_checkpoint.py"
    assert len(script.read_text().splitlines()) <= 20
    # -I: isolated, so the script cannot import the project's packages even by accident.
    result = subprocess.run(
        [sys.executable, "-I", str(script), str(note), vkey],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK scrutin.localhost/primaries/demo-log size=3 root=")
    # A forged checkpoint (size changed) is refused.
    forged = note.read_text().replace("\n3\n", "\n4\n", 1)
    note.write_text(forged)
    result = subprocess.run(
        [sys.executable, "-I", str(script), str(note), vkey],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode != 0


def test_example_script_handles_keys_whose_base64_contains_plus(tmp_path: Any) -> None:
    key = LogKey.generate("scrutin.localhost/primaries/plus")
    while "+" not in key.vkey.split("+", 2)[2]:
        key = LogKey.generate("scrutin.localhost/primaries/plus")
    note = tmp_path / "checkpoint"
    checkpoint = Checkpoint(key.origin, 1, leaf_hash(b"x"))
    note.write_text(sign_checkpoint(checkpoint, key.signing_key))
    script = REPO_ROOT / "docs" / "examples" / "verify_checkpoint.py"
    result = subprocess.run(
        [sys.executable, "-I", str(script), str(note), key.vkey],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_tiles_reassemble_to_the_checkpoint_root(
    client: TestClient, app: Any, database_url: str
) -> None:
    primary = setup_log(app, database_url, 600)
    checkpoint = checkpoint_of(client, primary)
    size = checkpoint.size
    assert size == 600

    fetched: dict[tuple[int, int], bytes] = {}
    for level in range(3):
        per_tile = tiles.TILE_WIDTH ** (level + 1)
        for index in range((size + per_tile - 1) // per_tile):
            width = tiles.tile_width(level, index, size)
            if width == 0:
                continue
            response = client.get(f"{BASE}/{tiles.tile_path(level, index, width)}")
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "application/octet-stream"
            # Partial tiles too: a tile path never changes (C2SP tlog-tiles).
            assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert len(response.content) == width * 32
            fetched[(level, index)] = response.content
    assert set(fetched) == {(0, 0), (0, 1), (0, 2), (1, 0)}  # 256 + 256 + 88; level-1 width 2
    source = tiles.subtree_hash_from_tiles(lambda lv, ix: fetched[(lv, ix)])
    assert merkle.root_at(size, source) == checkpoint.root_hash

    # Entry bundles decode to the stored entries, whose hashes are the level-0 tiles.
    entries: list[bytes] = []
    for index in range(3):
        width = tiles.tile_width(0, index, size)
        response = client.get(f"{BASE}/{tiles.entries_path(index, width)}")
        assert response.status_code == 200
        entries.extend(tiles.decode_bundle(response.content, width))
    assert b"".join(leaf_hash(e) for e in entries) == b"".join(fetched[(0, i)] for i in range(3))
    verify_key = parse_verifier_key(primary.vkey).verify_key
    for e in entries:
        open_entry(e, verify_key, origin=primary.origin)

    # A narrower partial of a full tile is its prefix; a wider one than exists is 404.
    narrow = client.get(f"{BASE}/tile/0/000.p/5")
    assert narrow.status_code == 200 and narrow.content == fetched[(0, 0)][: 5 * 32]
    for path in ("tile/0/002", "tile/0/002.p/89", "tile/0/003.p/1", "tile/1/000", "tile/3/000.p/1"):
        response = client.get(f"{BASE}/{path}")
        assert response.status_code == 404, path
        assert "beyond the tree" in response.json()["error"]["message"]
    response = client.get(f"{BASE}/tile/entries/002")
    assert response.status_code == 404


def test_proof_routes_verify(client: TestClient, app: Any, database_url: str) -> None:
    primary = setup_log(app, database_url, 300)
    old = checkpoint_of(client, primary)
    asyncio.run(_more(database_url, app.state.log, primary, 45))
    new = checkpoint_of(client, primary)
    assert (old.size, new.size) == (300, 345)

    for index in (0, 255, 256, 299):
        response = client.get(f"{BASE}/proof/inclusion", params={"index": index, "size": 300})
        assert response.status_code == 200
        proof = InclusionProof.from_json(response.json())
        proof.verify(old.root_hash)
    # Without size: the latest checkpoint.
    proof = InclusionProof.from_json(client.get(f"{BASE}/proof/inclusion?index=344").json())
    assert proof.size == 345
    proof.verify(new.root_hash)

    response = client.get(f"{BASE}/proof/consistency", params={"old": 300, "new": 345})
    ConsistencyProof.from_json(response.json()).verify(old.root_hash, new.root_hash)
    latest = ConsistencyProof.from_json(client.get(f"{BASE}/proof/consistency?old=300").json())
    assert latest.new == 345
    latest.verify(old.root_hash, new.root_hash)


async def _more(database_url: str, service: LogService, primary: LogPrimary, n: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await _append(conn, service, primary, n)
        await service.publish_checkpoint(conn, primary.id)
    finally:
        await conn.close()


def test_entry_routes(client: TestClient, app: Any, database_url: str) -> None:
    primary = setup_log(app, database_url, 30)
    page = client.get(f"{BASE}/entries", params={"start": 10, "end": 100}).json()
    assert (page["start"], page["end"], page["tree_size"]) == (10, 30, 30)
    assert [e["index"] for e in page["entries"]] == list(range(10, 30))
    first = page["entries"][0]
    raw = b64decode(first["entry"])
    assert first["leaf_hash"] == leaf_hash(raw).hex()
    assert first["envelope"]["body"] == {"candidate": "c", "n": 10}
    assert first["envelope"]["origin"] == primary.origin

    assert client.get(f"{BASE}/entries").json()["end"] == 30
    assert client.get(f"{BASE}/entries?start=40").json()["entries"] == []
    assert client.get(f"{BASE}/entry/10").json() == first
    by_hash = client.get(f"{BASE}/entry/by-hash/{first['leaf_hash'].upper()}")
    assert by_hash.json() == first


def test_export_is_a_download_with_everything(
    client: TestClient, app: Any, database_url: str
) -> None:
    primary = setup_log(app, database_url, 20, publish=False)
    response = client.get(f"{BASE}/export")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert 'attachment; filename="demo-log-log.json"' == response.headers["content-disposition"]
    export = response.json()
    assert export["format"] == "scrutin-export/v1"
    assert (export["origin"], export["primary"], export["vkey"]) == (
        primary.origin,
        str(primary.id),
        primary.vkey,
    )
    entries = [b64decode(e) for e in export["entries"]]
    assert len(entries) == 20
    sizes = [open_checkpoint(n, primary.vkey).size for n in export["checkpoints"]]
    assert sizes[0] == 0 and sizes[-1] == 20 and sizes == sorted(sizes)
    last = open_checkpoint(export["checkpoints"][-1], primary.vkey)
    assert merkle.root([leaf_hash(e) for e in entries]) == last.root_hash


def test_export_is_streamed_byte_for_byte_as_the_in_memory_document(
    client: TestClient, app: Any, database_url: str
) -> None:
    primary = setup_log(app, database_url, 23, publish=False)
    streamed = client.get(f"{BASE}/export").content

    async def pieces(chunk_size: int) -> tuple[bytes, bytes]:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        try:
            document = await app.state.log.export(pool, primary.id)
            parts = await app.state.log.export_json(pool, primary.id, chunk_size=chunk_size)
            joined = b"".join([part async for part in parts])
        finally:
            await pool.close()
        expected = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        return expected.encode(), joined

    for chunk_size in (1, 5, 23, 5000):
        expected, joined = asyncio.run(pieces(chunk_size))
        assert joined == expected == streamed
    assert "—".encode() in streamed  # the notes' signature lines, unescaped
    head = client.head(f"{BASE}/export")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-disposition"] == 'attachment; filename="demo-log-log.json"'
    assert client.get("/primaries/nobody/log/export").status_code == 404


def test_export_of_an_empty_log(client: TestClient, app: Any, database_url: str) -> None:
    primary = setup_log(app, database_url, 0, publish=False)
    export = client.get(f"{BASE}/export").json()
    assert export["entries"] == []
    assert [open_checkpoint(n, primary.vkey).size for n in export["checkpoints"]] == [0]


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        ("/primaries/nobody/log/checkpoint", 404, "no primary with slug 'nobody'"),
        ("/primaries/BAD_SLUG/log/vkey", 404, "no primary"),
        (f"{BASE}/entries?start=abc", 400, "start must be a non-negative integer"),
        (f"{BASE}/entries?start=-1", 400, "start must be a non-negative integer"),
        (f"{BASE}/entries?start=5&end=2", 400, "must not be before start"),
        (f"{BASE}/entries?start=0&end=5000", 400, "at most 1000"),
        (f"{BASE}/entries?start=99999999999999999999", 400, "non-negative integer"),
        (f"{BASE}/entry/abc", 400, "index must be a non-negative integer"),
        (f"{BASE}/entry/12", 404, "no entry at index 12"),
        (f"{BASE}/entry/by-hash/xyz", 400, "64 hexadecimal digits"),
        (f"{BASE}/entry/by-hash/{'ab' * 32}", 404, "no entry with leaf hash"),
        (f"{BASE}/proof/inclusion", 400, "index is required"),
        (f"{BASE}/proof/inclusion?index=1.5", 400, "index must be"),
        (f"{BASE}/proof/inclusion?index=3&size=3", 400, "not in the tree of size 3"),
        (f"{BASE}/proof/inclusion?index=0&size=9", 400, "beyond the latest checkpoint"),
        (f"{BASE}/proof/consistency?old=3&new=2", 400, "larger than new size"),
        (f"{BASE}/proof/consistency?old=1&new=7", 400, "beyond the latest checkpoint"),
        (f"{BASE}/proof/consistency", 400, "old is required"),
        (f"{BASE}/tile/0/1", 400, "not a tile path"),
        (f"{BASE}/tile/0/000.p/256", 400, "partial tile width"),
        (f"{BASE}/tile/0/x000/001", 400, "leading zero"),
        (f"{BASE}/tile/entries/000.p/4", 404, "beyond the tree"),
    ],
)
def test_bad_input_gets_a_json_4xx(
    client: TestClient, app: Any, database_url: str, path: str, status: int, fragment: str
) -> None:
    setup_log(app, database_url, 3)
    response = client.get(path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert fragment in error["message"]
    # Every error names what was wrong, for scripts (docs/audit-log.md §7).
    assert error["field"] in {"slug", "start", "end", "index", "size", "old", "new", "hash", "path"}


def test_background_service_checkpoints_new_entries(
    client: TestClient, app: Any, database_url: str
) -> None:
    primary = setup_log(app, database_url, 0, publish=False)
    assert checkpoint_of(client, primary).size == 0

    async def append_without_waiting() -> None:
        # As if the caller crashed after committing: nobody calls wait().
        conn = await asyncpg.connect(database_url)
        try:
            await _append(conn, app.state.log, primary, 7)
        finally:
            await conn.close()

    asyncio.run(append_without_waiting())
    wait_until(lambda: checkpoint_of(client, primary).size >= 7, "a checkpoint of the entries")
    assert checkpoint_of(client, primary).size == 7


def test_entry_bundles_are_gzipped_only_for_clients_that_ask(
    client: TestClient, app: Any, database_url: str
) -> None:
    primary = setup_log(app, database_url, 40)
    path = f"{BASE}/{tiles.entries_path(0, 40)}"
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    entries = tiles.decode_bundle(plain.content, 40)
    verify_key = parse_verifier_key(primary.vkey).verify_key
    assert [open_entry(e, verify_key).body["n"] for e in entries] == list(range(40))
    for accept in ("gzip", "br;q=1.0, gzip;q=0.5", "*"):
        # Read the raw bytes: the test client would decompress them silently.
        with client.stream("GET", path, headers={"Accept-Encoding": accept}) as response:
            raw = b"".join(response.iter_raw())
        assert response.headers["content-encoding"] == "gzip", accept
        assert len(raw) < len(plain.content)
        assert gzip.decompress(raw) == plain.content
    for refused in ("gzip;q=0", "deflate", "*;q=0"):
        response = client.get(path, headers={"Accept-Encoding": refused})
        assert "content-encoding" not in response.headers, refused
        assert response.content == plain.content
    # Hash tiles are random bytes: never compressed.
    tile = client.get(f"{BASE}/tile/0/000.p/40", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in tile.headers and len(tile.content) == 40 * 32


def test_the_origin_is_also_the_tlog_tiles_prefix(
    client: TestClient, app: Any, database_url: str
) -> None:
    """A generic C2SP client derives the log's URL prefix from its origin
    (<host>/primaries/<slug>): the checkpoint and the tiles are served there too."""
    primary = setup_log(app, database_url, 300)
    assert primary.origin.endswith("/primaries/demo-log")
    prefix = "/primaries/demo-log"
    assert client.get(f"{prefix}/checkpoint").text == client.get(f"{BASE}/checkpoint").text
    for path in ("tile/0/000", "tile/0/001.p/44", "tile/1/000.p/1", "tile/entries/001.p/44"):
        mirrored = client.get(f"{prefix}/{path}")
        assert mirrored.status_code == 200, path
        assert mirrored.content == client.get(f"{BASE}/{path}").content
        assert mirrored.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get(f"{prefix}/tile/0/002").status_code == 404
    assert client.get(f"{prefix}/tile/0/1").json()["error"]["field"] == "path"
