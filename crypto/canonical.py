"""Canonical JSON: RFC 8785 (JCS) restricted to the subset the log uses (docs/audit-log.md §2).

Allowed values: dict (string keys), list, str (Unicode NFC, no lone surrogates), int with
|n| <= 2**53 - 1, bool, None. Floats are refused outright rather than canonicalised: the
log never needs them and ECMAScript number formatting is a classic source of disagreement
between implementations.

`loads` is the strict inverse of `dumps`: it accepts a byte string only if it is exactly the
canonical serialisation of the value it parses to.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from crypto.json_types import JSONObject, JSONValue

MAX_SAFE_INTEGER = 2**53 - 1

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
for _code in range(0x20):
    _ESCAPES.setdefault(chr(_code), f"\\u{_code:04x}")
_ESCAPE_TABLE = str.maketrans(_ESCAPES)


class CanonicalError(ValueError):
    """A value or a byte string is outside the canonical JSON subset; the message says why."""


def utf16_sort_key(key: str) -> bytes:
    """Sort key for object members: the UTF-16 code units of the key (RFC 8785 §3.2.3).

    Comparing UTF-16BE bytes lexicographically is the same as comparing code units.
    """
    return key.encode("utf-16-be", "surrogatepass")


def _check_string(text: str, path: str) -> None:
    if text.isascii():  # the common case (ids, base64): always NFC, never a surrogate
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        raise CanonicalError(f"{path}: lone surrogate U+{code:04X} in string") from None
    if not unicodedata.is_normalized("NFC", text):
        raise CanonicalError(f"{path}: string is not in Unicode NFC")


def _encode_string(text: str, path: str) -> str:
    _check_string(text, path)
    return '"' + text.translate(_ESCAPE_TABLE) + '"'


def _encode(value: object, path: str, out: list[str]) -> None:
    # bool before int: True is an int in Python.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise CanonicalError(f"{path}: integer {value} outside ±(2**53 - 1)")
        out.append(str(int(value)))
    elif isinstance(value, float):
        raise CanonicalError(f"{path}: floats are not allowed ({value!r})")
    elif isinstance(value, str):
        out.append(_encode_string(value, path))
    elif isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise CanonicalError(f"{path}: object key {key!r} is not a string")
        out.append("{")
        for i, key in enumerate(sorted(value, key=utf16_sort_key)):
            if i:
                out.append(",")
            out.append(_encode_string(key, f"{path}.{key}"))
            out.append(":")
            _encode(value[key], f"{path}.{key}", out)
        out.append("}")
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, f"{path}[{i}]", out)
        out.append("]")
    else:
        raise CanonicalError(f"{path}: type {type(value).__name__} is not allowed")


def _plain(value: object) -> bool:
    """Whether the C JSON encoder writes `value` canonically: only dicts with ASCII keys
    (code-point order = UTF-16 order), lists, tuples, ASCII strings (NFC, no surrogate) and
    integers in range. Anything else (non-ASCII text, floats, other mappings…) takes the
    checking encoder, which also names the problem."""
    # Exact types (`type(value) is`), not isinstance: a str or dict subclass takes the
    # checking encoder.
    if type(value) is str:
        return value.isascii()
    if type(value) is int:
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii() or not _plain(item):
                return False
        return True
    if type(value) is list or type(value) is tuple:
        for item in value:
            if not _plain(item):
                return False
        return True
    return value is None or type(value) is bool


_fast_encoder = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), check_circular=False
).encode


def dumps(value: object) -> bytes:
    """The canonical UTF-8 bytes of `value`; raises CanonicalError outside the subset."""
    try:
        if _plain(value):
            # The C encoder escapes as JCS does (two-character escapes for quote, backslash,
            # BS, FF, LF, CR, TAB; lowercase \u00xx for other controls); a test checks both
            # encoders agree.
            return _fast_encoder(value).encode("ascii")
        out: list[str] = []
        _encode(value, "$", out)
    except RecursionError:
        raise CanonicalError("$: value nested too deeply") from None
    return "".join(out).encode("utf-8")


def _refuse_float(text: str) -> NoReturn:
    raise CanonicalError(f"number {text} has a fraction or exponent (floats are not allowed)")


def _refuse_constant(text: str) -> NoReturn:
    raise CanonicalError(f"{text} is not JSON")


def _pairs(pairs: list[tuple[str, JSONValue]]) -> JSONObject:
    result: JSONObject = {}
    for key, value in pairs:
        if key in result:
            raise CanonicalError(f"duplicate object key {key!r}")
        result[key] = value
    return result


def loads(data: bytes) -> Any:
    """Parse canonical JSON bytes, refusing anything `dumps` would not have produced.

    The value is JSON whose shape nobody has checked yet: each caller reads the members it
    expects and checks them."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CanonicalError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    try:
        text = data.decode("utf-8", "strict")
    except UnicodeDecodeError as exc:
        raise CanonicalError(f"invalid UTF-8 at byte {exc.start}") from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_float=_refuse_float,
            parse_constant=_refuse_constant,
        )
    except CanonicalError:
        raise
    except RecursionError:
        raise CanonicalError("JSON nested too deeply") from None
    except ValueError as exc:  # json.JSONDecodeError, or int() digit limit
        raise CanonicalError(f"not JSON: {exc}") from None
    # Re-encoding names the precise problem (range, NFC, surrogate) before the byte compare.
    canonical = dumps(value)
    if canonical != data:
        offset = next(
            (i for i, (a, b) in enumerate(zip(canonical, data, strict=False)) if a != b),
            min(len(canonical), len(data)),
        )
        raise CanonicalError(
            f"bytes are not in canonical form (first difference at byte {offset}: "
            f"expected {canonical[offset : offset + 12]!r}, got {data[offset : offset + 12]!r})"
        )
    return value
