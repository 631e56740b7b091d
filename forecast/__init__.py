"""Forecast 2.0 domain: parsing, canonical schema, validation, reports and storage adapters.

This package never imports Prefect (``tests/unit/test_layering.py`` keeps it so): a notebook,
a CLI or a test can use it directly.
"""
