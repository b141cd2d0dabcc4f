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


# -- the whole audit, shared between processes (scrutin-audit verify --shard, combine) -------
def _encrypted_log(tmp_path, *, forged_sum: bool = False) -> tuple[str, str]:
    import base64 as _b64

    from crypto import elgamal
    from tests.audit.builder import b64, write_json
    from tests.audit.encrypted_builder import EncryptedPrimary

    p = EncryptedPrimary(voters=9)
    p.ceremony()
    p.open()
    for voter in range(1, 10):
        p.cast(voter, None if voter == 5 else {"A": voter % 7, "B": 6 - voter % 7, "C": 3})
    p.cast(2, {"A": 0, "B": 0, "C": 0})  # a revote
    p.close()
    sums = p.honest_sums()
    if forged_sum:
        one, _ = elgamal.encrypt_fresh(1, p.public_key)
        cell = elgamal.Ciphertext.from_bytes(_b64.b64decode(sums["sums"][p.ids["B"]][4])) + one
        sums["sums"][p.ids["B"]][4] = b64(cell.to_bytes())
    p.publish_sums(sums)
    p.publish_decryptions(sums)
    profiles, valid, blank = p.honest_profiles()
    p.publish_result(p.result_body(profiles, valid, blank))
    key = tmp_path / "log.vkey"
    key.write_text(p.b.vkey)
    return write_json(str(tmp_path / "export.json"), p.export()), str(key)


def _json(capsys, argv: list[str]) -> tuple[int, dict]:
    import json

    from audit.cli import main

    code = main([*argv, "--json", "--lang", "en"])
    out, err = capsys.readouterr()
    assert not err or "Traceback" not in err
    return code, json.loads(out) if out.strip() else {}


def _verdict(doc: dict) -> tuple:
    return (
        doc["ok"],
        [(c["number"], c["ok"], [f["code"] for f in c["failures"]]) for c in doc["checks"]],
        doc["summary"]["rounds"],
    )


@pytest.mark.parametrize("forged_sum", [False, True])
def test_a_sharded_audit_combines_to_the_one_process_audit(tmp_path, capsys, forged_sum) -> None:
    export, key = _encrypted_log(tmp_path, forged_sum=forged_sum)
    whole_code, whole = _json(capsys, ["verify", export, "--log-key", key, "--workers", "2"])
    assert whole_code == (1 if forged_sum else 0)
    parts = []
    for i in (1, 2, 3):
        part = str(tmp_path / f"part{i}.json")
        code, doc = _json(
            capsys, ["verify", export, "--log-key", key, "--shard", f"{i}/3", "--part", part]
        )
        assert doc["summary"]["part"] == part
        parts.append(part)
    loaded = [load_part(p) for p in parts]
    assert sum(p.rounds[1].checked for p in loaded) == 10  # every ballot, once
    code, combined = _json(capsys, ["combine", *parts, "--log", export, "--log-key", key])
    assert code == whole_code
    assert _verdict(combined) == _verdict(whole)


def test_combine_refuses_a_missing_slice_and_another_log(tmp_path, capsys) -> None:
    from audit.cli import main

    export, key = _encrypted_log(tmp_path)
    for i in (1, 2):
        main(["verify", export, "--log-key", key, "--shard", f"{i}/2", "--part",
              str(tmp_path / f"p{i}.json")])  # fmt: skip
    capsys.readouterr()
    assert main(["combine", str(tmp_path / "p1.json"), "--log", export, "--log-key", key]) == 2
    assert "slice(s) 2/2 missing" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    export2, key2 = _encrypted_log(other)
    parts = [str(tmp_path / "p1.json"), str(tmp_path / "p2.json")]
    assert main(["combine", *parts, "--log", export2, "--log-key", key2]) == 2
    err = capsys.readouterr().err
    assert "not the log being verified" in err and "Traceback" not in err
    assert main(["verify", export, "--log-key", key, "--shard", "3/2", "--part", "x"]) == 2
    assert main(["verify", export, "--log-key", key, "--shard", "1/2"]) == 2
