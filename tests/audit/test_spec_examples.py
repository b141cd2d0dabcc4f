"""Every worked example of docs/audit-log.md (and the formula examples of
docs/majority-judgment.md) executed from the Markdown text itself, so that the documents and
the tests cannot drift apart.

The examples are read from the files (code blocks and inline values), then checked with the
stranger's verifier and producer (tests/audit/stranger/, written from the spec alone).
"""

from __future__ import annotations

import ast
import base64
import hashlib
import pathlib
import re
import unicodedata

import pytest
from nacl.signing import SigningKey

from audit import canonical as audit_canonical
from tests.audit.stranger import verifier as sv
from tests.audit.stranger.producer import LogKey

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPEC = (ROOT / "docs" / "audit-log.md").read_text(encoding="utf-8")
MJ = (ROOT / "docs" / "majority-judgment.md").read_text(encoding="utf-8")


def section(doc: str, number: int) -> str:
    """The text of `## <number>. …` up to the next level-2 heading."""
    match = re.search(rf"^## {number}\. .*?(?=^## |\Z)", doc, re.M | re.S)
    assert match, f"no section {number}"
    return match.group(0)


def blocks(text: str) -> list[str]:
    """The indented (4-space) code blocks of a Markdown text, dedented, blank lines kept."""
    out, current = [], []
    for line in [*text.split("\n"), ""]:
        if line.startswith("    ") or (current and line == ""):
            current.append(line[4:])
            continue
        if current:
            while current and current[-1] == "":
                current.pop()
            out.append("\n".join(current))
            current = []
    return out


def block_after(text: str, marker: str) -> str:
    at = text.index(marker)
    return blocks(text[at:])[0]


def find(pattern: str, text: str, flags: int = re.S) -> re.Match[str]:
    match = re.search(pattern, text, flags)
    assert match, f"the spec no longer says {pattern!r}"
    return match


# -- §3 the example entry, §5 its key, §6 its checkpoint -------------------------------------

S3, S4, S5, S6, S7 = (section(SPEC, n) for n in (3, 4, 5, 6, 7))
SEED = bytes.fromhex(find(r"secret key\s*`([0-9a-f]{64})`", S3).group(1))
ENTRY = block_after(S3, "The entry bytes").encode("utf-8")
TRACKER = find(r"leaf hash \(tracker\) is\s*`([0-9a-f]{64})`", S3).group(1)
VKEY = find(r"Example \(the key of the §3 worked example\):\s*`([^`]+)`", S5).group(1)


def test_section_3_entry_verifies_and_has_the_printed_leaf_hash() -> None:
    key = sv.parse_vkey(VKEY)
    assert key.public_key == bytes(SigningKey(SEED).verify_key)
    env = sv.parse_entry(ENTRY, key.name, find(r'"primary":"([^"]+)"', ENTRY.decode()).group(1))
    assert env["key"] == key.key_id_hex
    message = sv.signed_message(env)
    assert message.startswith(b"scrutin-entry/v1\x00" + env["kind"].encode() + b"\x00")
    # "it is also the entry's bytes with the member "sig":"…", cut out"
    cut = re.sub(rb'"sig":"[^"]*",', b"", ENTRY)
    assert message.endswith(b"\x00" + cut)
    SigningKey(SEED).verify_key.verify(message, base64.b64decode(env["sig"]))
    assert sv.leaf_hash(ENTRY).hex() == TRACKER
    # A producer written from the spec, given the envelope, signs the very same bytes.
    unsigned = {k: v for k, v in env.items() if k != "sig"}
    assert LogKey(key.name, SEED).sign_entry(unsigned) == ENTRY


def test_section_3_base64_respelling_is_refused() -> None:
    good, bad = find(
        r"`…(\w\w==)`\s+and\s+`…(\w\w==)`\s+decode\s+to\s+the\s+same\s+signature", S3
    ).groups()
    assert ENTRY.count(good.encode()) == 1
    respelled = ENTRY.replace(good.encode(), bad.encode())
    sig = sv.parse_canonical(respelled)["sig"]
    assert base64.b64decode(sig) == base64.b64decode(sv.parse_canonical(ENTRY)["sig"])
    with pytest.raises(sv.Shape, match="canonical base64"):
        sv.parse_entry(respelled, sv.parse_vkey(VKEY).name, sv.parse_canonical(ENTRY)["primary"])
    assert sv.leaf_hash(respelled) != sv.leaf_hash(ENTRY)


