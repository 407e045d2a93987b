"""The package version, in one place (read by the results' attrs and by ``nssisim --version``), and
the two pointers every user-facing entry shows: how to cite, and where the intended use is stated."""

__version__ = "0.1.0"

#: One line on how to cite (``nssisim --version``); the full entries are in the repository's CITATION.cff.
CITATION_HINT = ("Cite this software and the review it formalises, Chen & Zhuo (2026), Front. Psychol., "
                 "doi:10.3389/fpsyg.2026.1704139: see CITATION.cff.")

#: One line on intended use and limits (``nssisim --help``, the demo and its report); the model card is
#: MODEL_CARD.md at the repository root and a page of the docs site.
MODEL_CARD_NOTE = ("Intended use and limits (research only; no individual risk prediction, screening or "
                   "clinical decisions): MODEL_CARD.md.")
