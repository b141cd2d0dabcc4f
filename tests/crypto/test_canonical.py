"""Canonical JSON (RFC 8785 JCS, restricted subset of docs/audit-log.md §2).

Vectors: RFC 8785 §3.2.2 (string escaping in the "values" example) and §3.2.3 (sorting
example with a non-BMP key), and the cyberphone/json-canonicalization testdata files
(input/output weird.json, french.json, values.json, unicode.json) by the RFC's authors.
Examples containing floats are cut down to their non-float members, since floats are
outside our subset.
"""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.canonical import (
    MAX_SAFE_INTEGER,
    CanonicalError,
    _encode,
    _plain,
    dumps,
    loads,
    utf16_sort_key,
)


def test_rfc8785_string_escaping_and_literals() -> None:
    # RFC 8785 §3.2.2 input (floats removed):
    #   "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false]
    source = r'{"string": "\u20ac$\u000F\u000aA' + "'" + r'\u0042\u0022\u005c\\\"\/",'
    source += ' "literals": [null, true, false]}'
    value = json.loads(source)
    expected = '{"literals":[null,true,false],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    assert dumps(value) == expected.encode("utf-8")
    assert loads(expected.encode("utf-8")) == value


def test_rfc8785_sorting_example_order() -> None:
    # RFC 8785 §3.2.3: keys sorted by UTF-16 code units; the emoji (surrogates D83D DE00)
    # sorts before U+FB33 although its code point is larger.
    keys = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected_values = [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",
        "Hebrew Letter Dalet With Dagesh",
    ]
    assert [keys[k] for k in sorted(keys, key=utf16_sort_key)] == expected_values
    # U+FB33 is a composition exclusion: its NFC form is U+05D3 U+05BC, so our subset
    # refuses the RFC's object as-is, and accepts it without that key.
    with pytest.raises(CanonicalError, match="NFC"):
        dumps(keys)
    del keys["\ufb33"]
    out = dumps(keys).decode("utf-8")
    assert [v for v in json.loads(out).values()] == expected_values[:-1]
    assert out.startswith('{"\\r":"Carriage Return","1":"One","\u0080":"Control",')


def test_cyberphone_weird_json_without_non_nfc_key() -> None:
    # testdata/input/weird.json -> testdata/output/weird.json, minus the U+FB33 member.
    value = {
        "\u20ac": "Euro Sign",
        "1": "One",
        "\u0080": "Control\u007f",
        "\U0001f602": "Smiley",
        "\u00f6": "Latin Small Letter O With Diaeresis",
        "</script>": "Browser Challenge",
    }
    expected = (
        '{"1":"One","</script>":"Browser Challenge","\u0080":"Control\u007f",'
        '"ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign","😂":"Smiley"}'
    )
    assert dumps(value) == expected.encode("utf-8")


def test_cyberphone_french_and_unicode() -> None:
    french = {
        "peach": "This sorting order",
        "péché": "is wrong according to French",
        "pêche": "but canonicalization MUST",
        "sin": "ingnore locale",
    }
    assert (
        dumps(french)
        == (
            '{"peach":"This sorting order","péché":"is wrong according to French",'
            '"pêche":"but canonicalization MUST","sin":"ingnore locale"}'
        ).encode()
    )
    # unicode.json: JCS never normalises; "\u1e0d\u0307" happens to already be NFC.
    assert dumps({"Unnormalized Unicode": "\u1e0d\u0307"}) == (
        '{"Unnormalized Unicode":"\u1e0d\u0307"}'.encode()
    )


