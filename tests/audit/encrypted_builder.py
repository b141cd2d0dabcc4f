"""Builds encrypted primaries (docs/audit-log.md §10) for scrutin-audit's tests: honest ones,
and dishonest ones an operator holding the log key could write.

The crypto is the producer's (crypto/trustees.py, crypto/encrypted_ballots.py); the entries'
bodies are laid out here from the spec text, and signed with tests/audit/builder.py's log key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from typing import Any

from nacl.public import PrivateKey
from nacl.signing import SigningKey

from audit.canonical import encode
from audit.credentials import roll_digest
from audit.recount import tally_profiles
from crypto import encrypted_ballots as eb
from crypto import trustees as tm
from tests.audit.builder import AUTO, LogBuilder, b64, definition_body

NAMES = {"A": "Alice Martin", "B": "Bruno Diallo", "C": "Chloé Nguyen"}
NAMES.update({x: f"Candidat {x}" for x in "DEFGHIJKL"})


def trustee_sig(key: SigningKey, kind: str, origin: str, body: dict[str, Any]) -> str:
    rest = {k: v for k, v in body.items() if k != "trustee_sig"}
    message = b"scrutin-" + kind.encode() + b"/v2\x00" + origin.encode() + b"\x00" + encode(rest)
    return b64(key.sign(message).signature)


@dataclass
class TrusteeKeys:
    index: int
    signing: SigningKey
    box: PrivateKey
    dealing: tm.Dealing | None = None
    secret: int = 0  # x_j, once the shares are in


def key_of(seed: int) -> SigningKey:
    return SigningKey(hashlib.sha256(b"voter" + seed.to_bytes(4, "big")).digest())


def pub(key: SigningKey) -> str:
    return b64(bytes(key.verify_key))


@dataclass
class EncryptedPrimary:
    """A primary with `ballots: "encrypted"`: candidates A, B, C (or more),
    citizens 1…voters registered, n trustees of threshold k, round 1 open."""

    n: int = 3
    k: int = 2
    voters: int = 6
    candidates: int = 3  # A, B, C, … (up to 12)
    definition: dict[str, Any] = field(default_factory=dict)
    b: LogBuilder = field(default_factory=LogBuilder)

    def __post_init__(self) -> None:
        b = self.b
        letters = "ABCDEFGHIJKL"[: self.candidates]
        self.ids = {x: str(uuid.UUID(int=i + 1)) for i, x in enumerate(letters)}
        self.d = definition_body(
            **{
                "threshold": 0,
                "support_cap": 0,
                "credentials": "voter",
                "ballots": "encrypted",
                "trustees": self.n,
                "trustee_threshold": self.k,
                "qualification": "threshold",
                **self.definition,
            }
        )
        self.index: dict[str, int] = {}
        self.index["definition"] = b.add("definition", self.d)
        self.decl = {x: hashlib.sha256(x.encode()).hexdigest() for x in self.ids}
        for x in self.ids:
            for action in ("submitted", "published"):
                b.add("candidacy", self._candidacy(x, action))
        self.keys = {v: key_of(v) for v in range(1, self.voters + 1)}
        for v, key in self.keys.items():
            body = {
                "credential": pub(key),
                "citizen": hmac.new(v.to_bytes(32, "big"), b"x", hashlib.sha256).hexdigest(),
                "assisted": False,
            }
            b.add("credential", body)
        for x in self.ids:
            b.add("qualification", {"candidate": self.ids[x], "supports": 0, "threshold": 0})
            b.add("candidacy", self._candidacy(x, "confirmed"))
        self.trustees = [
            TrusteeKeys(
                j,
                SigningKey(hashlib.sha256(b"trustee-sign" + bytes([j])).digest()),
                PrivateKey(hashlib.sha256(b"trustee-box" + bytes([j])).digest()),
            )
            for j in range(1, self.n + 1)
        ]
        self.ballots: list[tuple[int, SigningKey, dict[str, int], Any]] = []
        self.attempt = 1  # the ceremony's current attempt (§10 item 5)
        self.restarts = 0

    def _candidacy(self, x: str, action: str) -> dict[str, Any]:
        return {
            "candidate": self.ids[x],
            "action": action,
            "name": NAMES[x],
            "declaration": self.decl[x],
            "reason": "",
        }

    @property
    def origin(self) -> str:
        return self.b.origin

    def sign(self, t: TrusteeKeys, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "trustee_sig": trustee_sig(t.signing, kind, self.origin, body)}

    # -- the key ceremony ---------------------------------------------------------------------
    def ceremony(self, *, election_key: bool = True,
                 complaints: dict[int, list[int]] | None = None) -> None:  # fmt: skip
        """Register every trustee, then run an attempt (§10 "Key ceremony")."""
        self.register()
        self.attempt_round(election_key=election_key, complaints=complaints)

    def register(self, which: list[int] | None = None) -> None:
        """`trustee` entries for the trustees of these indexes (all by default)."""
        for t in self.trustees:
            if which is None or t.index in which:
                self.index[f"trustee-{t.index}"] = self.b.add(
                    "trustee",
                    {
                        "index": t.index,
                        "name": f"Administrateur {t.index}",
                        "signing_key": pub(t.signing),
                        "box_key": b64(bytes(t.box.public_key)),
                    },
                )

    def attempt_round(self, *, election_key: bool = True,
                      complaints: dict[int, list[int]] | None = None) -> None:  # fmt: skip
        """Every trustee's keygen then ack (with `complaints` by index), then the
        election-key unless told not to (or a complaint stops the attempt)."""
        b, origin = self.b, self.origin
        for t in self.trustees:
            t.dealing = tm.deal(origin, t.index, self.k)
        for t in self.trustees:
            assert t.dealing is not None
            shares = [
                {
                    "box": b64(
                        tm.seal_share(
                            origin,
                            t.index,
                            o.index,
                            t.dealing.share_for(o.index),
                            bytes(t.box),
                            bytes(o.box.public_key),
                        )
                    ),
                    "to": o.index,
                }
                for o in self.trustees
                if o is not t
            ]
            body = {
                "index": t.index,
                "commitments": [b64(c) for c in t.dealing.commitments],
                "pok": b64(t.dealing.pok),
                "shares": shares,
            }
            self.index[f"keygen-{t.index}"] = b.add(
                "trustee-keygen", self.sign(t, "trustee-keygen", self.attempt_body(body))
            )
        for t in self.trustees:
            t.secret = tm.secret_share(d.dealing.share_for(t.index) for d in self.trustees)  # type: ignore[union-attr]
            body = {"index": t.index, "complaints": (complaints or {}).get(t.index, [])}
            self.index[f"ack-{t.index}"] = b.add(
                "trustee-ack", self.sign(t, "trustee-ack", self.attempt_body(body))
            )
        commitments = [t.dealing.commitments for t in self.trustees]  # type: ignore[union-attr]
        self.public_key = tm.election_key(commitments)
        self.verification_keys = [tm.verification_key(commitments, t.index) for t in self.trustees]
        if election_key and not complaints:
            self.index["election-key"] = b.add("election-key", self.election_key_body())

    def election_key_body(self) -> dict[str, Any]:
        return {
            "public_key": b64(self.public_key),
            "verification_keys": [b64(v) for v in self.verification_keys],
            "trustees": self.n,
            "threshold": self.k,
        }

    def attempt_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """§10: a keygen's or ack's `attempt`, present from attempt 2 on."""
        return {**body, "attempt": self.attempt} if self.attempt >= 2 else body

    def restart(self, replaced: list[int], reason: str = "Le garant 2 a envoyé une part fausse.",
                *, attempt: int | None = None) -> int:  # fmt: skip
        """The organiser's `ceremony-restart` (§10 item 5): the next attempt starts, and the
        trustees of `replaced` get new keys (to register with `register(replaced)`)."""
        self.attempt = self.attempt + 1 if attempt is None else attempt
        self.restarts += 1
        for j in replaced:
            if 1 <= j <= self.n:
                seed = bytes([j, self.restarts])
                self.trustees[j - 1] = TrusteeKeys(
                    j,
                    SigningKey(hashlib.sha256(b"trustee-sign" + seed).digest()),
                    PrivateKey(hashlib.sha256(b"trustee-box" + seed).digest()),
                )
        body = {"attempt": self.attempt, "replaced": replaced, "reason": reason}
        self.index[f"restart-{self.attempt}"] = self.b.add("ceremony-restart", body)
        return self.index[f"restart-{self.attempt}"]

    def roll(self) -> int:
        keys = list(self.keys.values())
        return self.b.add(
            "roll",
            {
                "round": 1,
                "count": len(keys),
                "assisted": 0,
                "digest": roll_digest([pub(k) for k in keys]),
            },
        )

    def open(self, *, roll: bool = True) -> int:
        """Round 1's roll (unless already written) and round-open."""
        if roll:
            self.roll()
        self.b.advance_to("2026-02-01T00:00:00Z")
        self.index["round-open"] = self.b.add(
            "round-open",
            {
                "round": 1,
                "candidates": [
                    {"candidate": cid, "name": NAMES[x], "declaration": self.decl[x]}
                    for x, cid in self.ids.items()
                ],
                "election_public_key": b64(self.public_key),
                "subset_size": self.d["subset_size"],
                "allow_blank": self.d["allow_blank"],
            },
        )
        return self.index["round-open"]

    def params(self) -> eb.RoundParams:
        return eb.RoundParams(
            origin=self.origin,
            round=1,
            election_key=self.public_key,
            candidates=tuple(self.ids.values()),
            n_grades=len(self.d["grades"]),
            allow_blank=self.d["allow_blank"],
            subset_size=self.d["subset_size"],
        )

    def cast(self, voter: int, grades: dict[str, int] | None, *,
             candidates: list[str] | None = None) -> int:  # fmt: skip
        """Voter `voter` grades candidates by letter (None: blank), on their subset or all."""
        key = self.keys[voter]
        letters = candidates or (list(grades) if grades else list(self.ids))
        cands = [self.ids[x] for x in letters]
        real = None if grades is None else {self.ids[x]: g for x, g in grades.items()}
        body = eb.build_ballot(self.params(), cands, real, key)
        index = self.b.add("ballot", body)
        self.ballots.append((index, key, real or {}, body))
        return index

    def counted(self) -> list[tuple[int, SigningKey, dict[str, int], Any]]:
        """The last ballot of each credential (all honest ballots are valid)."""
        last: dict[str, tuple[int, SigningKey, dict[str, int], Any]] = {}
        for item in self.ballots:
            last[pub(item[1])] = item
        return sorted(last.values(), key=lambda item: item[0])

    def honest_sums(self) -> dict[str, Any]:
        params = self.params()
        ballots = [
            eb.unpack(base64.b64decode(body["encrypted"]), params)
            for _, _, _, body in self.counted()
        ]
        sums = eb.sum_ballots(params.n_grades, ballots)
        return self.sums_body(
            {c: [(ct.alpha, ct.beta) for ct in cells] for c, cells in sums.rows.items()},
            sums.ballots,
            None if sums.blank is None else (sums.blank.alpha, sums.blank.beta),
        )

    def honest_profiles(self) -> tuple[dict[str, list[int]], int, int]:
        n = len(self.d["grades"])
        profiles = {c: [0] * n for c in self.ids.values()}
        valid = blank = 0
        for _, _, real, _ in self.counted():
            if not real:
                blank += 1
                continue
            valid += 1
            for c, g in real.items():
                profiles[c][g] += 1
        return profiles, valid, blank

    def finish(self, *, k: int | None = None) -> dict[str, Any]:
        """Close, publish the sums, k decryptions and the result: the honest tally."""
        self.close()
        sums = self.honest_sums()
        self.publish_sums(sums)
        self.publish_decryptions(sums, list(range(1, (k or self.k) + 1)))
        profiles, valid, blank = self.honest_profiles()
        self.publish_result(self.result_body(profiles, valid, blank))
        return sums

    # -- the tally ----------------------------------------------------------------------------
    def close(self, turnout: int | None = None) -> None:
        voters = {pub(k) for _, k, _, _ in self.ballots}
        n = len(voters) if turnout is None else turnout
        self.index["round-close"] = self.b.add("round-close", {"round": 1, "turnout": n})

    def sums_body(self, sums: dict[str, list[tuple[bytes, bytes]]], ballots: int,
                  blank: tuple[bytes, bytes] | None) -> dict[str, Any]:  # fmt: skip
        body: dict[str, Any] = {
            "round": 1,
            "ballots": ballots,
            "sums": {c: [b64(a + bb) for a, bb in cells] for c, cells in sums.items()},
        }
        if blank is not None:
            body["blank"] = b64(blank[0] + blank[1])
        return body

    def publish_sums(self, body: dict[str, Any]) -> int:
        self.index["tally-sums"] = self.b.add("tally-sums", body)
        return self.index["tally-sums"]

    def decryption_body(self, t: TrusteeKeys, sums: dict[str, Any], secret: int | None = None
                        ) -> dict[str, Any]:  # fmt: skip
        ctx = tm.Context(self.origin, 1, self.public_key)
        x = t.secret if secret is None else secret

        def share(position: str, value: str) -> str:
            alpha = base64.b64decode(value)[:32]
            return b64(tm.decryption_share(ctx, t.index, x, position, alpha))

        body: dict[str, Any] = {
            "round": 1,
            "index": t.index,
            "shares": {
                c: [share(f"{c}/{g}", v) for g, v in enumerate(cells)]
                for c, cells in sums["sums"].items()
            },
        }
        if "blank" in sums:
            body["blank"] = share("blank", sums["blank"])
        return self.sign(t, "trustee-decryption", body)

    def publish_decryptions(self, sums: dict[str, Any], which: list[int] | None = None) -> None:
        for j in which or list(range(1, self.k + 1)):
            t = self.trustees[j - 1]
            self.index[f"decryption-{j}"] = self.b.add(
                "trustee-decryption", self.decryption_body(t, sums)
            )

    def result_body(self, profiles: dict[str, list[int]], valid: int, blank: int,
                    invalid: int = 0) -> dict[str, Any]:  # fmt: skip
        d = self.d
        t = tally_profiles(
            len(d["grades"]),
            profiles,
            rule=d["rule"],
            missing=d["missing"],
            default_grade=d["default_grade"],
            upper_median=d["upper_median"],
            participants=valid,
        )
        return {
            "round": 1,
            "tree_size": AUTO,
            "root": AUTO,
            "rule": d["rule"],
            "missing": d["missing"],
            "upper_median": d["upper_median"],
            "default_grade": d["default_grade"],
            "counts": {"valid": valid, "blank": blank, "invalid": invalid},
            **t,
        }

    def publish_result(self, body: dict[str, Any]) -> int:
        self.index["result"] = self.b.add("result", body)
        return self.index["result"]

    def export(self) -> dict[str, Any]:
        return self.b.export()


def voted(**kw: Any) -> EncryptedPrimary:
    """Ceremony done, round 1 open, four voters (one blank, one revote)."""
    p = EncryptedPrimary(**kw)
    p.ceremony()
    p.open()
    p.cast(1, {"A": 6, "B": 3, "C": 1})
    p.cast(2, {"A": 2, "B": 3, "C": 0})
    p.cast(3, None)
    p.cast(4, {"A": 5, "B": 5, "C": 5})
    p.cast(1, {"A": 0, "B": 1, "C": 2})  # the revote counts
    return p
