"""Read a report page back the way a reader sees it: table cells and card values as text."""

from __future__ import annotations

import dataclasses
from html.parser import HTMLParser


@dataclasses.dataclass
class Row:
    css: str
    cells: list[str]


class ReportPage(HTMLParser):
    """Tables by id (rows of cell texts, with each row's class), headline cards by data-figure,
    the <title>s of SVG shapes, and every tag name seen."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[Row]] = {}
        self.cards: dict[str, str] = {}
        self.card_text: dict[str, str] = {}
        self.shape_titles: list[str] = []
        self.tags: set[str] = set()
        self.links: list[str] = []
        self._table: str | None = None
        self._row: Row | None = None
        self._cell: list[str] | None = None
        self._card: str | None = None
        self._card_depth = 0
        self._in_value = False
        self._shape_depth = 0
        self._in_title = False
        self._title: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "table":
            self._table = a.get("id", "")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = Row(a.get("class") or "", [])
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "div" and "data-figure" in a:
            self._card, self._card_depth = a["data-figure"], 1
            self.card_text[self._card] = ""
        elif tag == "div" and self._card:
            self._card_depth += 1
        elif tag == "span" and a.get("class") == "value" and self._card:
            self._in_value = True
            self.cards[self._card] = ""
        elif tag in ("rect", "circle"):
            self._shape_depth += 1
        elif tag == "title" and self._shape_depth:
            self._in_title, self._title = True, []

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag == "tr" and self._row is not None:
            if self._row.cells and self._table is not None:
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.cells.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "span" and self._in_value:
            self._in_value = False
        elif tag == "div" and self._card:
            self._card_depth -= 1
            if not self._card_depth:
                self._card = None
        elif tag == "title" and self._in_title:
            self.shape_titles.append("".join(self._title))
            self._in_title = False
        elif tag in ("rect", "circle"):
            self._shape_depth -= 1

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._in_value and self._card:
            self.cards[self._card] += data
        if self._card:
            self.card_text[self._card] += data
        if self._in_title:
            self._title.append(data)

    def body_rows(self, table_id: str) -> list[Row]:
        """The rows under the header row."""
        return self.tables[table_id][1:]


def number(text: str) -> int:
    return int(text.replace(",", ""))


def percent(text: str) -> float | None:
    return None if text == "–" else float(text.rstrip("%")) / 100
