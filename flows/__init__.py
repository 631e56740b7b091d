"""Prefect flows: the parent pipeline and its ingest, transform, validate and load subflows."""
