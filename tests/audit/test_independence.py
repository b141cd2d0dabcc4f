"""audit/ imports only the standard library and PyNaCl: an independent implementation."""

import ast
import pathlib
import sys

AUDIT = pathlib.Path(__file__).resolve().parents[2] / "audit"
ALLOWED_THIRD_PARTY = {"nacl"}


def imported_roots(path: pathlib.Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                roots.add("audit")  # relative import stays inside the package
            elif node.module:
                roots.add(node.module.split(".")[0])
    return roots


def test_audit_imports_only_stdlib_and_pynacl() -> None:
    files = sorted(AUDIT.glob("*.py"))
    assert files, "no audit modules found"
    for path in files:
        for root in imported_roots(path):
            ok = root in sys.stdlib_module_names or root in ALLOWED_THIRD_PARTY or root == "audit"
            assert ok, f"{path.name} imports {root!r}: audit/ may use only stdlib and nacl"
            assert root not in {"voting", "crypto", "web"}, f"{path.name} imports {root}"


def test_the_check_sees_a_forbidden_import(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from voting.majority import tally\nimport crypto.merkle\n")
    assert {"voting", "crypto"} <= imported_roots(bad)
