"""The house rules between packages, checked on the source (issue 12):

- no HTTP status in voting/ (web/errors.py maps refusal reasons to statuses);
- a state change happens in a unit of work (voting/unit_of_work.py): no module under web/
  opens a transaction for a write, waits on the log or publishes a checkpoint;
- the log is sealed behind voting/log/: no other production module names its tables in SQL.
"""

from __future__ import annotations

import ast
import re
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


PRODUCTION = ("crypto", "voting", "web", "audit")

WRITE_TRANSACTION = re.compile(r"\.transaction\(\s*\)")
LOG_WAIT = re.compile(r"(?:\blog|_log\([^)]*\)|\.log)\.wait\(")
PUBLISH = re.compile(r"\bpublish_checkpoint\b")
LITERAL_KIND = re.compile(r'\blog\.append\(\s*[\w.]+,\s*[^,()]+(?:\([^()]*\))?,\s*"[a-z-]+"')
LOG_TABLES = (
    "logs",
    "log_queue",
    "log_entries",
    "log_tiles",
    "log_checkpoints",
    "log_cosignatures",
)
LOG_TABLE_SQL = re.compile(
    r"\b(?:FROM|JOIN|INTO|UPDATE|TABLE)\s+(" + "|".join(LOG_TABLES) + r")\b", re.IGNORECASE
)


def _sources(*folders: str) -> list[tuple[str, str]]:
    found = []
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            found.append((path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")))
    return found


def _hits(pattern: re.Pattern[str], text: str) -> list[int]:
    return [text.count("\n", 0, m.start()) + 1 for m in pattern.finditer(text)]


def test_no_web_module_drives_the_write_protocol_by_hand() -> None:
    offenders = []
    for name, text in _sources("web"):
        for what, pattern in (
            ("opens a transaction", WRITE_TRANSACTION),
            ("waits on the log", LOG_WAIT),
            ("publishes a checkpoint", PUBLISH),
        ):
            offenders += [f"{name}:{line} {what}" for line in _hits(pattern, text)]
    assert offenders == [], "use a unit of work (docs/architecture.md): " + "; ".join(offenders)


def test_nothing_outside_voting_log_reads_the_log_tables() -> None:
    offenders = []
    for name, text in _sources(*PRODUCTION):
        if name.startswith("voting/log/"):
            continue
        offenders += [f"{name}:{line}" for line in _hits(LOG_TABLE_SQL, text)]
    assert offenders == [], "read the log through voting/log/readers.py: " + "; ".join(offenders)


def test_services_build_their_log_entries_from_the_registry() -> None:
    """`log.append(conn, primary_id, SomeKind(...))`, a dataclass of voting/entry_kinds.py,
    never a literal kind with an inline body."""
    offenders = []
    for name, text in _sources("voting", "web"):
        if name.startswith("voting/log/"):
            continue
        offenders += [f"{name}:{line}" for line in _hits(LITERAL_KIND, text)]
    assert offenders == [], "use voting/entry_kinds.py: " + "; ".join(offenders)


def test_the_rules_catch_what_they_forbid() -> None:
    """The patterns find the hand-driven protocol and a direct log query as views wrote them."""
    view = (
        "async with request.app.state.pool.acquire() as conn, conn.transaction():\n"
        "    queued = await cast(conn, log)\n"
        "placed = await _log(request).wait(pool, queued)\n"
        "await request.app.state.log.wait(pool, queued)\n"
        "await log.publish_checkpoint(pool, primary.id)\n"
    )
    assert _hits(WRITE_TRANSACTION, view) == [1]
    assert _hits(LOG_WAIT, view) == [3, 4]
    assert _hits(PUBLISH, view) == [5]
    assert _hits(WRITE_TRANSACTION, "async with conn.transaction(readonly=True):") == []
    assert _hits(LOG_WAIT, "self.process.wait(timeout=30)") == []
    query = 'await conn.fetchval("SELECT origin FROM logs WHERE primary_id = $1", pid)'
    assert _hits(LOG_TABLE_SQL, query) == [1]
    assert _hits(LOG_TABLE_SQL, "SELECT 1 FROM log_entries e JOIN primaries p") == [1]
    assert _hits(LOG_TABLE_SQL, "# the logs of every primary") == []
    literal = 'await log.append(conn, primary.id, "support", body, at=now)'
    assert _hits(LITERAL_KIND, literal) == [1]
    assert _hits(LITERAL_KIND, 'await uow.log.append(uow.conn, row["id"], "result", b)') == [1]
    typed = "await log.append(conn, primary.id, Support(**body), at=now)"
    assert _hits(LITERAL_KIND, typed) == []
    assert _hits(LITERAL_KIND, 'await log.append(conn, pid, _entry(c, "revised"))') == []


TEST_MODULE_IMPORT = re.compile(r"^\s*(?:from|import)\s+tests(?:\.\w+)*\.test_\w+", re.M)


def test_tests_share_helpers_through_fixtures_not_through_other_test_modules() -> None:
    """A helper two test modules need lives in tests/fixtures/ (or a helper module such as
    tests/audit/builder.py), so that each test module can be read, moved or deleted alone."""
    offenders = [
        f"{name}:{line}"
        for name, text in _sources("tests")
        for line in _hits(TEST_MODULE_IMPORT, text)
    ]
    assert offenders == [], "move the helper to tests/fixtures/: " + "; ".join(offenders)
    assert _hits(TEST_MODULE_IMPORT, "from tests.web.test_candidacies import citizen") == [1]
    assert _hits(TEST_MODULE_IMPORT, "from tests.fixtures.candidacies import citizen") == []