def test_section_5_keys() -> None:
    key = sv.parse_vkey(VKEY)
    assert key.name == find(r"^(\S+)", VKEY).group(1).split("+")[0]
    assert LogKey(key.name, SEED).vkey == VKEY
    c2sp = find(r"C2SP's own test key.*?`([^`]+)`", S5).group(1)
    parsed = sv.parse_vkey(c2sp)  # the key ID recomputed from the name and key matches
    assert parsed.key_id_hex == c2sp.split("+")[1]


def test_section_6_checkpoint_example() -> None:
    note = block_after(S6, "Worked example") + "\n"
    key = sv.parse_vkey(VKEY)
    origin, size, root = sv.open_checkpoint(note, key)
    assert (origin, size) == (key.name, 1)
    assert root == sv.leaf_hash(ENTRY) == bytes.fromhex(TRACKER)
    assert LogKey(key.name, SEED).checkpoint(1, root) == note  # Ed25519 is deterministic
    with pytest.raises(sv.NoteError):
        sv.open_checkpoint(note.replace("\n1\n", "\n2\n"), key)


# -- §2 canonical JSON, §4 Merkle tree ------------------------------------------------------


def test_section_2_utf16_key_order_example() -> None:
    first, second = find(
        r"key\s+starting with U\+([0-9A-F]+).*?sorts before U\+([0-9A-F]+)", section(SPEC, 2)
    ).groups()
    a, b = chr(int(first, 16)), chr(int(second, 16))
    assert a > b  # by code point the order would be the other way
    assert a.encode("utf-16-be") < b.encode("utf-16-be")
    # Both keys can appear in a canonical entry (NFC), and both verifiers order them so.
    assert unicodedata.is_normalized("NFC", a) and unicodedata.is_normalized("NFC", b)
    expected = ('{"' + a + '":2,"' + b + '":1}').encode()
    assert sv.jcs({b: 1, a: 2}) == expected
    assert audit_canonical.encode({b: 1, a: 2}) == expected
    assert audit_canonical.parse(expected) == {a: 2, b: 1}


def test_section_2_escapes_example() -> None:
    text = section(SPEC, 2)
    lower = find(r"lowercase\s+hex digits \(`([^`]+)`, never `([^`]+)`\)", text).groups()
    assert sv.jcs("\x1f") == f'"{lower[0]}"'.encode()
    with pytest.raises(sv.NotCanonical):
        sv.parse_canonical(f'"{lower[1]}"'.encode())
    for never in ("\\/", "\\u00e9"):
        assert f"`{never}`" in text
        with pytest.raises(sv.NotCanonical):
            sv.parse_canonical(f'"{never}"'.encode())


def _literal(spelling: str) -> bytes:
    match = re.fullmatch(r"bytes\(range\((0x[0-9a-f]+), (0x[0-9a-f]+)\)\)", spelling)
    if match:
        return bytes(range(int(match.group(1), 16), int(match.group(2), 16)))
    return ast.literal_eval(spelling)


def test_section_4_empty_tree_and_rfc6962_tree() -> None:
    empty = find(r"hash of the\s+empty tree is `SHA-256\(b\"\"\)` \(`([^`]+)`\)", S4).group(1)
    assert base64.b64decode(empty) == sv.tree_root([]) == hashlib.sha256(b"").digest()
    listing = find(r"\(leaves (`.*?`)\) has root", S4).group(1)
    leaves = [_literal(x) for x in re.findall(r"`([^`]+)`", listing)]
    assert len(leaves) == 8
    root = find(r"has root\s*`([0-9a-f]{64})`", S4).group(1)
    hashes = [sv.leaf_hash(x) for x in leaves]
    assert sv.tree_root(hashes).hex() == root
    for i in range(8):  # and PATH / its verification agree on that tree
        proof = sv.inclusion_proof(hashes, i)
        assert sv.verify_inclusion(i, 8, hashes[i], proof, bytes.fromhex(root))
        assert not sv.verify_inclusion(i, 8, hashes[i], [*proof, hashes[0]], bytes.fromhex(root))


# -- §7 tile paths --------------------------------------------------------------------------


def tile_index(n: int) -> str:
    """§7: groups of 3 digits, every group but the last prefixed with x."""
    digits = f"{n:d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


