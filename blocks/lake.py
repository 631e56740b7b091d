"""The lake block: which filesystem block backs each zone (a local directory or an S3 bucket)."""

from __future__ import annotations

import prefect_aws.s3  # noqa: F401  (registers the s3-bucket block type for loading by slug)
from prefect.blocks.core import Block
from pydantic import Field

ZONES = ("raw", "processed", "rejected", "reports")


class ForecastLake(Block):
    """Storage of the raw, processed, rejected and reports zones.

    Each field names a filesystem block as ``<block type slug>/<block name>``: locally a
    ``local-file-system`` block under ``.forecast/lake``, in production an ``s3-bucket`` block.
    The pipeline only calls ``read_path`` and ``write_path``, so both run the same code.

    (Zones are references rather than nested blocks because Prefect 3.8.8's server fails to
    re-read a block schema whose field is a union of two block types.)
    """

    _block_type_name = "Forecast Lake"
    _block_type_slug = "forecast-lake"
    _description = "Where Forecast 2.0 keeps its raw, processed, rejected and reports zones."

    raw: str = Field(
        description="Filesystem block of the immutable raw zone, e.g. s3-bucket/forecast-raw."
    )
    processed: str = Field(description="Filesystem block of validated Parquet.")
    rejected: str = Field(description="Filesystem block of quarantined rows.")
    reports: str = Field(description="Filesystem block of JSON run reports.")

    def references(self) -> dict[str, str]:
        """Return zone name -> filesystem block reference (``slug/name``)."""
        return {zone: getattr(self, zone) for zone in ZONES}
