"""The eval harness as a product: cases, metrics, a naive baseline, reports and clinician grading.

cases.py       the case format (../shared/contract/answer.md) and the retrieval-label format
metrics.py     per-case scores and their aggregates (per file, kind and split)
baseline.py    naive retrieval answers scored on the same cases
run.py         one run: every file, the assistant (in-process or --api) and the baseline
report.py      JSON, Markdown and one self-contained HTML report; --compare
review_sheet.py the clinician's sheet (CSV and HTML) and --grades
remote.py      the client of a running server's POST /api/answer
"""
