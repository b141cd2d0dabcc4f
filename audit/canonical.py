"""Canonical JSON (RFC 8785 JCS restricted to integers and NFC strings), spec §2.

``encode`` is the reference serialiser; ``parse`` accepts bytes only when they are exactly the
canonical serialisation of the value they parse to.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, NoReturn

MAX_INT = 2**53 - 1

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


class CanonicalError(ValueError):
    """The bytes are not a canonical JSON text of the allowed subset."""


def _utf16_key(s: str) -> bytes:
    return s.encode("utf-16-be", "surrogatepass")


def _encode_string(s: str, out: list[str]) -> None:
    out.append('"')
    for ch in s:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')


def _encode(value: object, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if not -MAX_INT <= value <= MAX_INT:
            raise CanonicalError(f"integer out of range: {value}")
        out.append(str(value))
    elif isinstance(value, str):
        if not unicodedata.is_normalized("NFC", value):
            raise CanonicalError("string not in Unicode NFC")
        _encode_string(value, out)
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        for i, key in enumerate(sorted(value, key=_utf16_key)):
            if not isinstance(key, str):
                raise CanonicalError("object key is not a string")
            if i:
                out.append(",")
            _encode(key, out)
            out.append(":")
            _encode(value[key], out)
        out.append("}")
    else:
        raise CanonicalError(f"type not allowed in canonical JSON: {type(value).__name__}")


def encode(value: object) -> bytes:
    """Return the canonical (JCS) bytes of ``value`` (ints, strings, lists, dicts, bools, None)."""
    out: list[str] = []
    _encode(value, out)
    try:
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalError("string contains a lone surrogate") from exc


def _reject_float(text: str) -> NoReturn:
    raise CanonicalError(f"number with a fraction or exponent: {text}")


def _reject_constant(text: str) -> NoReturn:
    raise CanonicalError(f"non-JSON constant: {text}")


def _check_int(text: str) -> int:
    value = int(text)
    if not -MAX_INT <= value <= MAX_INT:
        raise CanonicalError(f"integer out of range: {text}")
    return value


def _pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # The input must already be in JCS member order: strictly increasing keys also
    # rules out duplicates. Code-point order equals UTF-16 order below U+E000.
    prev: str | None = None
    for key, _ in pairs:
        if prev is not None:
            if max(prev + key, default=" ") >= "\ue000":
                ordered = _utf16_key(prev) < _utf16_key(key)
            else:
                ordered = prev < key
            if not ordered:
                if prev == key:
                    raise CanonicalError(f"duplicate object key: {key!r}")
                raise CanonicalError(f"object keys not in canonical order: {prev!r}, {key!r}")
        prev = key
    return dict(pairs)


def _check_nfc(value: object) -> None:
    if isinstance(value, str):
        if not unicodedata.is_normalized("NFC", value):
            raise CanonicalError(f"string not in Unicode NFC: {value!r}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_nfc(key)
            _check_nfc(item)
    elif isinstance(value, list):
        for item in value:
            _check_nfc(item)


_LONG_DIGITS = re.compile(rb"[0-9]{16}")


def parse(data: bytes) -> Any:
    """Parse ``data`` and return its value; raise CanonicalError unless it is canonical."""
    if data.isascii() and not _LONG_DIGITS.search(data):
        # Fast path. For ASCII text, code-point key order is UTF-16 order and NFC holds;
        # without 16 consecutive digits every integer is within ±(2^53-1); duplicate keys
        # shrink the object and any other deviation changes the re-encoded bytes.
        try:
            value = json.loads(data, parse_float=_reject_float, parse_constant=_reject_constant)
            again = json.dumps(
                value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
            ).encode("utf-8")
        except CanonicalError:
            raise
        except (ValueError, RecursionError, UnicodeEncodeError):
            again = None
        if again == data:
            return value
    return _parse_slow(data)


def _parse_slow(data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CanonicalError("not valid UTF-8") from exc
    try:
        value = json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_float=_reject_float,
            parse_int=_check_int,
            parse_constant=_reject_constant,
        )
    except CanonicalError:
        raise
    except (ValueError, RecursionError) as exc:
        raise CanonicalError(f"not valid JSON: {exc}") from exc
    # Key order was checked while parsing, so the C encoder without sorting reproduces JCS.
    try:
        again = json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalError("string contains a lone surrogate") from exc
    if again != data:
        raise CanonicalError("bytes differ from the canonical (JCS) serialisation")
    if not data.isascii():
        _check_nfc(value)
    return value
