"""A definition's `grade_labels` (docs/audit-log.md §8): the grades in other languages, one
label per grade. Both verifiers accept an honest one and fail, at check 4, a log whose
operator signed a translation of the wrong length, a non-string label or a bad language name."""

from __future__ import annotations

from typing import Any

import pytest

from tests.audit.builder import GRADES, LogBuilder, definition_body
from tests.audit.stranger.verifier import verify_export
from tests.audit.util import failed, run

ENGLISH = ["Reject", "Poor", "Fair", "Fairly good", "Good", "Very good", "Excellent"]


def _log(**over: Any) -> tuple[dict[str, Any], str]:
    b = LogBuilder()  # every entry signed with the log's valid key: only the body is wrong
    b.add("definition", definition_body(**over))
    return b.export(), b.vkey


def test_translated_grades_pass_both_verifiers() -> None:
    assert len(GRADES) == len(ENGLISH)
    doc, vkey = _log(grade_labels={"en": ENGLISH})
    assert failed(run(doc, vkey)) == {}
    stranger = verify_export(doc, vkey)
    assert stranger.ok, stranger.failures


@pytest.mark.parametrize(
    "labels",
    [
        {"en": ENGLISH[:-1]},  # one grade untranslated: the labels would shift
        {"en": [*ENGLISH, "Sublime"]},  # one more label than grades
        {"en": [*ENGLISH[:-1], 7]},  # not a string
        {"en": "Reject, Poor, Fair, Fairly good, Good, Very good, Excellent"},
        {"EN": ENGLISH},  # not a lowercase language code
        {"english": ENGLISH},
        ["Reject"],  # not an object
    ],
)
def test_a_malformed_translation_fails_check_4_in_both_verifiers(labels: Any) -> None:
    doc, vkey = _log(grade_labels=labels)
    assert [index for index, _ in failed(run(doc, vkey)).get(4, [])] == [0]
    stranger = verify_export(doc, vkey)
    assert any((f.check, f.index) == (4, 0) for f in stranger.failures), stranger.failures
