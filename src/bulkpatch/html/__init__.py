"""Self-contained HTML pages: ``report.html`` (a run) and ``plan.html`` (a plan).

``kit`` escapes and lays out, ``charts`` draws inline SVG, ``samples`` folds the journal's
``tick`` lines into chart points, ``runreport`` builds a run's page model from its journal,
``runpage`` renders it and ``reportfile`` reads a run directory and writes its page;
``planpage`` renders a plan.  Nothing here needs a network to view.

Owns the HTML of both pages and the journal's reading into a run's page model.  Inside, imports
go one way: ``reportfile`` > ``runpage`` > ``runreport`` > ``samples`` > ``charts``, and
``kit`` under all.

May import: ``bulkpatch.rundir`` (to read a journal and write a page whole) and
``bulkpatch.core``.
"""
