"""The lake stage: landing files, the raw zone, staged parses, the processed and rejected zones.

- ``store``: the lake adapter over any Prefect-style filesystem (local directory, S3)
- ``landing``: listing and streaming landing files (directories, ``s3://`` prefixes)
- ``ingest``: landing -> raw zone, content-addressed, with per-run manifests
- ``staging``: raw objects parsed in bounded chunks onto local disk
- ``zones``: where validated and rejected rows go (hive-partitioned Parquet)
"""
