"""Findings, checks and the report, in French (default) or English."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypedDict

from audit.credentials import MESSAGES as CREDENTIAL_MESSAGES
from audit.credentials import NAMES as CREDENTIAL_NAMES
from audit.credentials import CredentialSummary
from audit.encrypted import MESSAGES as ENCRYPTED_MESSAGES
from audit.trustees import MESSAGES as TRUSTEE_MESSAGES
from audit.trustees import NAMES as TRUSTEE_NAMES
from audit.witness import MESSAGES as WITNESS_MESSAGES
from audit.witness import NAMES as WITNESS_NAMES

MAX_STORED = 1000

CHECK_NAMES: dict[int, tuple[str, str]] = {
    1: (
        "signature du point de contrôle par la clé épinglée",
        "checkpoint signature by the pinned key",
    ),
    2: (
        "complétude : racine recalculée = point de contrôle",
        "completeness: recomputed root = checkpoint",
    ),
    3: (
        "ajout seul : cohérence avec les points de contrôle enregistrés",
        "append-only: consistency with saved checkpoints",
    ),
    4: ("entrées canoniques, enveloppes bien formées", "canonical entries, well-formed envelopes"),
    5: (
        "signatures des entrées et droits des signataires",
        "entry signatures and signer permissions",
    ),
    6: ("ordre légal des phases", "legal sequence of phases"),
    7: ("soutiens et qualifications recomptés", "supports and qualifications recounted"),
    8: (
        "bulletins : dans leur tour, sans doublon, participation",
        "ballots: inside their round, no duplicate, turnout",
    ),
    9: (
        "ouverture des bulletins avec la clé de dépouillement (chiffrés : preuves, sommes, "
        "déchiffrement par les garants)",
        "opening ballots with the tally key (encrypted: proofs, sums, the trustees' decryption)",
    ),
    10: ("recomptage du jugement majoritaire", "majority judgment recount"),
    11: (
        "calendrier : chaque entrée dans la phase annoncée",
        "timeline: every entry inside its announced phase",
    ),
}

RECEIPT_CHECK_NAMES: dict[int, tuple[str, str]] = {
    1: ("signature du point de contrôle du reçu", "receipt checkpoint signature"),
    2: ("inclusion du bulletin dans l'arbre", "inclusion of the ballot in the tree"),
    3: (
        "cohérence avec le dernier point de contrôle du journal",
        "consistency with the log's latest checkpoint",
    ),
    4: ("contenu du bulletin", "ballot contents"),
}

MESSAGES: dict[str, tuple[str, str]] = {
    "nothing": ("rien à vérifier", "nothing to check"),
    # 6, a qualified candidate's answer and the list of round 1 (§8 "confirmed" … "lapsed")
    "round-candidate-unconfirmed": (
        "tour 1 : {candidate} est qualifié mais n'a pas confirmé sa participation",
        "round 1: {candidate} qualified but did not confirm taking part",
    ),
    "round-candidate-missing": (
        "tour 1 : {candidate} a confirmé sa participation mais n'est pas sur la liste",
        "round 1: {candidate} confirmed taking part but is not on the list",
    ),
    "qualified-unanswered": (
        "tour 1 : {candidate}, qualifié, n'a ni confirmé, ni renoncé, ni expiré (« lapsed ») "
        "avant l'ouverture : le journal ne dit pas pourquoi il est absent",
        "round 1: {candidate}, qualified, neither confirmed, declined nor lapsed before the "
        "opening: the log does not say why it is left off",
    ),
    # 11 (audit/timeline.py)
    "time-goes-back": (
        "daté {time}, plus de 300 s avant une entrée précédente ({latest})",
        "dated {time}, more than 300 s before an earlier entry ({latest})",
    ),
    "phases-malformed": (
        "les phases de cette définition sont illisibles",
        "this definition's phases are malformed",
    ),
    "phases-invalid": (
        "phase « {phase} » contraire aux règles des phases (nom, numéro, ordre ou dates)",
        "phase {phase!r} breaks the phase rules (name, number, order or dates)",
    ),
    "revision-drops-begun-phase": (
        "la révision retire la phase « {phase} », commencée le {start}",
        "the revision removes phase “{phase}”, which began at {start}",
    ),
    "revision-moves-past": (
        "la révision change la date de {bound} de « {phase} », déjà passée ({old})",
        "the revision changes the {bound} of “{phase}”, already past ({old})",
    ),
    "revision-sets-past": (
        "la révision place la date de {bound} de « {phase} » dans le passé ({new})",
        "the revision puts the {bound} of “{phase}” in the past ({new})",
    ),
    "phase-not-announced": (
        "{what} alors que la définition n'annonce pas de phase « {phase} »",
        "{what} while the definition announces no “{phase}” phase",
    ),
    "outside-phase": (
        "{what} daté {time}, hors de la phase « {phase} » [{start}, {end})",
        "{what} dated {time}, outside phase “{phase}” [{start}, {end})",
    ),
    "source-note": ("{detail}", "{detail}"),
    # 1
    "vkey-differs": (
        "la clé publiée ({published}) n'est pas la clé épinglée",
        "the published key ({published}) is not the pinned key",
    ),
    "export-origin": (
        "l'export déclare l'origine {origin!r}, pas celle de la clé",
        "the export names origin {origin!r}, not the key's",
    ),
    "checkpoint-malformed": (
        "point de contrôle {which} illisible : {detail}",
        "checkpoint {which} is malformed: {detail}",
    ),
    "checkpoint-origin": (
        "point de contrôle {which} : origine {origin!r} au lieu du nom de la clé",
        "checkpoint {which}: origin {origin!r} is not the key name",
    ),
    "checkpoint-unsigned": (
        "point de contrôle {which} (taille {size}) : aucune signature de la "
        "clé épinglée (nom et identifiant)",
        "checkpoint {which} (size {size}): no signature by the pinned key (name and key ID)",
    ),
    "checkpoint-bad-signature": (
        "point de contrôle {which} (taille {size}) : la signature ne vérifie pas",
        "checkpoint {which} (size {size}): the signature does not verify",
    ),
    "checkpoint-missing": (
        "aucun point de contrôle : rien de signé par la clé du journal ne couvre ses entrées",
        "no checkpoint: nothing signed by the log key covers its entries",
    ),
    # 2
    "no-checkpoint": ("aucun point de contrôle lisible", "no readable checkpoint"),
    "size-mismatch": (
        "le point de contrôle couvre {size} entrées, le journal en contient {entries}",
        "the checkpoint covers {size} entries, the log has {entries}",
    ),
    "checkpoints-shrink": (
        "point de contrôle {which} : taille {size} inférieure à la précédente ({prev})",
        "checkpoint {which}: size {size} smaller than the previous ({prev})",
    ),
    "checkpoint-beyond": (
        "point de contrôle {which} : taille {size} au-delà des {entries} entrées",
        "checkpoint {which}: size {size} beyond the {entries} entries",
    ),
    "root-mismatch": (
        "point de contrôle {which} : la racine des {size} premières entrées diffère",
        "checkpoint {which}: the root of the first {size} entries differs",
    ),
    "changed-between": (
        "une entrée d'index {start} à {end} a été modifiée, ajoutée ou retirée",
        "an entry with index {start} to {end} was changed, added or removed",
    ),
    "hash-tile": (
        "la tuile {path} ne correspond pas aux entrées",
        "tile {path} does not match the entries",
    ),
    # 3
    "no-state": (
        "pas de --state : aucun point de contrôle antérieur à comparer",
        "no --state: no earlier checkpoint to compare with",
    ),
    "first-run": (
        "premier passage : point de contrôle enregistré dans {path} si tout réussit",
        "first run: checkpoint saved to {path} if everything passes",
    ),
    "state-unreadable": (
        "point de contrôle enregistré illisible ({path}) : {detail}",
        "saved checkpoint unreadable ({path}): {detail}",
    ),
    "state-unsigned": (
        "point de contrôle enregistré ({path}) non signé par la clé épinglée",
        "saved checkpoint ({path}) not signed by the pinned key",
    ),
    "rollback": (
        "retour en arrière : taille enregistrée {old}, taille actuelle {new}",
        "rollback: saved size {old}, current size {new}",
    ),
    "fork": (
        "bifurcation : les {size} premières entrées ne donnent plus la racine enregistrée",
        "fork: the first {size} entries no longer give the saved root",
    ),
    "no-proof-endpoint": (
        "le service ne fournit pas de preuve de cohérence ; préfixe recalculé",
        "the service gives no consistency proof; prefix recomputed",
    ),
    "bad-consistency-proof": (
        "la preuve de cohérence {old}→{new} du service ne vérifie pas",
        "the service's consistency proof {old}→{new} does not verify",
    ),
    "consistent-with": (
        "cohérent avec le point de contrôle enregistré (taille {old})",
        "consistent with the saved checkpoint (size {old})",
    ),
    # 4
    "entry-malformed": ("entrée invalide : {detail}", "invalid entry: {detail}"),
    "entry-base64": (
        "l'export écrit cette entrée en base64 non canonique (bits inutilisés non nuls)",
        "the export spells this entry in non-canonical base64 (non-zero unused bits)",
    ),
    # 5
    "signer-not-allowed": (
        "le signataire {signer} n'a pas le droit de signer « {kind} » "
        "(v1 : seule la clé du journal)",
        "signer {signer} may not sign {kind!r} (v1: only the log key)",
    ),
    "bad-signature": (
        "la signature de l'entrée « {kind} » ne vérifie pas",
        "the signature of this {kind!r} entry does not verify",
    ),
    # 6
    "definition-unreadable": (
        "la première entrée, rejetée au contrôle 4, ne peut pas être la définition",
        "the first entry failed check 4, so it is not the definition",
    ),
    "definition-first": (
        "la première entrée doit être la définition, pas « {kind} »",
        "the first entry must be the definition, not {kind!r}",
    ),
    "revision-order": (
        "révision {revision} de la définition, attendue {expected}",
        "definition revision {revision}, expected {expected}",
    ),
    "definition-after-open": (
        "définition révisée après l'ouverture du premier tour",
        "definition revised after the first round opened",
    ),
    "slug": (
        "slug {slug!r} différent de celui de l'origine ({expected!r})",
        "slug {slug!r} differs from the origin's ({expected!r})",
    ),
    "definition-scale": (
        "échelle de mentions invalide (au moins 2 mentions, mention par défaut dans l'échelle)",
        "invalid grade scale (at least 2 grades, default grade in the scale)",
    ),
    "before-definition": (
        "entrée « {kind} » avant la définition",
        "{kind!r} entry before the definition",
    ),
    "candidacy-unknown": (
        "candidature {candidate} : « {action} » avant « submitted »",
        "candidacy {candidate}: {action!r} before 'submitted'",
    ),
    "candidacy-resubmitted": (
        "candidature {candidate} déposée deux fois",
        "candidacy {candidate} submitted twice",
    ),
    "candidacy-closed": (
        "candidature {candidate} : « {action} » après sa clôture",
        "candidacy {candidate}: {action!r} after it was closed",
    ),
    "qualification-after-open": (
        "qualification de {candidate} après l'ouverture du premier tour",
        "qualification of {candidate} after the first round opened",
    ),
    "round-order": (
        "tour {round} ouvert hors ordre (attendu : {expected})",
        "round {round} opened out of order (expected {expected})",
    ),
    "round-still-open": (
        "nouveau tour ouvert alors que le tour {round} n'est pas clos",
        "new round opened while round {round} is not closed",
    ),
    "open-before-result": (
        "tour {round} ouvert avant le résultat du tour {prev}",
        "round {round} opened before the result of round {prev}",
    ),
    "round-duplicate-candidate": (
        "tour {round} : candidat en double dans la liste",
        "round {round}: duplicate candidate in the list",
    ),
    "round-candidate-ineligible": (
        "candidat {candidate} inconnu, rejeté ou retiré dans la liste du tour",
        "candidate {candidate} unknown, rejected or withdrawn in the round's list",
    ),
    "round-candidate-unqualified": (
        "candidat {candidate} au premier tour sans qualification",
        "candidate {candidate} on round 1 without qualification",
    ),
    "round-candidate-new": (
        "candidat {candidate} absent du tour {prev}",
        "candidate {candidate} was not in round {prev}",
    ),
    "round-setting": (
        "{name} de l'ouverture du tour différent de la définition",
        "round-open {name} differs from the definition",
    ),
    "close-without-open": (
        "clôture du tour {round} qui n'est pas ouvert",
        "closing round {round}, which is not open",
    ),
    "tally-key-phase": (
        "clé de dépouillement du tour {round} avant sa clôture ou en double",
        "tally key of round {round} before its closing or twice",
    ),
    "result-phase": (
        "résultat du tour {round} avant la clé de dépouillement ou en double",
        "result of round {round} before the tally key or twice",
    ),
    "result-phase-encrypted": (
        "résultat du tour chiffré {round} avant ses sommes chiffrées (tally-sums) ou en double",
        "result of encrypted round {round} before its tally-sums or twice",
    ),
    # 7
    "support-after-open": (
        "« {kind} » après l'ouverture du premier tour",
        "{kind!r} after the first round opened",
    ),
    "support-unknown": (
        "soutien à un candidat inconnu {candidate}",
        "support for unknown candidate {candidate}",
    ),
    "support-after-qualification": (
        "soutien modifié pour {candidate} après sa qualification (entrée {qualified})",
        "support changed for {candidate} after its qualification (entry {qualified})",
    ),
    "support-duplicate": (
        "soutien en double du même pseudonyme à {candidate}",
        "duplicate support by the same pseudonym for {candidate}",
    ),
    "support-cap": (
        "ce pseudonyme dépasse le plafond de {cap} soutiens",
        "this pseudonym exceeds the cap of {cap} supports",
    ),
    "withdrawal-unknown": (
        "retrait d'un soutien inexistant à {candidate}",
        "withdrawal of a non-existent support for {candidate}",
    ),
    "qualification-unknown": (
        "qualification d'un candidat inconnu {candidate}",
        "qualification of unknown candidate {candidate}",
    ),
    "qualified-twice": (
        "{candidate} qualifié deux fois (d'abord entrée {first})",
        "{candidate} qualified twice (first at entry {first})",
    ),
    "threshold-differs": (
        "seuil déclaré {stated}, la définition dit {threshold}",
        "stated threshold {stated}, the definition says {threshold}",
    ),
    "supports-differ": (
        "{candidate} : {stated} soutiens déclarés, {recount} recomptés",
        "{candidate}: {stated} supports stated, {recount} recounted",
    ),
    "below-threshold": (
        "{candidate} qualifié avec {recount} soutiens, seuil {threshold}",
        "{candidate} qualified with {recount} supports, threshold {threshold}",
    ),
    # 8
    "ballot-before-open": (
        "bulletin pour le tour {round} qui n'est pas ouvert",
        "ballot for round {round}, which is not open",
    ),
    "ballot-after-close": (
        "bulletin pour le tour {round} après sa clôture (entrée {close})",
        "ballot for round {round} after its closing (entry {close})",
    ),
    "ballot-duplicate": (
        "bulletin scellé identique à l'entrée {first}",
        "same sealed ballot as entry {first}",
    ),
    "turnout": (
        "tour {round} : participation déclarée {turnout}, {ballots} bulletins",
        "round {round}: stated turnout {turnout}, {ballots} ballot entries",
    ),
    "round-open-now": (
        "tour {round} encore ouvert ({ballots} bulletins)",
        "round {round} still open ({ballots} ballots)",
    ),
    # 9
    "key-not-revealed": (
        "tour {round} : clé de dépouillement pas encore publiée",
        "round {round}: tally key not revealed yet",
    ),
    "tally-key-mismatch": (
        "la clé de dépouillement du tour {round} ne correspond pas à la clé "
        "publique de l'ouverture",
        "the tally key of round {round} does not match the round-open public key",
    ),
    "opened": (
        "tour {round} : {valid} valides, {blank} blancs, {invalid} invalides",
        "round {round}: {valid} valid, {blank} blank, {invalid} invalid",
    ),
    "invalid-does-not-open": (
        "bulletin invalide : ne s'ouvre pas avec la clé",
        "invalid ballot: does not open with the key",
    ),
    "invalid-not-canonical": (
        "bulletin invalide : JSON non canonique ({detail})",
        "invalid ballot: not canonical JSON ({detail})",
    ),
    "invalid-bad-shape": ("bulletin invalide : forme incorrecte", "invalid ballot: wrong shape"),
    "invalid-wrong-round": (
        "bulletin invalide : désigne le tour {detail}",
        "invalid ballot: names round {detail}",
    ),
    "invalid-unknown-candidate": (
        "bulletin invalide : candidat {detail} absent du tour",
        "invalid ballot: candidate {detail} not in the round",
    ),
    "invalid-grade-out-of-range": (
        "bulletin invalide : mention hors échelle ({detail})",
        "invalid ballot: grade outside the scale ({detail})",
    ),
    "invalid-pad-not-spaces": (
        "bulletin invalide : le remplissage contient autre chose que des espaces ({detail})",
        "invalid ballot: the pad holds something other than spaces ({detail})",
    ),
    "invalid-wrong-length": (
        "bulletin invalide : longueur du texte clair incorrecte (octets : {detail})",
        "invalid ballot: wrong plaintext length (bytes: {detail})",
    ),
    "invalid-blank-not-allowed": (
        "bulletin invalide : vote blanc non autorisé",
        "invalid ballot: blank not allowed",
    ),
    # 10
    "result-setting": (
        "résultat : {name} = {stated!r}, la définition dit {expected!r}",
        "result: {name} = {stated!r}, the definition says {expected!r}",
    ),
    "result-tree-size": (
        "résultat : tree_size {size} ne couvre pas la clôture (entrée {close}) "
        "ou dépasse le résultat",
        "result: tree_size {size} does not cover the closing (entry {close}) "
        "or goes past the result",
    ),
    "result-root": (
        "résultat : la racine ne correspond pas à l'arbre de taille {size}",
        "result: root does not match the tree of size {size}",
    ),
    "cannot-recount": (
        "tour {round} : recomptage impossible (clé de dépouillement incorrecte)",
        "round {round}: cannot recount (wrong tally key)",
    ),
    "cannot-recount-encrypted": (
        "tour chiffré {round} : recomptage impossible, les sommes ne se déchiffrent pas à partir "
        "des bulletins (voir le contrôle 9)",
        "encrypted round {round}: cannot recount, the ballots' sums do not decrypt (see check 9)",
    ),
    "count-differs": (
        "résultat : {name} = {stated}, recompté {recount}",
        "result: {name} = {stated}, recounted {recount}",
    ),
    "tally-error": ("dépouillement impossible : {detail}", "cannot tally: {detail}"),
    "result-extra-candidate": (
        "résultat : {candidate} n'est pas candidat à ce tour",
        "result: {candidate} is not a candidate of this round",
    ),
    "result-missing-candidate": ("résultat : {candidate} manque", "result: {candidate} missing"),
    "result-value": (
        "résultat : {candidate} {name} = {stated}, recompté {recount}",
        "result: {candidate} {name} = {stated}, recounted {recount}",
    ),
    "result-ranking": (
        "résultat : classement [{stated}], recompté [{recount}]",
        "result: ranking [{stated}], recounted [{recount}]",
    ),
    "result-ties": (
        "résultat : ex aequo {stated}, recomptés {recount}",
        "result: tie groups {stated}, recounted {recount}",
    ),
    # receipt
    "receipt-malformed": ("reçu invalide : {detail}", "invalid receipt: {detail}"),
    "receipt-key-differs": (
        "la clé du reçu n'est pas la clé épinglée",
        "the receipt's key is not the pinned key",
    ),
    "receipt-tracker": (
        "le traceur ne correspond pas à l'entrée",
        "the tracker does not match the entry",
    ),
    "receipt-not-included": (
        "l'entrée n'est pas à l'index {at} de l'arbre de taille {size}",
        "the entry is not at index {at} of the tree of size {size}",
    ),
    "receipt-included": (
        "bulletin {short} à l'index {at}, arbre de taille {size}",
        "ballot {short} at index {at}, tree of size {size}",
    ),
    "receipt-entry-differs": (
        "le journal a une autre entrée à l'index {at}",
        "the log has another entry at index {at}",
    ),
    "receipt-log-inconsistent": (
        "le journal n'est pas cohérent avec le point de contrôle du reçu",
        "the log is not consistent with the receipt's checkpoint",
    ),
    "receipt-log-unverified": (
        "le point de contrôle du journal ne vérifie pas",
        "the log's checkpoint does not verify",
    ),
    "receipt-not-ballot": (
        "l'entrée du reçu n'est pas un bulletin",
        "the receipt entry is not a ballot",
    ),
    "receipt-no-log": (
        "sans --log : cohérence non vérifiée",
        "without --log: consistency not checked",
    ),
    "receipt-consistent": (
        "le journal (taille {new}) prolonge le point de contrôle du reçu (taille {old})",
        "the log (size {new}) extends the receipt's checkpoint (size {old})",
    ),
    "receipt-sealed": (
        "clé de dépouillement pas encore publiée : le bulletin reste scellé",
        "tally key not revealed yet: the ballot stays sealed",
    ),
    "receipt-grade": ("{name} : {grade}", "{name}: {grade}"),
    "receipt-blank": ("bulletin blanc", "blank ballot"),
}

# Check 12 and receipt check 5 keep their texts beside their code (audit/witness.py).
CHECK_NAMES[12] = WITNESS_NAMES[12]
RECEIPT_CHECK_NAMES[5] = WITNESS_NAMES["receipt"]
MESSAGES.update(WITNESS_MESSAGES)
# Check 13 likewise (audit/credentials.py).
CHECK_NAMES[13] = CREDENTIAL_NAMES[13]
MESSAGES.update(CREDENTIAL_MESSAGES)
CHECK_NAMES[14] = TRUSTEE_NAMES[14]  # §10 key ceremony
MESSAGES.update(TRUSTEE_MESSAGES)
MESSAGES.update(ENCRYPTED_MESSAGES)  # §10 ballots, sums and decryption (checks 6, 8, 9)

UI: dict[str, tuple[str, str]] = {
    "title": ("Vérification du journal {origin}", "Verifying log {origin}"),
    "receipt-title": ("Vérification du reçu ({origin})", "Verifying receipt ({origin})"),
    "passed": ("réussi", "passed"),
    "failed": ("ÉCHEC", "FAILED"),
    "entry": ("entrée {index}", "entry {index}"),
    "more": ("… et {n} autres", "… and {n} more"),
    "ok": ("Tout est vérifié : le journal est conforme.", "Everything checks out."),
    "ok-receipt": ("Le reçu est vérifié.", "The receipt checks out."),
    "not-ok": ("{n} vérification(s) en échec.", "{n} check(s) failed."),
    "entries": (
        "{n} entrées, arbre de taille {size}, racine {root}",
        "{n} entries, tree size {size}, root {root}",
    ),
    "supports": ("Soutiens recomptés :", "Recounted supports:"),
    "round": (
        "Tour {round} — participation {turnout} : {valid} valides, {blank} blancs, "
        "{invalid} invalides",
        "Round {round} — turnout {turnout}: {valid} valid, {blank} blank, {invalid} invalid",
    ),
    "rank-line": (
        "  {rank}. {name} — mention majoritaire : {grade}",
        "  {rank}. {name} — majority grade: {grade}",
    ),
    "timings": ("Durées (s) : {timings}", "Timings (s): {timings}"),
}

SHOW = 20


class RankLine(TypedDict):
    candidate: str
    name: str
    rank: int
    majority_grade: str  # the grade's label


class RoundSummary(TypedDict):
    round: int
    turnout: int | None
    valid: int
    blank: int
    invalid: int
    ranking: list[RankLine]


class WitnessSummary(TypedDict):
    quorum: str
    met: bool
    cosigned: list[str]


class Summary(TypedDict, total=False):
    """What a run found besides the checks (the JSON report's "summary", with its origin
    and timings)."""

    entries: int
    tree_size: int | None
    root: str | None
    primary: str | None
    source: str
    state_saved: bool
    part: str
    credentials: CredentialSummary
    witnesses: WitnessSummary
    signatures_verified: int
    names: dict[str, str]
    supports: dict[str, int]
    qualified: list[str]
    rounds: list[RoundSummary]
    ballot: dict[str, str]  # a receipt's ballot, candidate name -> grade label
    ballot_lines: list[str]


class FindingJSON(TypedDict):
    index: int | None
    reason: str
    code: str


class CheckJSON(TypedDict):
    number: int
    name: str
    ok: bool
    failures: list[FindingJSON]
    failure_count: int
    warnings: list[FindingJSON]
    note: str


class ReportJSON(TypedDict):
    ok: bool
    checks: list[CheckJSON]
    summary: dict[str, object]


def resolve_lang(lang: str | None) -> str:
    """--lang wins; else LC_ALL / LANG starting with "en" → English; else French."""
    if lang in ("fr", "en"):
        return lang
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return "en" if value.lower().startswith("en") else "fr"
    return "fr"


def text(
    code: str,
    lang: str,
    params: Mapping[str, object],
    table: dict[str, tuple[str, str]] | None = None,
) -> str:
    # A finding may name another message than its code's (`_text`): one code, worded for
    # the case at hand (an encrypted round has no tally key).
    worded = params.get("_text")
    key = worded if isinstance(worded, str) else code
    fr, en = (table or MESSAGES).get(key, (code, code))
    template = en if lang == "en" else fr
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return f"{template} {params}"


@dataclass
class Finding:
    index: int | None
    code: str
    params: dict[str, object]

    def render(self, lang: str) -> str:
        return text(self.code, lang, self.params)


@dataclass
class Check:
    number: int
    names: dict[int, tuple[str, str]] = field(default_factory=lambda: CHECK_NAMES)
    failures: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    failure_count: int = 0
    warning_count: int = 0

    @property
    def ok(self) -> bool:
        return self.failure_count == 0

    def name(self, lang: str) -> str:
        fr, en = self.names[self.number]
        return en if lang == "en" else fr

    def fail(self, index: int | None, code: str, **params: object) -> None:
        self.failure_count += 1
        if len(self.failures) < MAX_STORED:
            self.failures.append(Finding(index, code, params))

    def warn(self, index: int | None, code: str, **params: object) -> None:
        self.warning_count += 1
        if len(self.warnings) < MAX_STORED:
            self.warnings.append(Finding(index, code, params))

    def note(self, code: str, **params: object) -> None:
        self.notes.append(Finding(None, code, params))

    def codes(self) -> list[str]:
        return [f.code for f in self.failures]


@dataclass
class Report:
    origin: str
    kind: str = "verify"
    checks: dict[int, Check] = field(default_factory=dict)
    summary: Summary = field(default_factory=Summary)
    timings: dict[str, float] = field(default_factory=dict)

    def check(self, number: int) -> Check:
        if number not in self.checks:
            names = RECEIPT_CHECK_NAMES if self.kind == "receipt" else CHECK_NAMES
            self.checks[number] = Check(number, names)
        return self.checks[number]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks.values())

    def failed_numbers(self) -> list[int]:
        return [n for n, c in sorted(self.checks.items()) if not c.ok]

    def to_json(self, lang: str) -> ReportJSON:
        def finding(f: Finding) -> FindingJSON:
            return {"index": f.index, "reason": f.render(lang), "code": f.code}

        return {
            "ok": self.ok,
            "checks": [
                {
                    "number": c.number,
                    "name": c.name(lang),
                    "ok": c.ok,
                    "failures": [finding(f) for f in c.failures],
                    "failure_count": c.failure_count,
                    "warnings": [finding(f) for f in c.warnings],
                    "note": "; ".join(f.render(lang) for f in c.notes),
                }
                for _, c in sorted(self.checks.items())
            ],
            "summary": {
                **self.summary,
                "origin": self.origin,
                "timings": {k: round(v, 3) for k, v in self.timings.items()},
            },
        }

    def render(self, lang: str, *, timings: bool = False) -> str:
        def ui(code: str, **params: object) -> str:
            return text(code, lang, params, UI)

        title = "receipt-title" if self.kind == "receipt" else "title"
        lines = [ui(title, origin=self.origin), ""]
        for _, c in sorted(self.checks.items()):
            mark = "✔" if c.ok else "✘"
            status = ui("passed") if c.ok else ui("failed")
            note = "; ".join(f.render(lang) for f in c.notes)
            lines.append(
                f"{mark} {c.number}. {c.name(lang)} — {status}" + (f" ({note})" if note else "")
            )
            for group, count in ((c.failures, c.failure_count), (c.warnings, c.warning_count)):
                sign = "✘" if group is c.failures else "⚠"
                for f in group[:SHOW]:
                    where = ui("entry", index=f.index) + " : " if f.index is not None else ""
                    if lang == "en":
                        where = where.replace(" : ", ": ")
                    lines.append(f"    {sign} {where}{f.render(lang)}")
                if count > SHOW:
                    lines.append("      " + ui("more", n=count - SHOW))
        lines.append("")
        s = self.summary
        if self.kind == "verify" and s.get("tree_size") is not None:
            lines.append(ui("entries", n=s.get("entries"), size=s["tree_size"], root=s["root"]))
        if s.get("supports"):
            lines.append(ui("supports"))
            names = s.get("names", {})
            for cand, n in s["supports"].items():
                lines.append(
                    f"  {names.get(cand, cand)} : {n}"
                    if lang == "fr"
                    else f"  {names.get(cand, cand)}: {n}"
                )
        for r in s.get("rounds", []):
            lines.append(
                ui("round", **{k: r[k] for k in ("round", "turnout", "valid", "blank", "invalid")})
            )
            for line in r["ranking"]:
                lines.append(
                    ui(
                        "rank-line",
                        rank=line["rank"],
                        name=line["name"],
                        grade=line["majority_grade"],
                    )
                )
        for ballot_line in s.get("ballot_lines", []):
            lines.append("  " + ballot_line)
        if timings and self.timings:
            lines.append(
                ui("timings", timings=", ".join(f"{k} {v:.2f}" for k, v in self.timings.items()))
            )
        failed = self.failed_numbers()
        ok_code = "ok-receipt" if self.kind == "receipt" else "ok"
        lines.append(ui(ok_code) if not failed else ui("not-ok", n=len(failed)))
        return "\n".join(lines) + "\n"
