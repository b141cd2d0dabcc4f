"""Safe Markdown for candidates' programmes: markdown-it-py renders, nh3 cleans.

Raw HTML in the source is not interpreted (markdown-it `html=False`), and the rendered HTML
is then reduced by nh3 to an allow-list of tags and attributes, with links restricted to
http, https and mailto (so no `javascript:` or `data:` URL survives) and marked
`rel="nofollow noopener noreferrer"`. Images are not allowed: they would let a programme
track its readers.
"""

from __future__ import annotations

from functools import cache

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "code", "pre", "blockquote",
    "ul", "ol", "li", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody",
    "tr", "th", "td", "del",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}


@cache
def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    parser.enable(["table", "strikethrough"])
    # Programmes live under the candidate's name (h1) and section headings (h2): shift down.
    parser.core.ruler.push("shift_headings", _shift_headings)
    return parser


def _shift_headings(state) -> None:  # type: ignore[no-untyped-def]
    for token in state.tokens:
        if token.type in ("heading_open", "heading_close"):
            level = min(6, int(token.tag[1]) + 2)
            token.tag = f"h{level}"


def render(source: str) -> str:
    """HTML safe to insert into a page (still mark it `|safe` only after this call)."""
    html = _parser().render(source)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )
