"""MkDocs hook (mkdocs.yml ``hooks:``): the site's model card page is the repository's MODEL_CARD.md.

``docs/model_card.md`` is a placeholder; its content is replaced at build time by the text of
``MODEL_CARD.md`` at the repository root, so the two never drift apart. Links in MODEL_CARD.md
are written relative to the repository root (``docs/calibration.md``) so that they work when the
file is read on its own; on the site they are rewritten to be relative to ``docs/``.
"""

from __future__ import annotations

import re
from pathlib import Path

MODEL_CARD = "MODEL_CARD.md"
PAGE = "model_card.md"

_DOCS_LINK = re.compile(r"\]\(docs/")


def site_markdown(text: str) -> str:
    """MODEL_CARD.md's text with its ``docs/...`` links made relative to the docs folder."""
    return _DOCS_LINK.sub("](", text)


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri != PAGE:
        return markdown
    root = Path(config.config_file_path).parent
    return site_markdown((root / MODEL_CARD).read_text(encoding="utf-8"))


def on_serve(server, config, builder):
    server.watch(str(Path(config.config_file_path).parent / MODEL_CARD))
    return server
