"""The report's pictures: one rendering for wide screens, one re-laid out for phones.

A figure drawn 7 inches wide and shown on a phone (about 360 CSS pixels) is scaled to
half its size, and its 10-point labels become 6-pixel smudges. So each figure with one
panel is embedded twice in a ``<picture>``: as drawn (the laptop's), and narrowed to
:data:`PHONE_WIDTH` inches with its text at the same point size (so, relative to the
picture, about 1.5 times larger), its title wrapped and its legend moved under
everything, for screens up to :data:`PHONE_MEDIA`. The browser loads only the one it
shows. The figure itself is left as it was.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine

__all__ = ["PHONE_MEDIA", "PHONE_WIDTH", "figure_html", "figure_to_data_uri", "phone_data_uri"]

PHONE_WIDTH = 4.8  #: inches: 10-point text stays ≥ 9 CSS pixels when shown 350 pixels wide
PHONE_DPI = 120  #: pixels per inch of the phone rendering (576 pixels: sharp enough on 2× screens)
PHONE_MEDIA = "(max-width: 600px)"  #: the screens that get the phone rendering
_LONG_LABEL = 24  #: legend labels longer than this go one per line on a phone


def figure_to_data_uri(figure: Figure, *, dpi: int = 100) -> str:
    """A matplotlib figure as a ``data:image/png;base64,…`` URI (a 256-colour PNG)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(_palette_png(buffer)).decode("ascii")


def _palette_png(buffer: io.BytesIO) -> bytes:
    """The picture in 256 colours: a third of the bytes, no visible change (a plot has
    few colours besides the anti-aliased edges and a colour map's levels)."""
    from PIL import Image

    buffer.seek(0)
    with Image.open(buffer) as image:
        small = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _panels(figure: Figure) -> int:
    """How many plotting areas: twin axes share one, colour bars are not counted."""
    return len({tuple(round(v, 3) for v in ax.get_position().bounds)
                for ax in figure.axes if ax.get_label() != "<colorbar>"})


def phone_data_uri(figure: Figure) -> str | None:
    """The figure re-laid out for a phone, as a data URI; None if it is narrow enough
    already, or has several panels or a fixed layout (it is then shown as drawn)."""
    width, height = figure.get_size_inches()
    if (width <= PHONE_WIDTH * 1.05 or _panels(figure) != 1
            or not isinstance(figure.get_layout_engine(), ConstrainedLayoutEngine)):
        return None
    legends = [ax.get_legend() for ax in figure.axes if ax.get_legend() is not None]
    titles = [ax.title for ax in figure.axes if ax.get_title() and not ax.title.get_wrap()]
    added: list[Any] = []
    try:
        for legend in legends:  # under everything (colour bars too), one or two columns
            labels = [text.get_text() for text in legend.get_texts()]
            columns = 1 if max(map(len, labels), default=0) > _LONG_LABEL else 2
            legend.set_visible(False)
            added.append(figure.legend(legend.legend_handles, labels, ncols=columns,
                                       loc="outside lower center", fontsize="small"))
        for text in titles:
            text.set_wrap(True)
        figure.set_size_inches(PHONE_WIDTH, height)
        return figure_to_data_uri(figure, dpi=PHONE_DPI)
    finally:
        figure.set_size_inches(width, height)
        for text in titles:
            text.set_wrap(False)
        for legend in added:
            legend.remove()
        for legend in legends:
            legend.set_visible(True)


def figure_html(figure: Figure, caption: str) -> str:
    """``<figure>`` with the picture (and its phone rendering, if any) and the caption."""
    text = html.escape(caption, quote=True)
    phone = phone_data_uri(figure)
    source = f"<source media=\"{PHONE_MEDIA}\" srcset=\"{phone}\">" if phone else ""
    return (f"<figure><picture>{source}<img src=\"{figure_to_data_uri(figure)}\" "
            f"alt=\"{text}\" loading=\"eager\"></picture><figcaption>{text}</figcaption>"
            "</figure>")
