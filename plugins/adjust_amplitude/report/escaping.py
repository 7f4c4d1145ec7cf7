"""Text from data, as the report pages show it: HTML-escaped, and every character visible.

HTML cannot carry the C0 control characters other than tab, line feed and form feed, nor DEL: a
browser drops a NUL, reads a CR as a line feed and keeps the others as invisible parse errors, so
a name holding one would silently show as another name. Each is shown as its Unicode control
picture instead (NUL as ␀, CR as ␍, ESC as ␛, DEL as ␡). The CSV keeps the values exactly.

A name can also hold bidirectional controls: a U+202E (right-to-left override) reverses what
follows it, to the end of its paragraph or table cell. So each name from data is isolated, and such
a control acts on the name alone: in HTML in a <bdi> (name_html), in a one-line text between
Unicode's own isolate marks, FSI and PDI (name_text), which an HTML layout of that text turns into
<bdi>s (marked_html).
"""

from __future__ import annotations

import html
import re

CONTROL_PICTURES = {code: 0x2400 + code for code in range(0x20) if chr(code) not in "\t\n\f"} | {0x7F: 0x2421}


def escape(text: str) -> str:
    """`text` for HTML text or a quoted attribute value: & < > " ' escaped, controls as pictures."""
    return html.escape(text).translate(CONTROL_PICTURES)


# In a one-line text (a notification's subject or line) no control character is kept, tab and line
# feed included: a name with a line break could otherwise add a header to an email.
ALL_CONTROL_PICTURES = {code: 0x2400 + code for code in range(0x20)} | {0x7F: 0x2421}


def one_line(text: str) -> str:
    """`text` with every control character shown as its picture."""
    return text.translate(ALL_CONTROL_PICTURES)


# How content.py and moves.py join a path of names (network › campaign › ad group › creative): each
# name of a path is isolated on its own, so one name's override cannot reach the next. A name that
# holds " › " itself is only cut into more isolated parts.
PATH = " › "
FSI, PDI = "\u2068", "\u2069"
# LRI, RLI, FSI and PDI: inside a name, one would end the name's isolation early, or leave it open.
ISOLATE_MARKS = {code: None for code in range(0x2066, 0x206A)}
MARKED = re.compile(f"{FSI}([^{FSI}{PDI}]*){PDI}")


def name_html(label: str) -> str:
    """A name from data (or a path of names) for HTML: escaped, each name in a <bdi>."""
    return PATH.join(f"<bdi>{escape(name)}</bdi>" for name in label.split(PATH))


def name_text(label: str) -> str:
    """A name from data (or a path of names) inside a one-line text: each name between FSI and PDI,
    without isolate marks of its own."""
    return PATH.join(f"{FSI}{name.translate(ISOLATE_MARKS)}{PDI}" for name in label.split(PATH))


def marked_html(text: str) -> str:
    """A text whose names name_text marked, for HTML: escaped, each marked name in a <bdi>."""
    return MARKED.sub(r"<bdi>\1</bdi>", escape(text))
