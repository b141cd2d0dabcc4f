"""Keyboard and screen-reader semantics of the booth, read from the HTML a browser gets.

One fieldset per candidate with its name as the legend and one labelled radio per grade;
every id unique and every reference (label for, aria-describedby, aria-labelledby, error
links) pointing at an element that exists; an error summary that takes focus and links to
the first radio of each row in error, rows marked aria-invalid; the rounds stylesheet in
<head>, not in <main>. Browser tests with axe live elsewhere; these run without a browser.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, post_form, sign_in
from tests.fixtures.rounds import (
    GRADES,
    RoundPrimary,
    cast_over_http,
    open_round_over_http,
    seed_round_primary,
)


class Page(HTMLParser):
    """Elements with their attributes, ancestry and text (enough for these checks)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[dict] = []
        self.stack: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        element = {
            "tag": tag,
            "attrs": {k: (v if v is not None else "") for k, v in attrs},
            "parents": [e["tag"] for e in self.stack],
            "parent_ids": [id(e) for e in self.stack],
            "text": "",
            "children": [],
        }
        if self.stack:
            self.stack[-1]["children"].append(element)
        self.elements.append(element)
        if tag not in {"input", "link", "meta", "br", "img", "hr"}:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()["tag"] == tag:
                break

    def handle_data(self, data: str) -> None:
        for element in self.stack:
            element["text"] += data

    def all(self, tag: str, **attrs: str) -> list[dict]:
        return [
            e
            for e in self.elements
            if e["tag"] == tag and all(e["attrs"].get(k) == v for k, v in attrs.items())
        ]

    def ids(self) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for e in self.elements:
            if "id" in e["attrs"]:
                assert e["attrs"]["id"] not in found, f"duplicate id {e['attrs']['id']}"
                found[e["attrs"]["id"]] = e
        return found


def _check_references(page: Page) -> None:
    ids = page.ids()
    for e in page.elements:
        for name in ("aria-describedby", "aria-labelledby"):
            for ref in e["attrs"].get(name, "").split():
                assert ref in ids, f"{name}={ref} points nowhere"
        if e["tag"] == "label" and "for" in e["attrs"]:
            assert e["attrs"]["for"] in ids, f"label for={e['attrs']['for']} points nowhere"
        href = e["attrs"].get("href", "") if e["tag"] == "a" else ""
        if href.startswith("#"):
            assert href[1:] in ids, f"link {href} points nowhere"
    # Every form control has a label (or is hidden / a button).
    labelled = {e["attrs"]["for"] for e in page.all("label") if "for" in e["attrs"]}
    for e in page.all("input"):
        if e["attrs"].get("type") in ("hidden", "submit"):
            continue
        assert e["attrs"].get("id") in labelled or "aria-label" in e["attrs"], e["attrs"]


def _stylesheet_in_head(page: Page) -> None:
    [booth_css] = page.all("link", href="/static/booth.css")
    assert "head" in booth_css["parents"] and "main" not in booth_css["parents"]


@pytest.fixture
def primary(client: TestClient) -> RoundPrimary:
    primary = seed_round_primary(client, candidates=4)
    open_round_over_http(client, primary)
    return primary


def _voter(client: TestClient, email: str) -> TestClient:
    voter = another_client(client)
    sign_in(voter, email)
    return voter


