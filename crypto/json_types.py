"""JSON values for the type checker: what a parser gives back (`crypto.canonical.loads`,
`json.loads`) and what an entry's body holds."""

from __future__ import annotations

from typing import TypeAlias

JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"
JSONObject: TypeAlias = "dict[str, JSONValue]"
