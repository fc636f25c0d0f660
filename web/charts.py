"""Small SVG charts, rendered on the server: no JavaScript, nothing fetched.

Each helper returns ``Markup`` (safe to place in a template as it is): every label is
escaped here. Colours come from the page's stylesheet through classes (``series-0``,
``series-1``, …), so the charts follow its theme and need no inline style (the
Content-Security-Policy allows none). Each chart carries a ``<title>`` and an
``aria-label``; the templates put its figures in a table beside it too.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

FONT = 12
LINE = 16


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    t = escape(title)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'aria-label="{t}" viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
        f"<title>{t}</title>{''.join(body)}</svg>"
    )


def _num(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def bar_chart(title: str, items: Sequence[tuple[str, float]], *, width: int = 640) -> Markup:
    """Horizontal bars, one per item, each labelled above its bar (long labels, such as
    the guidance's stage names, stay readable)."""
    row = 2 * LINE + 6
    top = 4
    height = top + max(len(items), 1) * row + 4
    biggest = max((v for _, v in items), default=0) or 1
    span = width - 60
    body: list[str] = []
    if not items:
        body.append(f'<text x="0" y="{top + LINE}" class="empty">None</text>')
    for n, (label, value) in enumerate(items):
        y = top + n * row
        w = max(span * value / biggest, 1 if value else 0)
        body.append(f'<text x="0" y="{y + FONT}" class="label">{escape(label)}</text>')
        body.append(
            f'<rect x="0" y="{y + LINE}" width="{w:.1f}" height="{LINE - 2}" class="series-0"/>'
        )
        body.append(
            f'<text x="{w + 6:.1f}" y="{y + LINE + FONT - 1}" class="value">{_num(value)}</text>'
        )
    return _svg(width, height, title, body)


def column_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    width: int = 640,
    height: int = 240,
) -> Markup:
    """Vertical columns: per category, one column per series side by side, a legend
    above and the category labels below."""
    legend_h = LINE + 8
    axis_h = LINE + 8
    plot_top = legend_h + LINE
    plot_h = height - plot_top - axis_h
    left = 32
    plot_w = width - left - 4
    biggest = max((v for _, vs in series for v in vs), default=0) or 1
    body: list[str] = []
    x = 0
    for s, (name, _) in enumerate(series):
        body.append(f'<rect x="{x}" y="2" width="12" height="12" class="series-{s}"/>')
        body.append(f'<text x="{x + 16}" y="{FONT + 1}" class="legend">{escape(name)}</text>')
        x += 16 + 8 * len(name) + 24
    base = plot_top + plot_h
    body.append(f'<line x1="{left}" y1="{base}" x2="{width - 4}" y2="{base}" class="axis"/>')
    body.append(f'<text x="{left - 4}" y="{plot_top + 4}" class="tick end">{_num(biggest)}</text>')
    body.append(f'<text x="{left - 4}" y="{base}" class="tick end">0</text>')
    slot = plot_w / max(len(categories), 1)
    col = max(min((slot - 6) / max(len(series), 1), 40), 2)
    for c, category in enumerate(categories):
        x0 = left + c * slot + (slot - col * len(series)) / 2
        for s, (_, values) in enumerate(series):
            value = values[c] if c < len(values) else 0
            h = plot_h * value / biggest
            cx = x0 + s * col
            body.append(
                f'<rect x="{cx:.1f}" y="{base - h:.1f}" width="{col - 1:.1f}" height="{h:.1f}" '
                f'class="series-{s}"><title>{escape(category)}, {escape(series[s][0])}: '
                f"{_num(value)}</title></rect>"
            )
            if value:
                body.append(
                    f'<text x="{cx + (col - 1) / 2:.1f}" y="{base - h - 3:.1f}" '
                    f'class="value middle">{_num(value)}</text>'
                )
        body.append(
            f'<text x="{left + c * slot + slot / 2:.1f}" y="{base + LINE}" '
            f'class="tick middle">{escape(category)}</text>'
        )
    return _svg(width, height, title, body)


def funnel(title: str, steps: Sequence[tuple[str, int]], *, width: int = 640) -> Markup:
    """Centred bars narrowing step by step, each with its count and the share of the
    step before it (a small step keeps a visible sliver)."""
    row = 2 * LINE + 10
    height = max(len(steps), 1) * row + 4
    first = steps[0][1] if steps else 0
    biggest = max(first, 1)
    body: list[str] = []
    previous: int | None = None
    for n, (label, count) in enumerate(steps):
        y = n * row
        w = max((width - 4) * count / biggest, 2)
        share = f" ({100 * count / previous:.1f}% of the step before)" if previous else ""
        body.append(
            f'<rect x="{(width - w) / 2:.1f}" y="{y}" width="{w:.1f}" height="{LINE + 4}" '
            f'class="series-{n % 2}"/>'
        )
        body.append(
            f'<text x="{width / 2:.1f}" y="{y + LINE + 4 + LINE}" class="label middle">'
            f"{escape(label)}: {count}{escape(share)}</text>"
        )
        previous = count
    return _svg(width, height, title, body)
