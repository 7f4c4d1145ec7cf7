"""Text from data, as the report pages show it: HTML-escaped, and every character visible.

HTML cannot carry the C0 control characters other than tab, line feed and form feed, nor DEL: a
browser drops a NUL, reads a CR as a line feed and keeps the others as invisible parse errors, so
a name holding one would silently show as another name. Each is shown as its Unicode control
picture instead (NUL as ␀, CR as ␍, ESC as ␛, DEL as ␡). The CSV keeps the values exactly.
"""

from __future__ import annotations

import html

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
