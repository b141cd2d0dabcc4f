"""Encrypted rounds (docs/audit-log.md "Encrypted ballots (v2)"): every ballot's proofs and
the sums of the counted ballots, one slice of credentials per worker process.

Written from the spec text alone; shares no code with the producer (crypto/).
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from audit import group
from audit.recount import Opened
from audit.shard import Cipher, RoundProofs
from audit.trustees import Ceremony, trustee_message, verifies, verify_share

if TYPE_CHECKING:  # report imports this module
    from audit.report import Check

MESSAGES: dict[str, tuple[str, str]] = {
    # check 6
    "round-key-missing": (
        "tour {round} : bulletins chiffrés mais aucune clé d'élection publiée avant l'ouverture",
        "round {round}: encrypted ballots but no election key published before the opening",
    ),
    "round-key-differs": (
        "tour {round} : election_public_key n'est pas la clé d'élection recalculée",
        "round {round}: election_public_key is not the recomputed election key",
    ),
    "round-key-kind": (
        "tour {round} : {member} ne correspond pas aux bulletins « {ballots} » de la définition",
        "round {round}: {member} does not match the definition's {ballots!r} ballots",
    ),
    "ballot-kind": (
        "bulletin {kind} dans un tour aux bulletins « {ballots} »",
        "{kind} ballot in a round of {ballots!r} ballots",
    ),
    "tally-key-encrypted": (
        "clé de dépouillement publiée pour le tour chiffré {round} : aucune ne doit exister",
        "tally key published for encrypted round {round}: none may exist",
    ),
    "sums-phase": (
        "sommes du tour {round} avant sa clôture, en double ou pour un tour non chiffré",
        "sums of round {round} before its closing, twice or for a round that is not encrypted",
    ),
    "decryption-phase": (
        "déchiffrement du tour {round} avant ses sommes ou après son résultat",
        "decryption of round {round} before its sums or after its result",
    ),
    # receipt check 4
    "receipt-encrypted": (
        "bulletin chiffré : ses preuves tiennent (une mention par candidat — {candidates} — "
        "ou blanc) ; personne ne peut le lire, seules les sommes sont déchiffrées",
        "encrypted ballot: its proofs hold (one grade for each candidate — {candidates} — or "
        "blank); nobody can read it, only the sums are decrypted",
    ),
    "receipt-encrypted-unchecked": (
        "bulletin chiffré : sans le journal (--log), ses preuves ne sont pas vérifiées",
        "encrypted ballot: without the log (--log) its proofs are not checked",
    ),
    # check 9, encrypted rounds: §10 "Invalid ballots", in their order
    "invalid-bad-layout": (
        "bulletin chiffré invalide (bad-layout) : mise en page illisible ({detail})",
        "invalid encrypted ballot (bad-layout): unreadable layout ({detail})",
    ),
    "invalid-wrong-grades": (
        "bulletin chiffré invalide (wrong-grades) : {detail}",
        "invalid encrypted ballot (wrong-grades): {detail}",
    ),
    "invalid-wrong-blank": (
        "bulletin chiffré invalide (wrong-blank) : {detail}",
        "invalid encrypted ballot (wrong-blank): {detail}",
    ),
    "invalid-unknown-candidate": (
        "bulletin chiffré invalide (unknown-candidate) : {detail}",
        "invalid encrypted ballot (unknown-candidate): {detail}",
    ),
    "invalid-candidate-order": (
        "bulletin chiffré invalide (candidate-order) : {detail}",
        "invalid encrypted ballot (candidate-order): {detail}",
    ),
    "invalid-wrong-row-count": (
        "bulletin chiffré invalide (wrong-row-count) : {detail}",
        "invalid encrypted ballot (wrong-row-count): {detail}",
    ),
    "invalid-invalid-point": (
        "bulletin chiffré invalide (invalid-point) : {detail}",
        "invalid encrypted ballot (invalid-point): {detail}",
    ),
    "invalid-invalid-scalar": (
        "bulletin chiffré invalide (invalid-scalar) : {detail}",
        "invalid encrypted ballot (invalid-scalar): {detail}",
    ),
    "invalid-proof-failed": (
        "bulletin chiffré invalide (proof-failed) : la preuve de la ligne {detail} ne vérifie pas",
        "invalid encrypted ballot (proof-failed): the proof of the row {detail} does not verify",
    ),
    "invalid-malformed": (
        "bulletin chiffré illisible : {detail}",
        "unreadable encrypted ballot: {detail}",
    ),
    "proofs-checked": (
        "tour {round} : preuves de {checked} bulletins vérifiées, {counted} comptés, "
        "{invalid} invalides",
        "round {round}: proofs of {checked} ballots checked, {counted} counted, {invalid} invalid",
    ),
    "shard-recount": (
        "tour {round} : une tranche seulement ; sommes, déchiffrement et recomptage par "
        "« scrutin-audit combine »",
        "round {round}: one slice only; sums, decryption and recount by 'scrutin-audit combine'",
    ),
    "sums-missing": (
        "tour {round} clos : sommes chiffrées pas encore publiées",
        "round {round} closed: encrypted sums not published yet",
    ),
    "sums-ballots": (
        "sommes : {stated} bulletins comptés déclarés, {recount} recomptés",
        "sums: {stated} counted ballots stated, {recount} recounted",
    ),
    "sums-candidates": (
        "sommes : les candidats ({stated}) ne sont pas ceux des bulletins comptés ({recount})",
        "sums: the candidates ({stated}) are not those of the counted ballots ({recount})",
    ),
    "sums-differ": (
        "sommes : {position} n'est pas la somme des bulletins comptés",
        "sums: {position} is not the sum of the counted ballots",
    ),
    "sums-blank": (
        "sommes : « blank » présent ou absent à tort",
        "sums: 'blank' present or absent wrongly",
    ),
    "share-unknown": (
        "déchiffrement par le garant {trustee}, inconnu ou sans clé de vérification",
        "decryption by trustee {trustee}, unknown or without a verification key",
    ),
    "share-twice": (
        "deuxième déchiffrement du garant {trustee} pour ce tour",
        "second decryption by trustee {trustee} for this round",
    ),
    "share-bad-signature": (
        "la signature du garant {trustee} sur son déchiffrement ne vérifie pas",
        "trustee {trustee}'s signature on its decryption does not verify",
    ),
    "share-shape": (
        "déchiffrement du garant {trustee} : positions différentes de celles des sommes",
        "decryption by trustee {trustee}: positions differ from the sums'",
    ),
    "share-invalid": (
        "déchiffrement du garant {trustee} : la preuve de {position} ne vérifie pas",
        "decryption by trustee {trustee}: the proof for {position} does not verify",
    ),
    "shares-too-few": (
        "tour {round} : résultat publié après {count} déchiffrement(s) valide(s) seulement, il "
        "en faut {k} : rien ne se déchiffre",
        "round {round}: result published after only {count} valid decryption(s), {k} needed: "
        "nothing decrypts",
    ),
    "first-shares-invalid": (
        "tour {round} : parmi ses {k} premières entrées de déchiffrement (ordre du journal), "
        "au moins une est invalide ou en double ; seules ces {k} se combinent, un déchiffrement "
        "valide venu après ne la remplace pas : rien ne se déchiffre",
        "round {round}: among its first {k} decryption entries (log order), at least one is "
        "invalid or a duplicate; only those {k} combine, a valid decryption posted later does "
        "not replace it: nothing decrypts",
    ),
    "decryption-pending": (
        "tour {round} : {count} déchiffrement(s) sur {k} nécessaires",
        "round {round}: {count} of the {k} decryptions needed",
    ),
    "dlog-failed": (
        "{position} ne se déchiffre pas en un nombre de 0 à {bound}",
        "{position} does not decrypt to a number from 0 to {bound}",
    ),
    "decrypted": (
        "tour {round} déchiffré par les garants {trustees} : {valid} valides, "
        "{blank} blancs, {invalid} invalides",
        "round {round} decrypted by trustees {trustees}: {valid} valid, {blank} blank, "
        "{invalid} invalid",
    ),
}


class BallotInvalid(ValueError):
    """A ballot that does not count: ``code`` (spec's reason code) and a detail."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class RoundContext:
    """What a worker needs to check one round's ballots."""

    origin: str
    round: int
    candidates: tuple[str, ...]
    n_grades: int
    subset_size: int
    allow_blank: bool
    missing_allowed: bool
    election_key: bytes
    last_valid_counts: bool = True  # §10: the last *valid* ballot of each credential counts

    @property
    def size(self) -> int:
        """Sum vector: candidate-major, one ciphertext per grade, then the blank bit."""
        return len(self.candidates) * self.n_grades + 1

    def cell(self, position: int, grade: int) -> int:
        return position * self.n_grades + grade

    @property
    def blank_cell(self) -> int:
        return len(self.candidates) * self.n_grades


# -- generic proof checks ------------------------------------------------------------------
def dleq_commitments(
    c: bytes, z: bytes, g1: bytes, y1: bytes, g2: bytes, y2: bytes
) -> tuple[bytes, bytes]:
    """Chaum–Pedersen: the commitments (z·g1 − c·y1, z·g2 − c·y2) a proof of
    log_g1(y1) = log_g2(y2) with challenge c and response z must hash to."""
    a = group.sub(group.mul(z, g1) if g1 != group.G else group.base(z), group.mul(c, y1))
    b = group.sub(group.mul(z, g2) if g2 != group.G else group.base(z), group.mul(c, y2))
    return a, b


def add_into(sums: list[Cipher], index: int, cipher: Cipher) -> None:
    a, b = sums[index]
    sums[index] = (group.add(a, cipher[0]), group.add(b, cipher[1]))


LAYOUT_VERSION = 1
CT = 64  # a ciphertext: α || β
BRANCH = 48  # c_k (16 bytes LE) || s_k (32 bytes LE)
TWO_128 = 1 << 128
_ONE_CT = (group.IDENTITY, group.G)  # (0, G): the trivial encryption of 1


def _h128(purpose: str, parts: Sequence[bytes]) -> int:
    return int.from_bytes(group.hash_parts(purpose, parts)[:16], "little")


def _blob_point(k: bytes, p: bytes) -> bytes:
    """k·P for a point P read from a blob, which must be valid (libsodium refuses the
    others: identity, small order, torsion, non-canonical, off the curve)."""
    if k == group.ZERO:  # a zero weight (probability 2^-128): validate on its own
        if not group.is_point(p):
            raise BallotInvalid("invalid-point", "a cell is not a valid point")
        return group.IDENTITY
    try:
        return group.mul_valid(k, p)
    except group.GroupError:
        raise BallotInvalid("invalid-point", "a cell is not a valid point") from None


def check_ballot(
    ctx: RoundContext, body: dict[str, Any], implicit: bool = True
) -> dict[int, Cipher]:
    """The ballot's ciphertexts by sum-vector index (the implicit cells included) once every
    check of §10 "Invalid ballots" holds; else :class:`BallotInvalid` with the first reason.

    With ``implicit=False`` a row's implicit cell is left out and its index holds the blank
    cell instead (if any): :func:`implicit_sums` derives the implicit cells' sums from the
    sums of such results (one subtraction per sum instead of n per row)."""
    blob = base64.b64decode(body["encrypted"])
    credential = base64.b64decode(body.get("credential") or "")
    n = ctx.n_grades
    # 1–6: layout
    if len(blob) < 5:
        raise BallotInvalid("bad-layout", "shorter than 5 bytes")
    version, grades, flag = blob[0], blob[1], blob[2]
    rows = int.from_bytes(blob[3:5], "big")
    if version != LAYOUT_VERSION or flag not in (0, 1) or rows == 0 or grades < 2:
        raise BallotInvalid("bad-layout", f"version {version}, flag {flag}, {rows} rows")
    branches = grades + flag
    size = 5 + 2 * rows + CT * flag + rows * ((grades - 1) * CT + branches * BRANCH)
    if len(blob) != size:
        raise BallotInvalid("bad-layout", f"{len(blob)} bytes, the header says {size}")
    if grades != n:
        raise BallotInvalid("wrong-grades", f"{grades} grades, the round has {n}")
    if bool(flag) != ctx.allow_blank:
        raise BallotInvalid("wrong-blank", "blank cell " + ("present" if flag else "missing"))
    indexes = [int.from_bytes(blob[5 + 2 * i : 7 + 2 * i], "big") for i in range(rows)]
    if any(i >= len(ctx.candidates) for i in indexes):
        raise BallotInvalid("unknown-candidate", f"row index {max(indexes)}")
    if any(a >= b for a, b in itertools.pairwise(indexes)):
        raise BallotInvalid("candidate-order", "row indexes not strictly increasing")
    total = len(ctx.candidates)
    expected = total if ctx.subset_size <= 0 or ctx.subset_size >= total else ctx.subset_size
    if rows != expected:
        raise BallotInvalid("wrong-row-count", f"{rows} rows, the round has {expected}")
    at = 5 + 2 * rows
    blank: Cipher | None = None
    blank_raw = b""
    if flag:
        blank_raw = blob[at : at + CT]
        blank = (blank_raw[:32], blank_raw[32:])
        at += CT
    h = ctx.election_key
    head = [ctx.origin.encode(), str(ctx.round).encode(), credential]
    parsed = []
    # 7: every point, by folding each row with its weights (libsodium validates each point)
    for index in indexes:
        cells_raw = blob[at : at + (n - 1) * CT]
        at += (n - 1) * CT
        proof = blob[at : at + branches * BRANCH]
        at += branches * BRANCH
        cand = ctx.candidates[index]
        statement = cells_raw + blank_raw
        context = [*head, cand.encode(), h, statement]
        cells = [(cells_raw[i * CT : i * CT + 32], cells_raw[i * CT + 32 : (i + 1) * CT])
                 for i in range(n - 1)]  # fmt: skip
        weights = []
        terms_a, terms_b = [], []
        for p, cell in enumerate([*cells, blank] if blank is not None else cells):
            label = str(p).encode() if p < n - 1 else b"blank"
            z = group.s(_h128("ballot-weight", [*context, label]))
            weights.append(z)
            terms_a.append(_blob_point(z, cell[0]))
            terms_b.append(_blob_point(z, cell[1]))
        folded_a, folded_b = terms_a[0], terms_b[0]
        for ta, tb in zip(terms_a[1:], terms_b[1:], strict=True):
            folded_a, folded_b = group.add(folded_a, ta), group.add(folded_b, tb)
        parsed.append((index, cells, proof, context, weights, folded_a, folded_b))
    # 8: every response is a canonical scalar
    for _index, _cells, proof, *_ in parsed:
        for k in range(branches):
            if group.to_int(proof[k * BRANCH + 16 : (k + 1) * BRANCH]) >= group.L:
                raise BallotInvalid("invalid-scalar", f"response of branch {k}")
    # 9: every row's proof
    out: dict[int, Cipher] = {}
    for index, cells, proof, context, weights, fa, fb in parsed:
        commitments = []
        total_c = 0
        for k in range(branches):
            c_int = int.from_bytes(proof[k * BRANCH : k * BRANCH + 16], "little")
            total_c += c_int
            c = group.s(c_int)
            s_k = proof[k * BRANCH + 16 : (k + 1) * BRANCH]
            if k == n - 1:  # the target of grade n − 1 is the identity
                shifted = fb
            else:  # z_k·G, or z_blank·G for the blank branch (weights[-1])
                shifted = group.sub(fb, group.base(weights[k if k < n - 1 else -1]))
            x = group.sub(group.base(s_k), group.mul(c, fa))
            y = group.sub(group.mul(s_k, h), group.mul(c, shifted))
            commitments += [x, y]
        if _h128("ballot-row", [*context, *commitments]) != total_c % TWO_128:
            raise BallotInvalid("proof-failed", ctx.candidates[index])
        for g, cell in enumerate(cells):
            out[ctx.cell(index, g)] = cell
        if not implicit:
            out[ctx.cell(index, n - 1)] = blank or (group.IDENTITY, group.IDENTITY)
            continue
        last_a, last_b = _ONE_CT
        if blank is not None:
            last_a, last_b = group.sub(last_a, blank[0]), group.sub(last_b, blank[1])
        for a, b in cells:
            last_a, last_b = group.sub(last_a, a), group.sub(last_b, b)
        out[ctx.cell(index, n - 1)] = (last_a, last_b)
    if blank is not None:
        out[ctx.blank_cell] = blank
    return out


def verify_groups(
    args: tuple[RoundContext, Sequence[tuple[str, Sequence[tuple[int, bytes, bool]]]]],
) -> RoundProofs:
    """Worker: check the proofs of every ballot of the given credentials (each a list of
    (index, entry bytes, counted) in log order) and add up the counted valid ones."""
    ctx, groups = args
    out = RoundProofs(ctx.round, ctx.size, present=[0] * len(ctx.candidates))
    for _credential, items in groups:
        results: list[tuple[int, bool, dict[int, Cipher] | None]] = []
        for index, raw, counted in items:
            out.checked += 1
            try:
                cells = check_ballot(ctx, json.loads(raw)["body"], implicit=False)
            except BallotInvalid as exc:
                out.invalid.append((index, exc.code, exc.detail))
                cells = None
            except (group.GroupError, ValueError, KeyError, TypeError) as exc:
                out.invalid.append((index, "malformed", str(exc)[:200]))
                cells = None
            results.append((index, counted, cells))
        if ctx.last_valid_counts:
            chosen = [r for r in results if r[2] is not None][-1:]
        else:
            chosen = [r for r in results if r[1] and r[2] is not None]
        if not chosen:
            out.lost += 1
        for _, _, cells in chosen:
            assert cells is not None
            out.counted += 1
            rows = set()
            for pos, cipher in cells.items():
                add_into(out.sums, pos, cipher)
                if pos != ctx.blank_cell:
                    rows.add(pos // ctx.n_grades)
            for row in rows:
                out.present[row] += 1
    implicit_sums(ctx, out)
    return out


def implicit_sums(ctx: RoundContext, out: RoundProofs) -> None:
    """Turn each candidate's last slot, which holds the sum of the blank cells of the
    ballots with a row for it, into the sum of its implicit cells:
    Σ ((0, G) − b − Σ_g cell_g) = (0, present·G) − Σ b − Σ_g (Σ cell_g)."""
    n = ctx.n_grades
    for pos, present in enumerate(out.present):
        last = ctx.cell(pos, n - 1)
        a, b = (
            group.sub(group.IDENTITY, out.sums[last][0]),
            group.sub(group.base(group.s(present)), out.sums[last][1]),
        )
        for g in range(n - 1):
            a, b = (
                group.sub(a, out.sums[ctx.cell(pos, g)][0]),
                group.sub(b, out.sums[ctx.cell(pos, g)][1]),
            )
        out.sums[last] = (a, b)


# -- sums, decryption shares, combination (check 9 for an encrypted round) ------------------
def _pair(value: str) -> Cipher:
    raw = base64.b64decode(value)
    return raw[:32], raw[32:]


def check_sums(
    ctx: RoundContext, proofs: RoundProofs, index: int, body: dict[str, Any], check: Check
) -> bool:
    """The published `tally-sums` equal the recomputed ones (§10 item 5)."""
    ok = True
    if body["ballots"] != proofs.counted:
        check.fail(index, "sums-ballots", stated=body["ballots"], recount=proofs.counted)
        ok = False
    present = [c for pos, c in enumerate(ctx.candidates) if proofs.present[pos]]
    if sorted(body["sums"]) != sorted(present):
        check.fail(index, "sums-candidates", stated=", ".join(sorted(body["sums"])),
                   recount=", ".join(sorted(present)))  # fmt: skip
        ok = False
    for pos, c in enumerate(ctx.candidates):
        cells = body["sums"].get(c)
        if cells is None:
            continue
        if len(cells) != ctx.n_grades:
            check.fail(index, "sums-differ", position=c)
            ok = False
            continue
        for g, value in enumerate(cells):
            if _pair(value) != proofs.sums[ctx.cell(pos, g)]:
                check.fail(index, "sums-differ", position=f"{c}/{g}")
                ok = False
    blank_expected = ctx.allow_blank and proofs.counted > 0
    if ("blank" in body) != blank_expected:
        check.fail(index, "sums-blank")
        ok = False
    elif blank_expected and _pair(body["blank"]) != proofs.sums[ctx.blank_cell]:
        check.fail(index, "sums-differ", position="blank")
        ok = False
    return ok


def positions(ctx: RoundContext, body: dict[str, Any]) -> list[tuple[str, str, int | None]]:
    """(position text, candidate or "blank", grade) of every ciphertext of a `tally-sums`."""
    out: list[tuple[str, str, int | None]] = []
    for c in ctx.candidates:
        for g in range(len(body["sums"].get(c, ()))):
            out.append((f"{c}/{g}", c, g))
    if "blank" in body:
        out.append(("blank", "blank", None))
    return out


def _value(body: dict[str, Any], cand: str, g: int | None) -> str | None:
    if g is None:
        return body.get("blank")
    cells = body.get("shares", body.get("sums", {})).get(cand)
    return cells[g] if cells is not None and g < len(cells) else None


def decrypt_round(
    ctx: RoundContext,
    proofs: RoundProofs,
    sums_body: dict[str, Any],
    decryptions: Sequence[tuple[int, dict[str, Any]]],
    ceremony: Ceremony,
    check: Check,
    final: bool,
) -> Opened | None:
    """Check every decryption share; combine the first k (log order) and solve the counts.

    Returns the decrypted {"profiles", "valid", "blank", "invalid"} or None. `final`: a
    result was published, so fewer than k shares is a failure rather than work pending."""
    h = ceremony.election_key
    pos = positions(ctx, sums_body)
    valid_shares: list[tuple[int, dict[str, bytes]]] = []
    seen: set[int] = set()
    first_k_ok = True
    for n, (index, body) in enumerate(decryptions):
        j = body["index"]
        trustee = ceremony.trustees.get(j)
        within_k = n < ceremony.k
        ok = True
        if trustee is None or h is None or len(ceremony.verification_keys) < j or j < 1:
            check.fail(index, "share-unknown", trustee=j)
            ok = False
        elif j in seen:
            check.fail(index, "share-twice", trustee=j)
            ok = False
        elif not verifies(
            trustee.signing_key,
            trustee_message("trustee-decryption", ctx.origin, body),
            body["trustee_sig"],
        ):
            check.fail(index, "share-bad-signature", trustee=j)
            ok = False
        elif (
            sorted(body["shares"]) != sorted(sums_body["sums"])
            or ("blank" in body) != ("blank" in sums_body)
            or any(len(body["shares"][c]) != len(sums_body["sums"][c]) for c in body["shares"])
        ):
            check.fail(index, "share-shape", trustee=j)
            ok = False
        seen.add(j)
        ds: dict[str, bytes] = {}
        if ok:
            assert h is not None
            h_j = ceremony.verification_keys[j - 1]
            for text, cand, g in pos:
                alpha = _pair(_value(sums_body, cand, g))[0]  # type: ignore[arg-type]
                value = base64.b64decode(_value(body, cand, g))  # type: ignore[arg-type]
                d = verify_share(ctx.origin, ctx.round, j, text, h, h_j, alpha, value)
                if d is None:
                    check.fail(index, "share-invalid", trustee=j, position=text)
                    ok = False
                    break
                ds[text] = d
        if ok:
            valid_shares.append((j, ds))
        elif within_k:
            first_k_ok = False
    k = ceremony.k
    if not first_k_ok:  # §10 item 7 combines the first k entries, all valid
        check.fail(None, "first-shares-invalid", round=ctx.round, k=k)
        return None
    if len(decryptions) < k:
        count = len(valid_shares)
        if final:
            check.fail(None, "shares-too-few", round=ctx.round, count=count, k=k)
        else:
            check.note("decryption-pending", round=ctx.round, count=count, k=k)
        return None
    chosen = valid_shares[:k]
    lam = group.lagrange_at_zero([j for j, _ in chosen])
    bound = sums_body["ballots"]
    table = group.DlogTable(bound)
    counts: dict[str, int] = {}
    for text, cand, g in pos:
        _alpha, beta = _pair(_value(sums_body, cand, g))  # type: ignore[arg-type]
        x_alpha = group.total(group.int_mul(lam[j], ds[text]) for j, ds in chosen)
        m = table.solve(group.sub(beta, x_alpha))
        if m is None:
            check.fail(None, "dlog-failed", position=text, bound=bound)
            return None
        counts[text] = m
    profiles = {c: [counts.get(f"{c}/{g}", 0) for g in range(ctx.n_grades)] for c in ctx.candidates}
    blank = counts.get("blank", 0)
    opened: Opened = {
        "profiles": profiles,
        "valid": proofs.counted - blank,
        "blank": blank,
        "invalid": proofs.lost,
    }
    check.note("decrypted", round=ctx.round, trustees=", ".join(str(j) for j, _ in chosen),
               valid=opened["valid"], blank=blank, invalid=proofs.lost)  # fmt: skip
    return opened
