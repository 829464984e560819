"""Self-contained HTML pages: ``report.html`` (a run) and ``plan.html`` (a plan).

``kit`` escapes and lays out, ``charts`` draws inline SVG, ``samples`` folds the journal's
``tick`` lines into chart points, ``runreport`` builds a run's page model from its journal,
``runpage`` renders it and ``reportfile`` reads a run directory and writes its page;
``planpage`` renders a plan.  Nothing here needs a network to view.
"""
