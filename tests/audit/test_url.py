"""Verifying a primary by its URL (log/checkpoint, log/export or tiles over HTTP)."""

from __future__ import annotations

import functools
import http.server
import json
import os
import pathlib
import threading
from collections.abc import Iterator

import pytest

from audit.cli import main
from audit.sources import log_base
from tests.audit.builder import honest_primary, write_tiles


@pytest.fixture
def served(tmp_path: pathlib.Path) -> Iterator[tuple[str, pathlib.Path, str]]:
    s = honest_primary()
    doc = s.builder.export()
    log_dir = tmp_path / "primaries" / "demo" / "log"
    write_tiles(str(log_dir), doc)
    (log_dir / "export").write_text(json.dumps(doc))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/primaries/demo", log_dir, s.builder.vkey
    finally:
        server.shutdown()


def test_url_with_export_then_tiles(
    served: tuple[str, pathlib.Path, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: pathlib.Path,
) -> None:
    url, log_dir, vkey = served
    state = str(tmp_path / "state")
    assert main(["verify", url, "--log-key", vkey, "--json", "--state", state]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["summary"]["source"] == "url"
    os.remove(log_dir / "export")  # now only the tiles remain
    assert main(["verify", url, "--log-key", vkey, "--json", "--state", state]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["summary"]["entries"] == doc["summary"]["tree_size"]


def test_url_not_a_primary(
    served: tuple[str, pathlib.Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _, vkey = served
    assert main(["verify", url + "-nope", "--log-key", vkey]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", ["/log/", "/log", "/log/checkpoint", "/checkpoint", "/"])
def test_the_logs_own_addresses_are_accepted(
    served: tuple[str, pathlib.Path, str], capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    # C2SP tools and people copying a checkpoint link give the log's prefix or its checkpoint.
    url, log_dir, vkey = served
    (log_dir.parent / "checkpoint").write_bytes((log_dir / "checkpoint").read_bytes())
    assert main(["verify", url + suffix, "--log-key", vkey, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["summary"]["source"] == "url"
    assert doc["summary"]["entries"] == doc["summary"]["tree_size"] > 0


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("https://h.example/primaries/log", "https://h.example/primaries/log/log/"),
        ("https://h.example/primaries/log/log/", "https://h.example/primaries/log/log/"),
        ("https://h.example/primaries/log/checkpoint", "https://h.example/primaries/log/log/"),
        ("https://h.example/primaries/checkpoint", "https://h.example/primaries/checkpoint/log/"),
        (
            "https://h.example/p/primaries/demo/log/checkpoint?x=1",
            "https://h.example/p/primaries/demo/log/",
        ),
    ],
)
def test_slugs_named_like_the_log_paths_are_still_slugs(url: str, base: str) -> None:
    assert log_base(url) == base
