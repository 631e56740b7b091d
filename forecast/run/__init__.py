"""A run's bookkeeping, around the stages.

- ``reports``: the run status, the migration and latency reports, stage timings
- ``progress``: what a run has done so far (for a failed run's report) and the progress reporter
- ``metrics``: CloudWatch Embedded Metric Format lines built from a run status
- ``logs``: the JSON log formatter and secret redaction
- ``backfill``: a long history split into partitions, one flow run each
"""