def test_booth_rows_are_labelled_radio_groups(client, primary) -> None:
    voter = _voter(client, "a11y-1@example.org")
    page = Page(voter.get(f"/primaries/{primary.slug}/rounds/1/vote").text)
    _check_references(page)
    _stylesheet_in_head(page)
    fieldsets = page.all("fieldset")
    assert len(fieldsets) == len(primary.candidates)
    for fieldset in fieldsets:
        # The legend comes first and names the candidate; then one radio per grade.
        first = fieldset["children"][0]
        assert first["tag"] == "legend" and first["text"].strip() in primary.names.values()
        radios = [e for e in page.all("input", type="radio") if id(fieldset) in e["parent_ids"]]
        assert len(radios) == len(GRADES)
        assert len({r["attrs"]["name"] for r in radios}) == 1  # one group: arrow keys move
        labels = {
            e["attrs"]["for"]: e["text"].strip()
            for e in page.all("label")
            if id(fieldset) in e["parent_ids"]
        }
        assert [labels[r["attrs"]["id"]] for r in radios] == GRADES
        assert not any("tabindex" in r["attrs"] for r in radios)  # natural tab order
    # Nothing needs JavaScript; the submit controls are real buttons inside the form.
    assert not page.all("script")
    [form] = page.all("form", **{"class": "booth"})
    buttons = [e for e in page.all("button") if id(form) in e["parent_ids"]]
    assert {b["attrs"].get("value") for b in buttons} == {"grades", "blank"}
    assert all(b["attrs"].get("type") == "submit" for b in buttons)


def test_errors_are_summarised_linked_and_focusable(client, primary) -> None:
    voter = _voter(client, "a11y-2@example.org")
    first, second = primary.candidates[:2]
    response = post_form(
        voter,
        f"/primaries/{primary.slug}/rounds/1/vote",
        {f"grade-{first}": "3", f"grade-{second}": "9"},
    )
    assert response.status_code == 400
    page = Page(response.text)
    _check_references(page)
    _stylesheet_in_head(page)
    assert page.all("title")[0]["text"].startswith("Erreur")
    [summary] = page.all("div", id="erreurs")
    assert summary["attrs"]["role"] == "alert"
    assert summary["attrs"]["tabindex"] == "-1" and "autofocus" in summary["attrs"]
    ids = page.ids()
    in_error = [c for c in primary.candidates if c != first]
    links = [e["attrs"]["href"][1:] for e in page.all("a") if id(summary) in e["parent_ids"]]
    assert sorted(links) == sorted(f"g-{c}-0" for c in in_error)
    for cid in in_error:
        target = ids[f"g-{cid}-0"]
        assert target["tag"] == "input" and target["attrs"]["type"] == "radio"
        [fieldset] = [e for e in page.all("fieldset") if e["attrs"].get("aria-describedby")
                      == f"err-{cid}"]  # fmt: skip
        assert "has-error" in fieldset["attrs"]["class"]
        assert ids[f"err-{cid}"]["text"].strip()
        radios = [e for e in page.all("input", type="radio") if id(fieldset) in e["parent_ids"]]
        assert all(r["attrs"].get("aria-invalid") == "true" for r in radios)
    # The row answered correctly is kept, without error marks.
    kept = ids[f"g-{first}-3"]
    assert "checked" in kept["attrs"] and "aria-invalid" not in kept["attrs"]


def test_review_receipt_and_check_pages_are_well_formed(client, primary) -> None:
    voter = _voter(client, "a11y-3@example.org")
    choices = {f"grade-{c}": "4" for c in primary.candidates}
    review = Page(post_form(voter, f"/primaries/{primary.slug}/rounds/1/vote", choices).text)
    _check_references(review)
    _stylesheet_in_head(review)
    [table] = review.all("table", **{"class": "review"})
    assert table["children"][0]["tag"] == "caption"
    assert len(review.all("th", scope="row")) == len(primary.candidates)
    receipt_page, document = cast_over_http(voter, f"/primaries/{primary.slug}", 1, choices)
    receipt = Page(receipt_page.text)
    _check_references(receipt)
    _stylesheet_in_head(receipt)
    assert receipt.all("p", role="status")
    check = Page(
        voter.get(f"/primaries/{primary.slug}/check", params={"tracker": document["tracker"]}).text
    )
    _check_references(check)
    assert not [e for e in check.elements if "inputmode" in e["attrs"]]
    bad = Page(voter.get(f"/primaries/{primary.slug}/check", params={"tracker": "xyz"}).text)
    _check_references(bad)
    [field] = bad.all("input", id="tracker")
    assert field["attrs"]["aria-invalid"] == "true"
    assert field["attrs"]["aria-describedby"] == "tracker-error"