def tiles(size: int) -> tuple[int, set[str]]:
    """(number of full level-0 tiles, every other tile path) of a tree of `size` leaves."""
    paths, level = set(), 0
    while size >= 256**level:
        full = size // 256 ** (level + 1)
        width = (size // 256**level) % 256
        if level:
            paths |= {f"tile/{level}/{tile_index(n)}" for n in range(full)}
        if width:
            paths.add(f"tile/{level}/{tile_index(full)}.p/{width}")
        level += 1
    return size // 256, paths


def test_section_7_tile_index_examples() -> None:
    pairs = re.findall(r"`(\d+)` → `([x0-9/]+)`", S7)
    assert len(pairs) >= 3
    for n, path in pairs:
        assert tile_index(int(n)) == path


def test_section_7_tiles_of_a_tree() -> None:
    m = find(r"a\s+tree of ([\d,]+) leaves has (\d+) full level-0 tiles, (.*?)\. ", S7)
    size, full = int(m.group(1).replace(",", "")), int(m.group(2))
    listed = set(re.findall(r"`(tile/[^`]+)`", m.group(3)))
    assert tiles(size) == (full, listed)


# -- §9 the MieuxVoter worked example -------------------------------------------------------


def test_section_9_mieux_voter_example() -> None:
    text = section(SPEC, 9)
    example = text[text.index("*Worked example*") :]
    upper = find(r"`upper_median` = (true|false)", example).group(1) == "true"
    block = blocks(example)[0]
    profiles, steps = {}, {}
    for name, counts, listed in re.findall(
        r"(\w+) = (\[[\d, ]+\])\s+steps ((?:\(\d+, \d+\) ?)+)", block
    ):
        profiles[name] = ast.literal_eval(counts)
        steps[name] = tuple(ast.literal_eval(s) for s in re.findall(r"\(\d+, \d+\)", listed))
    assert len(profiles) >= 2
    for name, counts in profiles.items():
        assert sv._mieux_voter(counts, upper) == steps[name], name
    ranking = find(r"ranking ([\w, ]+) \(ranks ([\d, ]+)\)", block)
    names = [x.strip() for x in ranking.group(1).split(",")]
    ranks = [int(x) for x in ranking.group(2).split(",")]
    result = _recount(profiles, "mieux-voter", "strict", upper)
    assert result["ranking"] == names
    assert [result["candidates"][n]["rank"] for n in names] == ranks


def _recount(profiles: dict[str, list[int]], rule: str, missing: str, upper: bool) -> dict:
    """The recount of ballots that give exactly these profiles (names as candidate ids)."""
    n_grades = len(next(iter(profiles.values())))
    columns = {c: [g for g, k in enumerate(p) for _ in range(k)] for c, p in profiles.items()}
    voters = max(len(v) for v in columns.values())
    ballots = [{c: js[v] for c, js in columns.items() if v < len(js)} for v in range(voters)]
    return sv.recount(ballots, list(profiles), n_grades, rule, missing, 0, upper)


# -- docs/majority-judgment.md: the worked example and the missing-judgment example ---------


def _mj_example() -> tuple[list[str], dict[str, list[int]], dict[str, tuple[str, int, int]]]:
    part = MJ[MJ.index("## Worked example") :]
    header = find(r"^\| \| (.*?) \| α \| p \| q \|$", part, re.M).group(1)
    scale = [x.strip() for x in header.split("|")]
    profiles, stated = {}, {}
    for row in re.findall(r"^\| (\w+) \| ([\d |]+)\| (\w+) \| (\d+) % \| (\d+) % \|$", part, re.M):
        name, counts, alpha, p, q = row
        profiles[name] = [int(x) for x in counts.split("|") if x.strip()]
        stated[name] = (alpha, int(p), int(q))
    return scale, profiles, stated


def test_majority_judgment_example_profiles() -> None:
    scale, profiles, stated = _mj_example()
    assert len(profiles) == 4
    for name, counts in profiles.items():
        alpha = sv._median_grade(counts, upper=False)
        n = sum(counts)
        above, below = sum(counts[alpha + 1 :]), sum(counts[:alpha])
        assert (scale[alpha], 100 * above // n, 100 * below // n) == stated[name], name


@pytest.mark.parametrize(
    "rule", ["majority-value", "majority-gauge", "mieux-voter", "typical", "central", "usual"]
)
def test_majority_judgment_example_orders(rule: str) -> None:
    _, profiles, stated = _mj_example()
    part = MJ[MJ.index("## Worked example") :]
    order = find(rf"^\| `{rule}` \| ([\w=, ]+) \|", part, re.M).group(1)
    groups = [[n.strip() for n in g.split("=")] for g in order.split(",")]
    result = _recount(profiles, rule, "strict", False)
    fair = [c for c in result["ranking"] if stated[c][0] == stated[groups[0][0]][0]]
    ranks = result["candidates"]
    got = []
    for c in fair:
        if got and ranks[c]["rank"] == ranks[got[-1][0]]["rank"]:
            got[-1].append(c)
        else:
            got.append([c])
    assert [sorted(g) for g in got] == [sorted(g) for g in groups]
    best = [c for c in profiles if stated[c][0] != stated[groups[0][0]][0]]
    assert result["ranking"][: len(best)] == best  # the only better majority grade is first


def test_majority_judgment_missing_policies_example() -> None:
    part = MJ[MJ.index("## Missing judgments") :]
    example = find(r"Example: (\d+) participants; (.*?)\n\n", part)
    participants = int(example.group(1))
    profiles = {
        name: ast.literal_eval(counts)
        for name, counts in re.findall(r"\b([A-Z])\s+(?:got\s+)?(\[[\d, ]+\])", example.group(2))
    }
    assert len(profiles) == 3
    for policy in ("normalize", "worst-grade", "median"):
        bullet = find(rf"\*\*`{policy}`\*\*(.*?)(?=\n- |\Z)", part).group(1)
        ranking = [x.strip() for x in find(r"Ranking:\s+([\w,\s]+?)\.", bullet).group(1).split(",")]
        result = _recount_with_participants(profiles, participants, policy)
        assert result["ranking"] == ranking, policy
        for name, counts in re.findall(r"([A-Z]) becomes (\[[\d, ]+\])", bullet):
            balanced = sv.balance(profiles, participants, policy, 0, False)
            assert balanced[name] == ast.literal_eval(counts), (policy, name)
    with pytest.raises(sv.StrictRefused):
        sv.balance(profiles, participants, "strict", 0, False)


def _recount_with_participants(
    profiles: dict[str, list[int]], participants: int, missing: str
) -> dict:
    columns = {c: [g for g, k in enumerate(p) for _ in range(k)] for c, p in profiles.items()}
    ballots = [{c: js[v] for c, js in columns.items() if v < len(js)} for v in range(participants)]
    assert all(ballots)
    n_grades = len(next(iter(profiles.values())))
    return sv.recount(ballots, list(profiles), n_grades, "majority-value", missing, 0, False)


# -- §7 the JSON receipt example, §8 the allow-list digest example ---------------------------


def test_section_7_receipt_example() -> None:
    text = block_after(S7, "For example (the §3 entry in the §6 tree of one entry")
    shown = _json_with_ellipses(text)
    key = sv.parse_vkey(shown["vkey"])
    assert shown["vkey"] == VKEY and shown["origin"] == key.name
    assert shown["format"] == "scrutin-receipt/v1" and shown["index"] == 0
    entry_b64 = base64.b64encode(ENTRY).decode()
    note = block_after(S6, "Worked example") + "\n"
    # The shortened members are prefixes of the §3 entry and the §6 checkpoint.
    assert entry_b64.startswith(shown["entry"].rstrip("…"))
    assert note.startswith(shown["checkpoint"].rstrip("…"))
    receipt = {**shown, "entry": entry_b64, "checkpoint": note}
    # The §7 check of a receipt, by the stranger: checkpoint, tracker, entry, inclusion.
    _, size, root = sv.open_checkpoint(receipt["checkpoint"], key)
    assert receipt["tracker"] == sv.leaf_hash(ENTRY).hex() == TRACKER
    proof = [base64.b64decode(h) for h in receipt["inclusion_proof"]]
    assert sv.verify_inclusion(receipt["index"], size, bytes.fromhex(TRACKER), proof, root)
    # The example shows the form only (§7): its entry is the §3 support, not a ballot.
    assert sv.parse_canonical(ENTRY)["kind"] == "support"


def test_section_7_receipt_example_fails_scrutin_audit_check_4_as_written(
    tmp_path: pathlib.Path,
) -> None:
    """§7/§9: a receipt's entry is a ballot; `scrutin-audit receipt` fails its check 4 on the
    completed example (a support), and passes its checks 1-2 (signature, inclusion)."""
    import contextlib
    import io
    import json

    from audit.cli import main

    shown = _json_with_ellipses(block_after(S7, "For example (the §3 entry in the §6 tree"))
    assert "form only" in S7 and "scrutin-audit receipt` fails its check 4" in S7
    note = block_after(S6, "Worked example") + "\n"
    receipt = {**shown, "entry": base64.b64encode(ENTRY).decode(), "checkpoint": note}
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt), encoding="utf-8")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["receipt", str(path), "--log-key", VKEY, "--lang", "en"])
    report = out.getvalue()
    assert code == 1, report
    failed = [line for line in report.splitlines() if line.lstrip().startswith("✘ ")]
    assert failed and all(line.lstrip().startswith("✘ 4.") for line in failed[:1]), report
    assert "✔ 1." in report and "✔ 2." in report


