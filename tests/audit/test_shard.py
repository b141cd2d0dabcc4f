"""Sharing an audit: --shard i/n slices and combining partial results (audit/shard.py)."""

from __future__ import annotations

import pytest

from audit import group
from audit.shard import (
    Part,
    PartError,
    RoundProofs,
    combine,
    load_part,
    parse_shard,
    shard_of,
    write_part,
)

ORIGIN = "scrutin.localhost/primaries/demo"
ROOT = "PDQB4khhohu9eo7qfT3rndv1BzUoSMK8FFJrAyZtfe0="


def enc(m: int, r: int) -> tuple[bytes, bytes]:
    return group.base(group.s(r)), group.add(group.base(group.s(m)), group.base(group.s(r * 7)))


def part(i: int, n: int, *, size: int = 10, root: str = ROOT, m: int = 1) -> Part:
    rp = RoundProofs(1, 2, checked=3, counted=2, lost=1, present=[2],
                     sums=[enc(m, i), enc(0, i + 1)],
                     invalid=[(100 + i, "proof", "cell 0")])  # fmt: skip
    return Part(ORIGIN, size, root, (i, n), {1: rp}, source=f"part{i}")


def test_parse_shard_accepts_i_of_n_and_refuses_the_rest() -> None:
    assert parse_shard("2/5") == (2, 5)
    for bad in ("0/2", "3/2", "2", "a/b", "1/0", "01/2", "1/5000", "-1/2"):
        with pytest.raises(PartError):
            parse_shard(bad)


def test_slices_cover_every_credential_once() -> None:
    keys = [f"key{i}" for i in range(400)]
    slices = [shard_of(k, 4) for k in keys]
    assert set(slices) == {1, 2, 3, 4}
    assert all(shard_of(k, 1) == 1 for k in keys)


def test_parts_add_up_and_survive_a_file(tmp_path) -> None:
    paths = []
    for i in (1, 2, 3):
        path = str(tmp_path / f"p{i}.json")
        write_part(path, part(i, 3))
        paths.append(path)
    loaded = [load_part(p) for p in paths]
    total = combine(loaded, ORIGIN, 10, ROOT)[1]
    assert total.checked == 9 and total.counted == 6 and total.lost == 3
    assert total.present == [6]
    assert [i for i, _, _ in total.invalid] == [101, 102, 103]
    # sums of encryptions of 1 under the same key: their β − 7α is 3·G
    alpha, beta = total.sums[0]
    assert group.sub(beta, group.mul(group.s(7), alpha)) == group.base(group.s(3))


@pytest.mark.parametrize(
    "parts, reason",
    [
        ([part(1, 2), part(1, 2)], "given twice"),
        ([part(1, 2)], "missing"),
        ([part(1, 2), part(2, 3)], "different numbers"),
        ([part(1, 2), part(2, 2, size=11)], "not the log being verified"),
        ([part(1, 2), part(2, 2, root="A" * 43 + "=")], "not the log being verified"),
        ([], "no part"),
    ],
)
def test_combine_refuses_parts_that_do_not_make_one_log(parts, reason) -> None:
    with pytest.raises(PartError, match=reason):
        combine(parts, ORIGIN, 10, ROOT)


def test_a_file_that_is_no_part_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"format": "something else"}')
    with pytest.raises(PartError, match="not a scrutin-audit-part/v1"):
        load_part(str(path))
    path.write_text("not json")
    with pytest.raises(PartError, match="not a JSON part"):
        load_part(str(path))
    with pytest.raises(PartError):
        load_part(str(tmp_path / "absent.json"))
