"""The house rules between packages, checked on the source (issue 12)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# voting/ talks to witnesses over HTTP (C2SP tlog-witness): that client reads their answers'
# statuses, which are the protocol's words, not the domain's.
HTTP_CLIENTS = {"witnesses.py"}


def _voting_modules() -> list[Path]:
    return sorted((ROOT / "voting").rglob("*.py"))


def _is_http_status(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int and 400 <= node.value < 600


def test_no_http_status_in_voting() -> None:
    """A refusal carries a reason; web/errors.py alone turns it into an HTTP status. So
    nothing in voting/ names a status: no `status=`/`status_code=` argument, no exception
    keeping one, no 4xx/5xx compared with a `.status`, no HTTP library."""
    found: list[str] = []
    for path in _voting_modules():
        where = path.relative_to(ROOT)
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            line = getattr(node, "lineno", 0)
            if isinstance(node, ast.keyword) and node.arg in ("status", "status_code"):
                found.append(f"{where}:{node.value.lineno} {node.arg}= argument")
            elif isinstance(node, ast.Attribute) and node.attr == "status_code":
                found.append(f"{where}:{line} .status_code")
            elif (
                isinstance(node, ast.Assign)
                and any(
                    isinstance(t, ast.Attribute) and t.attr == "status" and _self(t.value)
                    for t in node.targets
                )
                and _inside_exception(path, node)
            ):
                found.append(f"{where}:{line} an exception keeping a status")
            elif (
                isinstance(node, ast.Compare)
                and any(_is_http_status(c) for c in [node.left, *node.comparators])
                and path.name not in HTTP_CLIENTS
            ):
                found.append(f"{where}:{line} compares with an HTTP status")
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                module = node.module if isinstance(node, ast.ImportFrom) else None
                for name in [*names, module or ""]:
                    if name.split(".")[0] in ("starlette", "http") and name != "http.client":
                        found.append(f"{where}:{line} imports {name}")
    assert found == []


def _self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def _inside_exception(path: Path, target: ast.AST) -> bool:
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ClassDef) and any(
            isinstance(b, ast.Name) and (b.id.endswith(("Error", "Exception")) or b.id == "Refused")
            for b in node.bases
        ):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Assign) and getattr(inner, "lineno", -1) == getattr(
                    target, "lineno", -2
                ):
                    return True
    return False


def test_one_refusal_type_and_one_translation_marker_in_voting() -> None:
    """Services refuse with voting.refusals.Refused (subclasses only where callers catch them
    apart), and the `_` marker is defined there only."""
    markers: list[str] = []
    for path in [*_voting_modules(), *sorted((ROOT / "web").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name == "_":
                markers.append(str(path.relative_to(ROOT)))
    assert markers == ["voting/refusals.py"]
