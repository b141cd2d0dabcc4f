"""C2SP tlog-proof files (https://c2sp.org/tlog-proof), laid out line by line."""

from __future__ import annotations

import pytest

from crypto.tlog_proof import format_proof

CHECKPOINT = (
    "example.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\n"
    "— example.com/fancylog hI2DJwAAAAA=\n"
)


def test_layout_follows_the_spec() -> None:
    text = format_proof(73894, [b"\x01" * 32, b"\x02" * 32], CHECKPOINT, extra=b"entry bytes")
    assert text == (
        "c2sp.org/tlog-proof@v1\n"
        "extra ZW50cnkgYnl0ZXM=\n"
        "index 73894\n"
        "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n"
        "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\n"
        "\n" + CHECKPOINT
    )


def test_no_extra_and_an_empty_proof() -> None:
    # The only entry of a tree of size 1: its proof has no hash.
    assert format_proof(0, [], CHECKPOINT) == "c2sp.org/tlog-proof@v1\nindex 0\n\n" + CHECKPOINT


@pytest.mark.parametrize(
    ("index", "checkpoint"), [(-1, CHECKPOINT), (True, CHECKPOINT), (1, CHECKPOINT.rstrip("\n"))]
)
def test_refuses_what_would_not_parse(index: int, checkpoint: str) -> None:
    with pytest.raises(ValueError):
        format_proof(index, [], checkpoint)
