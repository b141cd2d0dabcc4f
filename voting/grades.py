"""Grade labels in each language the primary offers (French first, English).

The definition (the body of the log's `definition` entry) holds the organiser's labels, in the
primary's language, French. The preset scales' labels are known in English too (the tally
engine's scales), so pages and explanations show them in the reader's language. A custom
label that is not a preset word has no translation: it keeps its own language, which pages
mark with a `lang` attribute so that screen readers pronounce it right. The organiser may
give the labels in other languages (the definition's `grade_labels`, docs/audit-log.md §8):
those are shown as given. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from voting.majority import FRENCH_7, Scale, ScaleError

LABELS_LANGUAGE = "fr"
"""The language of the organiser's labels: the primary's own language."""

_WORDS: dict[str, tuple[str, ...]] = {"fr": FRENCH_7.labels, "en": FRENCH_7.labels_en or ()}


@dataclass(frozen=True)
class GradeLabel:
    """A grade's label as shown to a reader, and the language it is written in."""

    text: str
    lang: str


def _translate(label: str, lang: str) -> GradeLabel | None:
    key = label.casefold()
    for words in _WORDS.values():
        for index, word in enumerate(words):
            if word.casefold() == key:
                return GradeLabel(_WORDS[lang][index], lang) if lang in _WORDS else None
    return None


def grade_labels(
    labels: Sequence[str], lang: str, translations: Mapping[str, Sequence[str]] | None = None
) -> list[GradeLabel]:
    """``labels`` (worst first) for a reader of ``lang``: the organiser's own translation when
    the definition gives one (``translations``, its `grade_labels`), else preset words
    translated and other labels as written, in the primary's language. If translating would
    make two grades read the same (a custom scale mixing "Bien" and "Good"), every label stays
    as written."""
    given = (translations or {}).get(lang) if lang != LABELS_LANGUAGE else None
    if given is not None and len(given) == len(labels):
        return [
            GradeLabel(text, lang) if text.strip() else GradeLabel(label, LABELS_LANGUAGE)
            for text, label in zip(given, labels, strict=True)
        ]
    translated = [_translate(label, lang) for label in labels]
    shown = [
        t or GradeLabel(label, LABELS_LANGUAGE) for t, label in zip(translated, labels, strict=True)
    ]
    if len({g.text.casefold() for g in shown}) == len(labels):
        return shown
    return [
        GradeLabel(label, lang if t is not None and t.text == label else LABELS_LANGUAGE)
        for t, label in zip(translated, labels, strict=True)
    ]


def grade_scale(
    labels: Sequence[str], translations: Mapping[str, Sequence[str]] | None = None
) -> Scale:
    """The tally engine's scale for a definition's labels (and its `grade_labels`), with
    English labels where known, so that English explanations quote English grades."""
    try:
        english = grade_labels(labels, "en", translations)
        return Scale(tuple(labels), tuple(g.text for g in english))
    except ScaleError:
        return Scale(tuple(labels))
