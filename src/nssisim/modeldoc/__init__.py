"""The model reference (docs/model.md): prose and equations from the Markdown files in
``modeldoc/text/``, and the tables rendered from the code (state domains, targets, the parameter
table and references).
"""

from .render import (
    check_references,
    DOCS_COMMAND,
    evidence_usage,
    GENERATED_MARK,
    load_references,
    mechanism_texts,
    MechanismText,
    render_model_md,
    SYMBOLS,
    write_model_md,
)

__all__ = ["DOCS_COMMAND", "GENERATED_MARK", "render_model_md", "write_model_md", "check_references", "load_references",
           "evidence_usage", "mechanism_texts", "MechanismText", "SYMBOLS"]
