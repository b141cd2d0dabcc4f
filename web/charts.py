"""Server-rendered SVG charts: merit profiles as stacked bars with the median line.

No JavaScript and no inline CSS (the CSP forbids it): colours are SVG presentation
attributes. Each chart is an ``<svg role="img">`` labelled by its ``<title>`` and ``<desc>``;
the page also prints the same numbers in a table, the chart's text alternative. The legend is
HTML beside the drawing, not SVG text: a drawing shrinks with the screen, and its legend
would shrink to about 7 px on a phone; HTML text keeps the page's size (at least 12 px).
Text drawn inside the bar is sized for a phone (21 units of a 600-unit bar: 12 px at 343 px).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import NotRequired, TypedDict, Unpack

from markupsafe import Markup, escape

__all__ = ["grade_colours", "merit_overview_svg", "merit_profile_svg", "profile_shares"]

# Red (worst) to green (best), readable with white or dark text, distinguishable in grey.
_PALETTE_7 = ["#8e1b1b", "#c8442b", "#e58a2c", "#e9c53a", "#9cc54a", "#3f9d4a", "#1c6b3a"]
_DARK_TEXT = {"#e58a2c", "#e9c53a", "#9cc54a"}

WIDTH = 600
BAR_HEIGHT = 40
TOP = 8
BAR_FONT = 21  # SVG units: 12 px once a 600-unit chart is drawn 343 px wide (a phone)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def grade_colours(n_grades: int) -> list[str]:
    """One fill colour per grade, worst first (the 7-grade palette, interpolated otherwise)."""
    if n_grades == len(_PALETTE_7):
        return list(_PALETTE_7)
    if n_grades == 1:
        return [_PALETTE_7[-1]]
    colours = []
    for i in range(n_grades):
        position = Fraction(i * (len(_PALETTE_7) - 1), n_grades - 1)
        low = int(position)
        high = min(low + 1, len(_PALETTE_7) - 1)
        t = position - low
        a, b = _rgb(_PALETTE_7[low]), _rgb(_PALETTE_7[high])
        colours.append(
            _hex(tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True)))  # type: ignore[arg-type]
        )
    return colours


def _luminance(colour: str) -> float:
    """WCAG 2 relative luminance."""
    channels = [x / 255 for x in _rgb(colour)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _text_colour(fill: str) -> str:
    """Dark or white text, whichever contrasts more with `fill` (WCAG contrast ratio)."""
    return max(("#1b1b1f", "#ffffff"), key=lambda text: _contrast(text, fill))


def profile_shares(profile: Sequence[int]) -> list[Fraction]:
    """Each grade's share of the candidate's judgments (zeros for an empty profile)."""
    total = sum(profile)
    return [Fraction(count, total) if total else Fraction(0) for count in profile]


def _percent(share: Fraction, lang: str) -> str:
    # French typography puts a space before "%" and ":", English does not.
    return f"{round(share * 100)} %" if lang == "fr" else f"{round(share * 100)}%"


def _marks(grades: Sequence[str], lang: str, grade_langs: Sequence[str] | None) -> list[str]:
    return [
        f' lang="{escape(g)}"' if g != lang else "" for g in (grade_langs or [lang] * len(grades))
    ]


def _bar(
    profile: Sequence[int],
    grades: Sequence[str],
    colours: Sequence[str],
    marks: Sequence[str],
    top: int,
    lang: str,
) -> list[str]:
    """One stacked bar at height ``top``: a grey track, a rect per grade, its share on it."""
    if len(profile) != len(grades):
        raise ValueError(f"profile has {len(profile)} counts for {len(grades)} grades")
    total = sum(profile)
    parts = [f'<rect x="0" y="{top}" width="{WIDTH}" height="{BAR_HEIGHT}" fill="#eeeef2"/>']
    cumulative = 0
    for count, label, fill, mark in zip(profile, grades, colours, marks, strict=True):
        if total == 0 or count == 0:
            continue
        x0 = cumulative * WIDTH // total
        cumulative += count
        x1 = cumulative * WIDTH // total
        width = x1 - x0
        parts.append(
            f'<rect x="{x0}" y="{top}" width="{width}" height="{BAR_HEIGHT}" fill="{fill}">'
            f"<title{mark}>{escape(label)}{' :' if lang == 'fr' else ':'} {count} "
            f"({_percent(Fraction(count, total), lang)})</title></rect>"
        )
        if width >= 58:
            parts.append(
                f'<text x="{x0 + width / 2:g}" y="{top + BAR_HEIGHT / 2 + 7:g}" '
                f'text-anchor="middle" font-size="{BAR_FONT}" fill="{_text_colour(fill)}" '
                f'aria-hidden="true">{_percent(Fraction(count, total), lang)}</text>'
            )
    return parts


def _median(top: int, bottom: int, median_label: str) -> list[str]:
    """The dashed line at 50 % from ``top`` to ``bottom``, labelled below."""
    middle = WIDTH // 2
    return [
        f'<line x1="{middle}" y1="{top - 6}" x2="{middle}" y2="{bottom + 6}" '
        f'stroke="#1b1b1f" stroke-width="3" stroke-dasharray="6 3"/>',
        f'<text x="{middle}" y="{bottom + 26}" text-anchor="middle" '
        f'font-size="{BAR_FONT}" fill="#1b1b1f" aria-hidden="true">{escape(median_label)}</text>',
    ]


def _legend(grades: Sequence[str], colours: Sequence[str], marks: Sequence[str]) -> list[str]:
    # The legend repeats what the chart's <desc> and the table say: hidden from screen readers.
    parts = ['<ul class="chart-legend" aria-hidden="true">']
    for label, fill, mark in zip(grades, colours, marks, strict=True):
        parts.append(
            f'<li><svg class="swatch" width="12" height="12" viewBox="0 0 12 12">'
            f'<rect width="12" height="12" fill="{fill}"/></svg>'
            f"<span{mark}>{escape(label)}</span></li>"
        )
    parts.append("</ul>")
    return parts


def _open_svg(ident: str, height: int, title: str, description: str, extra: str = "") -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="merit-chart{extra}" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="{ident}-title {ident}-desc">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
    ]


class ChartText(TypedDict):
    """What a chart says besides its numbers. ``chart_id`` must be unique in the page (it
    makes the ids ``aria-labelledby`` points to); ``grade_langs`` gives each grade label's
    language where it differs from ``lang`` (a custom label), so that screen readers
    pronounce it right."""

    chart_id: str
    title: str
    description: str
    median_label: NotRequired[str]  # "médiane" unless given
    lang: NotRequired[str]  # "fr" unless given
    grade_langs: NotRequired[Sequence[str] | None]


def merit_profile_svg(
    profile: Sequence[int], grades: Sequence[str], **text: Unpack[ChartText]
) -> Markup:
    """A stacked bar of ``profile`` (counts worst→best) with a line at the median (50 %),
    followed by its legend (an HTML list, readable at the page's text size on any screen).

    Widths are whole SVG units computed with exact fractions, so they always add up to
    the full bar.
    """
    return _merit_chart([("", profile)], grades, text, name_row=0)


NAME_ROW = 28  # SVG units above each bar of the overview for the candidate's name


def merit_overview_svg(
    rows: Sequence[tuple[str, Sequence[int]]],
    grades: Sequence[str],
    **text: Unpack[ChartText],
) -> Markup:
    """Every candidate's merit profile in one chart, in the order given (the ranking): a name
    over each bar, one median line through them all, one legend (as Mieux Voter shows a
    result at a glance)."""
    return _merit_chart(rows, grades, text, name_row=NAME_ROW, extra=" merit-overview")


def _merit_chart(
    rows: Sequence[tuple[str, Sequence[int]]],
    grades: Sequence[str],
    text: ChartText,
    *,
    name_row: int,
    extra: str = "",
) -> Markup:
    """The bars of ``rows`` one under the other, each with ``name_row`` units above it for
    its name (none: no name drawn), the median line through them all, then the legend."""
    lang = text.get("lang", "fr")
    colours = grade_colours(len(grades))
    marks = _marks(grades, lang, text.get("grade_langs"))
    step = name_row + BAR_HEIGHT + 12
    bottom = TOP + len(rows) * step - 12
    ident = escape(text["chart_id"])
    parts = _open_svg(ident, bottom + 30, text["title"], text["description"], extra)
    for position, (name, profile) in enumerate(rows):
        top = TOP + position * step
        if name_row:
            parts.append(
                f'<text x="0" y="{top + name_row - 8}" font-size="{BAR_FONT}" font-weight="700" '
                f'fill="#1b1b1f" aria-hidden="true">{escape(name)}</text>'
            )
        parts += _bar(profile, grades, colours, marks, top + name_row, lang)
    parts += _median(TOP + name_row, bottom, text.get("median_label", "médiane"))
    parts.append("</svg>")
    parts += _legend(grades, colours, marks)
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
