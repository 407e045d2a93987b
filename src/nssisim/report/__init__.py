"""The report: figures (``figures.py``), the numbers behind them (``summaries.py``), the Markdown
summary (``markdown.py``) and the demo workflow (``demo.py``) of simulation, population and trial results.
"""

from .summaries import classify_regimes, cohort_summary, effective_threshold, person_summary, population_summary
from .figures import plot_cohort, plot_person, plot_population
from .markdown import population_markdown, write_report
from .demo import demo_command, demo_configs, run_demo

__all__ = ["plot_person", "plot_cohort", "plot_population", "population_markdown", "population_summary",
           "write_report", "cohort_summary", "person_summary", "classify_regimes", "effective_threshold",
           "run_demo", "demo_command", "demo_configs"]
