"""One refusal type for the domain: `Refused(reason, field=…, **params)`.

A service that will not do what it was asked raises `Refused` before writing anything (or its
transaction rolls back). `reason` is a stable kebab-case code, a key of `MESSAGES` below: pages,
the JSON API and tests tell refusals apart by it, never by their text. Its message is a French
source string (English in web/locale/en/*.po) whose `{placeholders}` are filled from `params`
after translation; `field` is the input path the refusal concerns (`phases[1].end`,
`candidates`), which forms show the message next to and the API returns as `field`.

The domain says nothing about HTTP: web/errors.py maps every reason to a status in one table
(tests/web/test_refusals.py holds both tables and the English catalogue together).

`_` is the translation marker for the whole domain: it returns its argument unchanged and lets
the catalogue test find the French strings; pages translate them when they show them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _(message: str) -> str:
    """Marks a French source string for translation; the web layer translates it."""
    return message


# reason code → French message. Placeholders are `{name}`, filled only when the refusal
# carries params (a message without params may hold literal braces).
MESSAGES: dict[str, str] = {
    # Input fields (voting/definition.py's readers; any form or JSON member)
    "not-text": _("Ce champ doit être un texte."),
    "control-characters": _("Ce champ contient des caractères de contrôle."),
    "required": _("Ce champ est obligatoire."),
    "too-long": _("Ce champ est trop long ({max} caractères au plus)."),
    "not-boolean": _("Ce champ doit valoir vrai ou faux."),
    "not-integer": _("Ce champ doit être un nombre entier."),
    "out-of-range": _("Ce nombre doit être compris entre {low} et {high}."),
    "unknown-choice": _("Valeur inconnue ; choix possibles : {choices}."),
    "bad-instant": _("Date invalide : attendu AAAA-MM-JJTHH:MM:SSZ (UTC)."),
    "instant-out-of-range": _("Date hors limites."),
    # A primary's definition
    "definition-not-object": _("La définition doit être un objet JSON."),
    "unknown-member": _("Membre inconnu : {name}."),
    "bad-slug": _("Identifiant invalide : lettres minuscules, chiffres et tirets (63 au plus)."),
    "phases-not-list": _("Les phases doivent être une liste."),
    "too-many-phases": _("Trop de phases ({max} au plus)."),
    "phase-not-object": _("Chaque phase est un objet {name, start, end}."),
    "unknown-phase": _("Phase inconnue : candidacies, supports, round-1…, results."),
    "duplicate-phase": _("Cette phase apparaît deux fois."),
    "phase-ends-before-start": _("La fin doit suivre le début."),
    "phase-required": _("La phase « {name} » est obligatoire."),
    "rounds-not-consecutive": _("Les tours se numérotent round-1, round-2… sans trou."),
    "phase-order": _("La phase « {second} » ne peut pas commencer avant « {first} »."),
    "candidacies-after-supports": _(
        "Les candidatures doivent se clore au plus tard avec les soutiens."
    ),
    "phase-overlap": _("La phase « {second} » doit commencer après la fin de « {first} »."),
    "grades-not-list": _("L’échelle de mentions est une liste de libellés."),
    "grade-count": _("Il faut entre 2 et {max} mentions."),
    "duplicate-grade": _("Cette mention apparaît deux fois."),
    "grade-labels-not-object": _(
        "Les traductions des mentions sont un objet : une liste de libellés par langue."
    ),
    "grade-labels-count": _(
        "Il faut une traduction par mention : {count}, de la pire à la meilleure."
    ),
    "subset-too-small": _("Un sous-ensemble tiré au sort compte au moins 2 candidats (0 = tous)."),
    "witness-policy-too-long": _(
        "La politique de témoins est un texte de {max} caractères au plus."
    ),
    "witness-policy-invalid": _("La politique de témoins est invalide : {detail}"),
    "phase-started": _("La phase « {name} » a commencé : elle ne peut plus être retirée."),
    "instant-passed": _("Cette date est passée : elle ne peut plus changer."),
    "instant-in-past": _("Une date modifiée ne peut pas être dans le passé."),
    # Accounts (voting/accounts.py)
    "account-not-found": _("Compte introuvable."),
    "password-too-long": _("Le mot de passe est trop long (1 024 caractères au plus)."),
    "password-too-short": _("Le mot de passe doit compter au moins 10 caractères."),
    "password-organisers-only": _("Seuls les organisateur·rices ont un mot de passe."),
    "current-password-required": _("Saisissez votre mot de passe actuel."),
    "wrong-current-password": _("Le mot de passe actuel est incorrect."),
    "display-name-too-long": _("Le nom affiché ne peut dépasser 120 caractères."),
    "display-name-forbidden": _("Le nom affiché contient des caractères interdits."),
    # Claiming a listed voter number with its invitation code (voting/eligibility.py); an
    # unknown number, a wrong code and a spent code are all `claim-refused`, one message
    "claim-bad-number": _(
        "Numéro d’électeur invalide : lettres, chiffres, « . », « - » ou « / » (64 au plus)."
    ),
    "claim-bad-code": _(
        "Un code d’invitation compte 12 lettres et chiffres, par exemple K7QM-3WXA-9HTE."
    ),
    "claim-no-allow-list": _(
        "Cette primaire n’a pas de liste de participant·es : il n’y a rien à réclamer."
    ),
    "claim-already": _("Votre compte a déjà réclamé un numéro d’électeur dans cette primaire."),
    "claim-refused": _("Numéro d’électeur ou code d’invitation incorrect, ou code déjà utilisé."),
    # Primaries
    "primary-not-found": _("Primaire introuvable."),
    "slug-taken": _("Cet identifiant est déjà pris."),
    "voting-started": _("Le vote a commencé : la définition ne peut plus changer."),
    "revision-not-integer": _("La révision est un nombre entier."),
    "revision-expected": _("La révision suivante est la {next}."),
    "slug-fixed": _("L’identifiant d’une primaire ne change pas."),
    "threshold-fixed": _("Des candidats sont déjà qualifiés : le seuil ne peut plus changer."),
    # Candidacies
    "candidacy-not-found": _("Candidature introuvable."),
    "not-the-candidate": _("Seul le candidat peut faire cela."),
    "candidacy-state": _("Impossible dans l’état actuel de la candidature ({state})."),
    "candidacies-not-open": _("La phase des candidatures n’est pas ouverte."),
    "charter-required": _("Vous devez accepter la charte de la primaire."),
    "already-declared": _("Vous avez déjà une candidature dans cette primaire."),
    "candidacy-qualified": _("Candidature qualifiée : la déclaration ne peut plus être modifiée."),
    "candidate-list-closed": _("Le vote a commencé : la liste des candidats est close."),
    "bad-link": _("Lien invalide : seules les adresses http et https sont acceptées."),
    "links-not-list": _("Les liens sont une liste d’adresses."),
    "too-many-links": _("Trop de liens ({max} au plus)."),
    "photo-too-large": _("La photo dépasse 1 Mo."),
    "photo-format": _("La photo doit être une image PNG ou JPEG."),
    "name-invisible-character": _(
        "Le nom contient un caractère invisible ou de mise en forme ({code}) : retirez-le."
    ),
    "name-styled-letter": _(
        "Le nom contient une lettre stylisée ({char}, U+{code}) : écrivez-la comme une lettre "
        "ordinaire."
    ),
    "name-mixed-scripts": _(
        "« {word} » mélange des lettres de plusieurs alphabets (par exemple latin et cyrillique), "
        "ce qui permet d’imiter un autre nom : écrivez chaque mot dans un seul alphabet."
    ),
    "name-confusable": _(
        "Ce nom imite celui d’une autre candidature (« {other} ») : des lettres semblables les "
        "rendent impossibles à distinguer."
    ),
    # Supports
    "supports-closed": _("La phase des soutiens est close."),
    "supports-not-open": _("La phase des soutiens n’est pas ouverte."),
    "not-collecting-supports": _("Ce candidat ne recueille pas de soutiens."),
    "own-candidacy": _("Vous ne pouvez pas soutenir votre propre candidature."),
    "already-supported": _("Vous soutenez déjà ce candidat."),
    "support-cap": _("Vous avez déjà donné vos {cap} soutiens dans cette primaire."),
    "credential-first": _("Créez d’abord votre clé de vote pour cette primaire."),
    "support-signature-required": _("Votre soutien doit être signé par votre clé de vote."),
    "support-final": _("Ce candidat ne recueille plus de soutiens : votre soutien est définitif."),
    "not-supported": _("Vous ne soutenez pas ce candidat."),
    "supports-already-closed": _("La phase des soutiens est déjà close."),
    "supports-not-ended": _("La phase des soutiens n’est pas terminée : attendez sa date de fin."),
    "supports-not-started": _("La phase des soutiens n’a pas commencé."),
    # Eligibility (the reasons of voting/eligibility.py's REASONS, as refusals)
    "ineligible-unknown-primary": _("Primaire introuvable."),
    "ineligible-unknown-account": _("Compte introuvable."),
    "ineligible-unverified": _("Votre adresse électronique n’est pas vérifiée."),
    "ineligible-disposable": _("Les adresses jetables ne sont pas acceptées dans cette primaire."),
    "ineligible-not-on-list": _(
        "Votre adresse ou votre numéro d’électeur ne figure pas sur la liste des participant·es."
    ),
    "ineligible-not-requested": _(
        "Cette primaire demande l’accord des organisateur·rices : faites une demande."
    ),
    "ineligible-pending": _("Votre demande est en attente de l’accord des organisateur·rices."),
    "ineligible-refused": _("Votre demande de participation a été refusée."),
    "ineligible-unknown-policy": _("Les règles de participation de cette primaire sont invalides."),
    "ineligible-other-account": _(
        "Cette adresse mène à la même boîte aux lettres qu’un autre compte : seul ce compte-là "
        "peut participer."
    ),
    # The allow-list import (voting/eligibility.py's AllowListError lists the bad rows)
    "allow-list-invalid": _("Liste refusée : {count} ligne(s) invalide(s) ; rien n’a été importé."),
    # Voter credentials
    "credentials-not-used": _("Cette primaire n’utilise pas de clé de vote personnelle."),
    "credential-roll-frozen": _(
        "Un tour est ouvert : la liste des clés de vote est figée jusqu’à sa clôture. Aucune clé "
        "ne peut être ajoutée ni remplacée avant."
    ),
    "bad-public-key": _("Clé publique invalide (32 octets attendus)."),
    "credential-exists": _("Vous avez déjà une clé de vote pour cette primaire."),
    "credential-taken": _("Cette clé est déjà enregistrée."),
    # Encrypted ballots and trustees (docs/audit-log.md §10, voting/trustees.py)
    "encrypted-needs-voter-credentials": _(
        "Les bulletins chiffrés demandent des clés de vote personnelles (credentials « voter »)."
    ),
    "trustees-need-encrypted-ballots": _(
        "Des garants ne servent qu’aux bulletins chiffrés (ballots « encrypted »)."
    ),
    "trustees-fixed": _(
        "Des garants sont enregistrés : le mode des bulletins, le nombre de garants et le seuil "
        "ne peuvent plus changer."
    ),
    "trustees-not-used": _("Cette primaire n’a pas de garants : ses bulletins sont scellés."),
    "trustee-name-required": _("Le nom du garant est obligatoire (200 caractères au plus)."),
    "bad-trustee-key": _("Clé de garant invalide : 32 octets en base64 attendus."),
    "trustee-key-taken": _("Cette clé est déjà celle d’un autre garant."),
    "trustees-complete": _("Les {count} garants sont déjà enregistrés."),
    "trustee-not-found": _("Ce garant n’existe pas."),
    "trustee-bad-signature": _("La signature du garant ne vérifie pas."),
    "trustee-bad-body": _("Contribution de garant invalide : {detail}"),
    "trustees-incomplete": _("Tous les garants ne sont pas encore enregistrés."),
    "trustee-keygen-done": _("Ce garant a déjà publié sa génération de clé."),
    "trustee-keygen-pending": _("Tous les garants n’ont pas encore publié leur génération de clé."),
    "trustee-ack-done": _("Ce garant a déjà publié sa vérification des parts."),
    "ceremony-restart-not-now": _(
        "La cérémonie des clés ne peut être recommencée qu’une fois tous les garants "
        "enregistrés et avant la clé de l’élection."
    ),
    "ceremony-restart-replaced": _(
        "Garants remplacés : numéros de garants (1 à n) en ordre croissant, sans doublon."
    ),
    "ceremony-restart-reason": _(
        "Le motif est obligatoire (500 caractères au plus, sans caractère de contrôle)."
    ),
    "election-key-missing": _("La clé de l’élection n’est pas encore établie par les garants."),
    "tally-sums-missing": _("Les sommes chiffrées de ce tour ne sont pas encore publiées."),
    "tally-sums-done": _("Les sommes chiffrées de ce tour sont déjà publiées."),
    "trustee-decryption-done": _(
        "Ce garant a déjà publié ses parts de déchiffrement pour ce tour."
    ),
    "too-few-decryptions": _(
        "{count} garant(s) sur les {threshold} nécessaires ont publié leurs parts : rien ne peut "
        "être déchiffré."
    ),
    # Rounds: opening and closing
    "round-not-found": _("Ce tour n’existe pas."),
    "previous-round-open": _("Le tour {number} n’est pas terminé : publiez son résultat d’abord."),
    "closes-at-past": _("La date de clôture doit être dans le futur."),
    "not-in-previous-round": _(
        "Un candidat absent du tour précédent ne peut pas entrer dans ce tour."
    ),
    "candidate-not-confirmed": _(
        "Seules les candidatures confirmées peuvent figurer sur le bulletin."
    ),
    "too-few-candidates": _("Il faut au moins deux candidatures confirmées pour ouvrir un tour."),
    "passphrase-too-short": _("La phrase secrète doit compter au moins {n} caractères."),
    "strict-with-subsets": _(
        "La politique « strict » exige que chaque votant évalue chaque candidat : elle ne permet "
        "pas de tirer {k} candidats sur {n}. Changez la politique des jugements manquants ou la "
        "taille des sous-ensembles."
    ),
    "round-phase-not-started": _(
        "La phase « tour {number} » du calendrier n’a pas commencé : ce tour s’ouvre à partir "
        "du {start} (UTC)."
    ),
    "round-phase-ended": _(
        "La phase « tour {number} » du calendrier est terminée : ce tour ne pourrait recevoir "
        "aucun bulletin."
    ),
    "result-too-large": _(
        "Trop de candidats pour un seul tour : son résultat pourrait faire une entrée de journal "
        "de {size} octets, et une entrée en compte {limit} au plus. Choisissez moins de "
        "candidats ; rien n’a été enregistré."
    ),
    "round-already-closed": _("Ce tour est déjà clos."),
    "close-mismatch": _(
        "Clôture refusée : {voters} votants enregistrés mais {ballots} bulletins dans le "
        "journal. Alerte transmise ; rien n’a été modifié."
    ),
    # Casting a ballot
    "round-closed": _("Ce tour n’est pas ouvert au vote."),
    "not-eligible": _("Votre compte n’est pas inscrit sur la liste des votants de cette primaire."),
    "no-credential": _(
        "Vous n’avez pas de clé de vote sur la liste figée de ce tour : seules les clés "
        "enregistrées avant l’ouverture du tour peuvent voter."
    ),
    "already-voted": _("Vous avez déjà voté à ce tour."),
    "bad-sealed-token": _("Ce bulletin scellé n’a pas été préparé pour vous à ce tour."),
    "already-cast": _("Ce bulletin est déjà enregistré."),
    "signature-required": _(
        "Votre bulletin doit être signé par votre clé de vote, sur votre appareil."
    ),
    "bad-signature": _("La signature du bulletin ne correspond pas à votre clé de vote."),
    "encrypted-ballot-invalid": _(
        "Bulletin chiffré invalide ({why}) : ses preuves ne vérifient pas ; rien n’a été "
        "enregistré."
    ),
    "encrypted-ballot-expected": _(
        "Ce tour reçoit des bulletins chiffrés : le service ne scelle aucun bulletin en clair."
    ),
    "encrypted-result-pending": _(
        "Le résultat de ce tour vient du déchiffrement par les garants, pas d’une clé de "
        "dépouillement."
    ),
    "ballot-invalid": _(
        "Bulletin incomplet ou invalide : corrigez les choix signalés ; rien n’a été enregistré."
    ),
    # Revealing the tally key and publishing the result
    "not-a-key-file": _("Ce fichier n’est pas un fichier de clé de dépouillement."),
    "unreadable-key": _("La clé de ce fichier est illisible."),
    "key-file-expected": _(
        "La clé de ce tour a été remise sous forme de fichier : déposez ce fichier."
    ),
    "wrong-passphrase": _("Phrase secrète incorrecte."),
    "key-required": _("Donnez la phrase secrète ou le fichier de clé."),
    "wrong-key": _("Cette clé ne correspond pas à la clé publique du tour."),
    "round-still-open": _("Clôturez le tour avant de révéler la clé."),
    "already-tallied": _("Le résultat de ce tour est déjà publié."),
    "close-not-logged": _("La clôture n’est pas encore inscrite au journal ; réessayez."),
    "tally-refused": _(
        "Le résultat ne peut pas être calculé avec la politique des jugements manquants de "
        "cette primaire ; rien n’a été publié."
    ),
    # The public log (voting/log.py's EntryTooLarge)
    "round-open-entry-too-large": _(
        "Trop de candidats pour un seul tour : l’entrée d’ouverture du journal ferait {size} "
        "octets, et une entrée en compte {limit} au plus. Choisissez moins de candidats ; rien "
        "n’a été enregistré."
    ),
    "definition-entry-too-large": _(
        "Texte trop long : la définition de la primaire ferait une entrée de journal de {size} "
        "octets, {limit} au plus. Raccourcissez la description ; rien n’a été enregistré."
    ),
    "entry-too-large": _(
        "Cette entrée du journal public ferait {size} octets, et une entrée en compte {limit} "
        "au plus ; rien n’a été enregistré."
    ),
}


class Refused(ValueError):
    """A request the rules refuse; nothing was written.

    `reason` is a key of `MESSAGES`; `field` the input path it concerns, if any; `params` fill
    the message's placeholders. `str(refusal)` is the French message, filled.
    """

    def __init__(self, reason: str, *, field: str | None = None, **params: Any) -> None:
        message = MESSAGES[reason]  # an unknown reason is a programming error
        super().__init__(message.format(**params) if params else message)
        self.reason = reason
        self.message = message
        self.field = field
        self.params = params

    def translated(self, gettext: Callable[[str], str]) -> str:
        """The message in the language of `gettext` (a msgid → text function), filled."""
        text = gettext(self.message)
        return text.format(**self.params) if self.params else text