def test_integers() -> None:
    assert dumps([0, -0, 1, -1, MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]) == (
        b"[0,0,1,-1,9007199254740991,-9007199254740991]"
    )
    for bad in [MAX_SAFE_INTEGER + 1, -MAX_SAFE_INTEGER - 1]:
        with pytest.raises(CanonicalError, match="outside"):
            dumps(bad)
    with pytest.raises(CanonicalError, match="outside"):
        loads(b"9007199254740992")
    assert dumps(True) == b"true" and dumps([False, None]) == b"[false,null]"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"a":1,"a":1}', "duplicate"),
        (b"1.0", "fraction or exponent"),
        (b"1e3", "fraction or exponent"),
        (b"-0", "canonical"),
        (b"NaN", "NaN"),
        (b"Infinity", "Infinity"),
        (b"01", "not JSON"),
        (b'{"b":1,"a":2}', "canonical"),
        (b'{"a": 1}', "canonical"),
        (b" 1", "canonical"),
        (b"1\n", "canonical"),
        (b'"\\u00e9"', "canonical"),  # é must be raw UTF-8
        (b'"\\/"', "canonical"),
        (b'"\\u001F"', "canonical"),  # hex must be lowercase
        (b'"\\u000a"', "canonical"),  # \n has a short escape
        (b'"e\xcc\x81"', "NFC"),  # e + combining acute
        (b'"\xff"', "UTF-8"),
        (b'"\xed\xa0\x80"', "UTF-8"),  # CESU-style encoded surrogate
        (b'"\\ud800"', "surrogate"),
        (b'"\\udc00x"', "surrogate"),
        (b"\xef\xbb\xbf1", "not JSON"),  # BOM
        (b"", "not JSON"),
        (b"[1,]", "not JSON"),
        (b'"a\tb"', "not JSON"),  # raw control character
        (b"[" * 100_000 + b"]" * 100_000, "deeply"),
    ],
)
def test_loads_refuses(data: bytes, reason: str) -> None:
    with pytest.raises(CanonicalError, match=reason):
        loads(data)


def test_loads_refuses_non_bytes() -> None:
    with pytest.raises(CanonicalError):
        loads("1")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [1.5, {1: "a"}, b"x", {"a": {1, 2}}, "\ud800", "e\u0301"])
def test_dumps_refuses(value: object) -> None:
    with pytest.raises(CanonicalError):
        dumps(value)


def test_control_characters_escaped() -> None:
    text = "".join(chr(c) for c in range(0x20)) + '"\\\x7f\u2028'
    out = dumps(text)
    assert out == (
        b'"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r'
        b"\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018"
        b'\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\\"\\\\\x7f\xe2\x80\xa8"'
    )
    assert loads(out) == text


_nfc_text = st.text().map(lambda s: unicodedata.normalize("NFC", s))
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | _nfc_text,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(_nfc_text, children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(_json)
def test_round_trip(value: object) -> None:
    data = dumps(value)
    assert loads(data) == value
    assert dumps(loads(data)) == data
    # Agrees with the standard library on the value (order-insensitive).
    assert json.loads(data) == value


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_nfc_text, st.integers(0, 9), min_size=2, max_size=8))
def test_reordered_members_refused(value: dict[str, int]) -> None:
    data = dumps(value)
    shuffled = json.dumps(
        dict(reversed(list(value.items()))), ensure_ascii=False, separators=(",", ":")
    ).encode()
    if shuffled != data:
        with pytest.raises(CanonicalError):
            loads(shuffled)


_ascii_text = st.text(st.characters(max_codepoint=0x7F))
_ascii_json = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | _ascii_text,
    lambda children: (
        st.lists(children, max_size=5)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(_ascii_text, children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(_ascii_json)
def test_fast_path_agrees_with_checking_encoder(value: object) -> None:
    """ASCII-only values take the C encoder; its bytes are the checking encoder's."""
    assert _plain(value)
    out: list[str] = []
    _encode(value, "$", out)
    assert dumps(value) == "".join(out).encode("utf-8")


@pytest.mark.parametrize(
    "value",
    [
        1.0,
        {"a": [1, 2.5]},
        2**53,
        [-(2**53)],
        {"é": 1},
        "café",
        {1: "a"},
        True.__class__,
        {"a": {"b": b"x"}},
    ],
)
def test_fast_path_declines_what_it_cannot_check(value: object) -> None:
    assert not _plain(value)
