"""docs/configuration.md's settings table is the one the declaration of Settings renders (`make docs`
writes it), so the docs and the code cannot drift apart; and every setting has its line of text."""

from __future__ import annotations

import dataclasses

from adjust_amplitude.config import Settings
from docs.settings_table import PAGE, settings_table, with_table


def test_every_setting_has_a_doc_text():
    missing = [f.name for f in dataclasses.fields(Settings) if not f.metadata.get("doc", "").strip()]
    assert not missing, f"declare these with setting(..., doc=...): {missing}"


def test_the_settings_table_in_the_docs_is_the_one_the_declaration_renders():
    page = PAGE.read_text(encoding="utf-8")
    assert with_table(page) == page, f"{PAGE} is out of date: run `make docs`"
    # One row per setting, in declaration order, under the header and its rule.
    keys = [row.split("|")[1].strip(" `") for row in settings_table().splitlines()[2:]]
    assert keys == [f.name for f in dataclasses.fields(Settings)]