def _json_with_ellipses(text: str) -> dict:
    """The example object; its shortened strings end with '…' (still valid JSON)."""
    import json

    return json.loads(text)


def email_key(address: str) -> str:
    """§8 "Allow-list imports": an e-mail's key (its mailbox)."""
    local, _, domain = address.lower().rpartition("@")
    if "+" in local and local.split("+", 1)[0]:
        local = local.split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def test_section_8_allow_list_digest_example() -> None:
    part = section(SPEC, 8)
    m = find(
        r"For\s+example\s+the\s+list\s+(.*?)\s+gives\s+`(\[.*?\])`,\s+whose\s+digest\s+is\s+`([0-9a-f]{64})`",
        part,
    )
    items = re.findall(r"`([^`]+)`", m.group(1))
    strings = sorted(f"email:{email_key(x)}" if "@" in x else f"voter_number:{x}" for x in items)
    assert sv.jcs(strings).decode() == m.group(2)
    assert hashlib.sha256(sv.jcs(strings)).hexdigest() == m.group(3)


# -- §8 voter-held credentials: the roll digest and the ballot signature examples ------------


def _voter_section() -> str:
    part = section(SPEC, 8)
    return part[part.index("**Voter-held credentials**") :]


def _seed(spelling: str) -> bytes:
    match = re.fullmatch(r"bytes\(\[(\d+)\]\)\s*\*\s*(\d+)", spelling)
    assert match, spelling
    return bytes([int(match.group(1))]) * int(match.group(2))


