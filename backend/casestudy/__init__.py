"""The product's case study, reproducible on any machine: which pool suits which workload.

``run_case_study()`` runs an invoice batch (CPU/DB-bound) and a monitoring batch (I/O-bound)
on gevent and on prefork workers and measures wall time, cores used and peak USS of each;
``CaseStudyReport`` holds the rows and the ratios the product's claims rest on.
"""

from pooldesk.backend.casestudy.report import CaseStudyReport, Run
from pooldesk.backend.casestudy.run import CaseStudyError, run_case_study

__all__ = ["CaseStudyError", "CaseStudyReport", "Run", "run_case_study"]
