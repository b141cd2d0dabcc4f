"""Trustees (docs/audit-log.md §10 "Key ceremony", "Encrypted tally"): check 14, and the
decryption of an encrypted round's sums for check 9.

The operator holds the log key, so it could write any entry; what it cannot do is sign as a
trustee. Every trustee-made body carries the trustee's own Ed25519 signature, the Feldman
commitments and Schnorr proofs fix the election key, and each decryption share carries a
Chaum–Pedersen proof against the trustee's verification key. Written from the spec text.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from audit import group
from audit.canonical import encode

if TYPE_CHECKING:  # report imports this module
    from audit.report import Check

# The entries check 14 replays (§9 check 14), in the order §10 "Key ceremony" numbers them.
CEREMONY_KINDS = ("trustee", "trustee-keygen", "trustee-ack", "election-key", "ceremony-restart")

NAMES = {14: ("garants : cérémonie des clés", "trustees: key ceremony")}

MESSAGES: dict[str, tuple[str, str]] = {
    "trustee-not-encrypted": (
        "entrée « {kind} » alors que la définition en vigueur n'a pas de bulletins chiffrés",
        "{kind!r} entry while the definition in force does not have encrypted ballots",
    ),
    "trustee-index": (
        "garant d'indice {trustee} : hors de 1 … {n} ou déjà enregistré",
        "trustee index {trustee}: outside 1 … {n} or already registered",
    ),
    "trustee-key-reused": (
        "garant {trustee} : clé {which} déjà utilisée par le garant {other}",
        "trustee {trustee}: {which} already used by trustee {other}",
    ),
    "trustee-name": (
        "garant {trustee} : nom de 1 à 200 caractères attendu",
        "trustee {trustee}: a name of 1 to 200 characters expected",
    ),
    "trustee-late": (
        "garant {trustee} enregistré après le début de la génération des clés",
        "trustee {trustee} registered after the key generation began",
    ),
    "trustee-unknown": (
        "« {kind} » du garant {trustee}, qui n'est pas enregistré",
        "{kind!r} by trustee {trustee}, who is not registered",
    ),
    "trustee-bad-signature": (
        "la signature du garant {trustee} sur « {kind} » ne vérifie pas",
        "trustee {trustee}'s signature on {kind!r} does not verify",
    ),
    "keygen-early": (
        "génération des clés du garant {trustee} avant l'enregistrement des {n}",
        "key generation by trustee {trustee} before all {n} are registered",
    ),
    "keygen-twice": (
        "deuxième génération des clés du garant {trustee}",
        "second key generation by trustee {trustee}",
    ),
    "commitments-count": (
        "garant {trustee} : {count} engagements, le seuil en demande {k}",
        "trustee {trustee}: {count} commitments, the threshold asks for {k}",
    ),
    "point-invalid": (
        "{what} : point invalide (hors du groupe d'ordre premier, non canonique ou neutre)",
        "{what}: invalid point (outside the prime-order group, non-canonical or the identity)",
    ),
    "pok-invalid": (
        "garant {trustee} : la preuve de connaissance du terme constant ne vérifie pas",
        "trustee {trustee}: the proof of knowledge of the constant term does not verify",
    ),
    "shares-shape": (
        "garant {trustee} : les parts ne vont pas une à une aux autres garants, dans l'ordre",
        "trustee {trustee}: the shares are not one per other trustee, in order",
    ),
    "share-box": (
        "garant {trustee} : la part pour {to} n'est pas une boîte NaCl de {size} octets",
        "trustee {trustee}: the share for {to} is not a NaCl box of {size} bytes",
    ),
    "ack-early": (
        "accusé du garant {trustee} avant les {n} générations de clés",
        "acknowledgement by trustee {trustee} before all {n} key generations",
    ),
    "ack-twice": (
        "deuxième accusé du garant {trustee}",
        "second acknowledgement by trustee {trustee}",
    ),
    "complaints-malformed": (
        "garant {trustee} : plaintes hors des autres garants ou pas dans l'ordre",
        "trustee {trustee}: complaints not about other trustees or not in increasing order",
    ),
    "complaint": (
        "le garant {trustee} se plaint des parts de {dealers} : aucune clé d'élection ne "
        "doit suivre dans cette tentative",
        "trustee {trustee} complains about the shares of {dealers}: no election key may follow "
        "in this attempt",
    ),
    "election-key-early": (
        "clé d'élection avant les accusés sans plainte des {n} garants",
        "election key before all {n} trustees acknowledged without complaint",
    ),
    "election-key-twice": ("deuxième clé d'élection", "second election key"),
    "election-key-differs": (
        "clé d'élection : {name} publié diffère du recalcul à partir des engagements",
        "election key: the published {name} differs from the one recomputed from the commitments",
    ),
    "restart-early": (
        "redémarrage de la cérémonie avant l'enregistrement des {n} garants",
        "ceremony restart before all {n} trustees are registered",
    ),
    "restart-after-key": (
        "redémarrage de la cérémonie après la clé d'élection",
        "ceremony restart after the election key",
    ),
    "restart-attempt": (
        "redémarrage : tentative {attempt}, la suivante est la {expected}",
        "restart: attempt {attempt}, the next one is {expected}",
    ),
    "restart-replaced": (
        "redémarrage : les garants remplacés ne sont pas des indices de 1 … {n} en ordre "
        "strictement croissant",
        "restart: the replaced trustees are not indexes of 1 … {n} in strictly increasing order",
    ),
    "restart-reason": (
        "redémarrage : motif de 1 à 500 caractères attendu, sans espace aux extrémités ni "
        "caractère de contrôle",
        "restart: a reason of 1 to 500 characters expected, without white space at either end "
        "or control characters",
    ),
    "attempt-mismatch": (
        "« {kind} » du garant {trustee} : membre attempt {stated}, attendu {expected} "
        "(tentative en cours : {attempt})",
        "{kind!r} by trustee {trustee}: member attempt {stated}, expected {expected} "
        "(current attempt: {attempt})",
    ),
    "restart": (
        "tentative {attempt} : garant(s) remplacé(s) {replaced} ; motif : {reason}",
        "attempt {attempt}: trustee(s) replaced {replaced}; reason: {reason}",
    ),
    "restart-same": (
        "tentative {attempt} : mêmes garants, nouveau tirage ; motif : {reason}",
        "attempt {attempt}: same trustees, new draw; reason: {reason}",
    ),
    "ceremony-after-roll": (
        "« {kind} » après la liste figée du tour 1 : la cérémonie doit la précéder",
        "{kind!r} after round 1's roll: the ceremony must come before it",
    ),
    "definition-trustees-changed": (
        "révision de la définition changeant {name} après l'enregistrement d'un garant",
        "definition revision changes {name} after a trustee was registered",
    ),
    "ceremony-incomplete": (
        "bulletins chiffrés sans clé d'élection (cérémonie : {state})",
        "encrypted ballots without an election key (ceremony: {state})",
    ),
    "ceremony-done": (
        "{n} garants, seuil {k} : clé d'élection recalculée",
        "{n} trustees, threshold {k}: election key recomputed",
    ),
}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def trustee_message(kind: str, origin: str, body: dict[str, Any]) -> bytes:
    rest = {k: v for k, v in body.items() if k != "trustee_sig"}
    return (
        b"scrutin-" + kind.encode("ascii") + b"/v2\x00" + origin.encode() + b"\x00" + encode(rest)
    )


def verifies(signing_key: bytes, message: bytes, sig_b64: str) -> bool:
    try:
        VerifyKey(signing_key).verify(message, base64.b64decode(sig_b64, validate=True))
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True


def share_message_prefix(origin: str, dealer: int, recipient: int) -> bytes:
    """The boxed message before its 32-byte share (§10 item 2)."""
    return (b"scrutin-trustee-share/v2\x00" + origin.encode() + b"\x00" + ipart(dealer)
            + b"\x00" + ipart(recipient) + b"\x00")  # fmt: skip


def ipart(n: int) -> bytes:
    return str(n).encode("ascii")


def reason_ok(text: str) -> bool:
    """§10 item 5: 1 to 500 characters (NFC: §2), stripped, no control character but \\n and \\t."""
    return (
        1 <= len(text) <= 500
        and text == text.strip()
        and not any(unicodedata.category(c) in ("Cc", "Cs") and c not in "\n\t" for c in text)
    )


def verify_pok(origin: str, index: int, commitments: Sequence[bytes], proof: bytes) -> bool:
    """Schnorr proof of knowledge of a_0 (commitments[0] = a_0·G): c || s."""
    if len(proof) != 64:
        return False
    try:
        c, s = group.scalar(proof[:32]), group.scalar(proof[32:])
    except group.GroupError:
        return False
    a = group.sub(group.base(s), group.mul(c, commitments[0]))
    if a == group.IDENTITY:
        return False
    parts = [origin.encode(), ipart(index), *commitments, a]
    return group.hash_to_scalar("trustee-pok", parts) == c


@dataclass
class Trustee:
    index: int
    entry: int
    signing_key: bytes
    box_key: bytes
    commitments: list[bytes] | None = None
    acked: bool = False
    complaints: list[int] = field(default_factory=list)


@dataclass
class Ceremony:
    """Replays the key ceremony (check 14) in log order."""

    origin: str
    check: Check
    n: int = 0
    k: int = 0
    encrypted: bool = False
    trustees: dict[int, Trustee] = field(default_factory=dict)
    keygen_started: bool = False
    election_key: bytes | None = None
    verification_keys: list[bytes] = field(default_factory=list)
    election_index: int | None = None
    roll_seen: bool = False
    complained: bool = False
    attempt: int = 1  # §10 item 5: each ceremony-restart starts the next attempt
    registered: list[Trustee] = field(default_factory=list)  # every attempt's trustees

    # -- definitions ----------------------------------------------------------------------
    def definition(self, index: int, body: dict[str, Any]) -> None:
        encrypted = body.get("ballots") == "encrypted"
        n, k = body.get("trustees", 0), body.get("trustee_threshold", 0)
        if self.registered and (encrypted, n, k) != (self.encrypted, self.n, self.k):
            for name, old, new in (("ballots", self.encrypted, encrypted), ("trustees", self.n, n),
                                   ("trustee_threshold", self.k, k)):  # fmt: skip
                if old != new:
                    self.check.fail(index, "definition-trustees-changed", name=name)
            return
        self.encrypted, self.n, self.k = encrypted, n, k

    def roll(self, index: int, body: dict[str, Any]) -> None:
        if body.get("round") == 1:
            self.roll_seen = True

    def _signed(self, index: int, kind: str, body: dict[str, Any]) -> Trustee | None:
        t = self.trustees.get(body["index"])
        if t is None:
            self.check.fail(index, "trustee-unknown", kind=kind, trustee=body["index"])
            return None
        if not verifies(
            t.signing_key, trustee_message(kind, self.origin, body), body["trustee_sig"]
        ):
            self.check.fail(index, "trustee-bad-signature", kind=kind, trustee=t.index)
            return None
        return t

    def _point(self, index: int, raw: bytes, what: str) -> bytes | None:
        if not group.is_point(raw):
            self.check.fail(index, "point-invalid", what=what)
            return None
        return raw

    # -- ceremony entries -----------------------------------------------------------------
    def entry(self, index: int, kind: str, body: dict[str, Any]) -> None:
        check = self.check
        if not self.encrypted:
            check.fail(index, "trustee-not-encrypted", kind=kind)
            return
        if self.roll_seen:
            check.fail(index, "ceremony-after-roll", kind=kind)
        if kind in ("trustee-keygen", "trustee-ack") and not self._attempt_matches(
            index, kind, body
        ):
            return
        getattr(self, "_" + kind.replace("-", "_"))(index, body)

    def _attempt_matches(self, index: int, kind: str, body: dict[str, Any]) -> bool:
        """§10: `attempt` is present exactly from attempt 2 on, and names the current one."""
        expected = self.attempt if self.attempt >= 2 else None
        if body.get("attempt") == expected:
            return True
        self.check.fail(index, "attempt-mismatch", kind=kind, trustee=body["index"],
                        stated=body.get("attempt", "absent"), expected=expected or "absent",
                        attempt=self.attempt)  # fmt: skip
        return False

    def _ceremony_restart(self, index: int, body: dict[str, Any]) -> None:
        """§10 item 5. A failing restart is reported and still takes effect."""
        check, n = self.check, self.n
        if self.election_index is not None:
            check.fail(index, "restart-after-key")
        if len(self.trustees) < n:
            check.fail(index, "restart-early", n=n)
        attempt, replaced = body["attempt"], body["replaced"]
        if attempt != self.attempt + 1:
            check.fail(index, "restart-attempt", attempt=attempt, expected=self.attempt + 1)
        if replaced != sorted(set(replaced)) or any(not 1 <= j <= n for j in replaced):
            check.fail(index, "restart-replaced", n=n)
        if not reason_ok(body["reason"]):
            check.fail(index, "restart-reason")
        self.attempt = attempt
        for j in replaced:
            self.trustees.pop(j, None)
        for t in self.trustees.values():
            t.commitments, t.acked, t.complaints = None, False, []
        self.keygen_started = self.complained = False
        # quoted and escaped: the organiser's words stay on one line, control characters inert
        reason = json.dumps(body["reason"], ensure_ascii=False)
        if replaced:
            dropped = ", ".join(map(str, replaced))
            check.note("restart", attempt=attempt, replaced=dropped, reason=reason)
        else:
            check.note("restart-same", attempt=attempt, reason=reason)

    def _trustee(self, index: int, body: dict[str, Any]) -> None:
        i = body["index"]
        if self.keygen_started:
            self.check.fail(index, "trustee-late", trustee=i)
        if not 1 <= i <= self.n or i in self.trustees:
            self.check.fail(index, "trustee-index", trustee=i, n=self.n)
            return
        if not 1 <= len(body["name"]) <= 200:
            self.check.fail(index, "trustee-name", trustee=i)
        sk = base64.b64decode(body["signing_key"])
        bk = base64.b64decode(body["box_key"])
        for t in self.registered:
            if t.signing_key == sk:
                self.check.fail(index, "trustee-key-reused", trustee=i, which="signing_key",
                                other=t.index)  # fmt: skip
            if t.box_key == bk:
                self.check.fail(index, "trustee-key-reused", trustee=i, which="box_key",
                                other=t.index)  # fmt: skip
        self.trustees[i] = Trustee(i, index, sk, bk)
        self.registered.append(self.trustees[i])

    def _trustee_keygen(self, index: int, body: dict[str, Any]) -> None:
        self.keygen_started = True
        i = body["index"]
        if len(self.trustees) < self.n:
            self.check.fail(index, "keygen-early", trustee=i, n=self.n)
        t = self._signed(index, "trustee-keygen", body)
        if t is None:
            return
        if t.commitments is not None:
            self.check.fail(index, "keygen-twice", trustee=i)
            return
        raws = [base64.b64decode(c) for c in body["commitments"]]
        if len(raws) != self.k:
            self.check.fail(index, "commitments-count", trustee=i, count=len(raws), k=self.k)
            return
        points = [self._point(index, raw, f"commitments[{t_}]") for t_, raw in enumerate(raws)]
        if any(p is None for p in points):
            return
        if not verify_pok(self.origin, i, raws, base64.b64decode(body["pok"])):
            self.check.fail(index, "pok-invalid", trustee=i)
        others = [j for j in range(1, self.n + 1) if j != i]
        if [s["to"] for s in body["shares"]] != others:
            self.check.fail(index, "shares-shape", trustee=i)
        for s in body["shares"]:
            # §10: nonce, Poly1305 tag and the message, whose length the indexes fix
            size = 24 + 16 + len(share_message_prefix(self.origin, i, s["to"])) + 32
            if len(base64.b64decode(s["box"])) != size:
                self.check.fail(index, "share-box", trustee=i, to=s["to"], size=size)
        t.commitments = raws

    def _trustee_ack(self, index: int, body: dict[str, Any]) -> None:
        i = body["index"]
        if len(self.trustees) < self.n or any(
            t.commitments is None for t in self.trustees.values()
        ):
            self.check.fail(index, "ack-early", trustee=i, n=self.n)
        t = self._signed(index, "trustee-ack", body)
        if t is None:
            return
        if t.acked:
            self.check.fail(index, "ack-twice", trustee=i)
            return
        t.acked = True
        complaints = body["complaints"]
        valid = [j for j in range(1, self.n + 1) if j != i]
        if complaints != sorted(set(complaints)) or any(j not in valid for j in complaints):
            self.check.fail(index, "complaints-malformed", trustee=i)
        if complaints:
            self.complained = True
            t.complaints = list(complaints)
            self.check.note("complaint", trustee=i, dealers=", ".join(map(str, complaints)))

    def _election_key(self, index: int, body: dict[str, Any]) -> None:
        if self.election_index is not None:
            self.check.fail(index, "election-key-twice")
            return
        self.election_index = index
        ready = (
            len(self.trustees) == self.n
            and all(t.acked and t.commitments is not None for t in self.trustees.values())
            and not self.complained
        )
        if not ready:
            self.check.fail(index, "election-key-early", n=self.n)
        published = base64.b64decode(body["public_key"])
        vkeys = [base64.b64decode(v) for v in body["verification_keys"]]
        self.election_key, self.verification_keys = published, vkeys
        if not ready:
            return
        public, mine = self.recompute()
        if published != public:
            self.check.fail(index, "election-key-differs", name="public_key")
        if vkeys != mine:
            self.check.fail(index, "election-key-differs", name="verification_keys")
        if body["trustees"] != self.n:
            self.check.fail(index, "election-key-differs", name="trustees")
        if body["threshold"] != self.k:
            self.check.fail(index, "election-key-differs", name="threshold")
        # Later checks use the recomputed keys: a published key that differs already failed.
        self.election_key, self.verification_keys = public, mine

    def recompute(self) -> tuple[bytes, list[bytes]]:
        """(Σ_i C_i,0, [h_j = Σ_t j^t·(Σ_i C_i,t) for j = 1 … n])."""
        columns = []
        for t_ in range(self.k):
            columns.append(group.total(t.commitments[t_] for t in self.trustees.values()))  # type: ignore[index]
        vkeys = []
        for j in range(1, self.n + 1):
            vkeys.append(group.total(group.int_mul(j**t_, col) for t_, col in enumerate(columns)))
        return columns[0], vkeys

    def finish(self) -> None:
        if self.election_index is not None and self.election_key is not None:
            self.check.note("ceremony-done", n=self.n, k=self.k)
        elif self.encrypted:
            state = (
                (f"attempt {self.attempt}: " if self.attempt >= 2 else "")
                + f"{len(self.trustees)}/{self.n} registered, "
                f"{sum(t.commitments is not None for t in self.trustees.values())} keygen, "
                f"{sum(t.acked for t in self.trustees.values())} ack"
            )
            self.check.note("ceremony-incomplete", state=state)
        elif not self.trustees:
            self.check.note("nothing")


# -- decryption shares (check 9 for encrypted rounds) --------------------------------------
def verify_share(
    origin: str,
    round_number: int,
    j: int,
    position: str,
    h: bytes,
    h_j: bytes,
    alpha: bytes,
    value: bytes,
) -> bytes | None:
    """d from ``d || c || s`` if the Chaum–Pedersen proof log_G h_j = log_α d holds."""
    if len(value) != 96 or not group.is_point(value[:32]):
        return None
    d = value[:32]
    try:
        c, s = group.scalar(value[32:64]), group.scalar(value[64:])
        a1 = group.sub(group.base(s), group.mul(c, h_j))
        a2 = group.sub(group.mul(s, alpha), group.mul(c, d))
    except group.GroupError:
        return None
    parts = [origin.encode(), ipart(round_number), ipart(j), position.encode(), h, h_j, alpha,
             d, a1, a2]  # fmt: skip
    return d if group.hash_to_scalar("decryption-share", parts) == c else None