def test_section_8_roll_digest_example() -> None:
    text = _voter_section()
    m = find(
        r"Example:\s+the\s+keys\s+of\s+the\s+Ed25519\s+seeds\s+(.*?)\s+are\s+(.*?);\s+the\s+roll"
        r"\s+of\s+these\s+(\w+)\s+has\s+`count`\s+(\d+)\s+and\s+`digest`\s+`([0-9a-f]{64})`",
        text,
    )
    seeds = [_seed(x) for x in re.findall(r"`([^`]+)`", m.group(1))]
    keys = re.findall(r"`([^`]+)`", m.group(2))
    assert len(seeds) == len(keys) == int(m.group(4)) == 3
    for seed, key in zip(seeds, keys, strict=True):
        assert base64.b64encode(bytes(SigningKey(seed).verify_key)).decode() == key
    assert hashlib.sha256(sv.jcs(sorted(keys))).hexdigest() == m.group(5)


def test_section_8_ballot_signature_example() -> None:
    text = _voter_section()
    m = find(
        r"Example:\s+origin\s+`([^`]+)`,\s+round\s+(\d+),\s+`sealed`\s+`([^`]+)`.*?"
        r"signed\s+with\s+seed\s+`([^`]+)`:\s+`credential_sig`\s+=\s+`([^`]+)`",
        text,
    )
    origin, round_no, sealed, seed, sig = m.groups()
    message_form = find(r"`(b\"scrutin-ballot/v1\\x00\" \+ origin[^`]*)`", text).group(1)
    assert "str(round)" in message_form and "sealed_bytes" in message_form
    message = (
        b"scrutin-ballot/v1\x00"
        + origin.encode("ascii")
        + b"\x00"
        + str(int(round_no)).encode()
        + b"\x00"
        + base64.b64decode(sealed)
    )
    assert base64.b64decode(sealed) == bytes(range(8))
    signed = SigningKey(_seed(seed)).sign(message).signature
    assert base64.b64encode(signed).decode() == sig


# -- §8 approvals: the citizen commitment in an `approval` body ------------------------------


def test_section_8_approval_example() -> None:
    import hmac
    import json

    from audit import envelope

    part = section(SPEC, 8)
    text = part[part.index("**Approvals**") : part.index("**Voter-held credentials**")]
    m = find(
        r"Example:\s+secret\s+`([^`]+)`,\s+origin\s+`([^`]+)`,.*?the\s+body\s+is\s+`([^`]+)`",
        text,
    )
    seed, origin, shown = m.groups()
    body = json.loads(shown)
    citizen = hmac.new(
        _seed(seed), b"scrutin-citizen/v1\x00" + origin.encode("ascii"), hashlib.sha256
    ).hexdigest()
    assert body == {"approved": 1, "citizen": citizen, "decision": "approved"}
    assert sv.jcs(body).decode() == shown
    # Both verifiers accept the example's body, and refuse an unknown decision (check 4).
    envelope.check_body("approval", body)
    sv._members(sv.BODIES["approval"], body, "body")
    with pytest.raises(envelope.EntryError):
        envelope.check_body("approval", {**body, "decision": "pending"})
    with pytest.raises(sv.Shape):
        sv._members(sv.BODIES["approval"], {**body, "decision": "pending"}, "body")
