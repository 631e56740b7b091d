"""Run parameters: what changes per run. Shared configuration lives in blocks."""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import BaseModel, Field, model_validator

from blocks.names import INFOCLIMAT_TOKEN_BLOCK, LAKE_BLOCK, MONGO_BLOCK
from forecast.lake.landing import LandingConfig
from forecast.quality.rules import DEFAULT_MAX_REJECTION_RATE
from forecast.quality.validate import Window
from forecast.sources.infoclimat.api import PRODUCTION_BASE_URL
from forecast.sources.limits import Limits
from tasks.ledger import LedgerQuery


class RunParams(BaseModel):
    """Parameters of one pipeline run (no secrets: blocks are referenced by name)."""

    landing: str | None = Field(
        default=None,
        description="Directory or s3:// prefix holding InfoClimat JSON and Weather Underground "
        "workbooks; none for an API-only run or a requeue.",
    )
    start: date | None = Field(
        default=None, description="First UTC date to load (inclusive); default: all."
    )
    end: date | None = Field(
        default=None, description="Last UTC date to load (inclusive); default: all."
    )
    last_days: int | None = Field(
        default=None, ge=1, le=366,
        description="Instead of start/end: the run's UTC date and the N days before it (a "
        "weekly schedule with 7 overlaps the previous run by a day; loads are idempotent).",
    )  # fmt: skip
    lake_block: str = Field(default=LAKE_BLOCK, description="ForecastLake block name.")
    mongo_block: str = Field(default=MONGO_BLOCK, description="ForecastMongo block name.")
    latency_iterations: int = Field(
        default=5, ge=1, le=1000, description="At most this many runs of each timed query."
    )
    latency_budget_s: float = Field(
        default=5.0, gt=0.0, le=600.0,
        description="Time the latency report may take, shared by its queries (each runs at "
        "least once).",
    )  # fmt: skip
    latency_row_cap: int = Field(
        default=1000, ge=1, le=1_000_000,
        description="Rows a timed query returns at most (the rows it would return are reported).",
    )  # fmt: skip
    aws_block: str | None = Field(
        default=None,
        description="AwsCredentials block for an s3:// landing; default: the standard AWS chain "
        "(environment, ECS task role), which honours AWS_ENDPOINT_URL.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="S3 endpoint of the landing (e.g. a moto server); overrides the block's.",
    )
    infoclimat_stations: list[str] = Field(
        default_factory=list,
        description="InfoClimat stations to fetch from the API for [start, end].",
    )
    wu_streams: dict[str, str] = Field(
        default_factory=dict,
        description="Airbyte stream name -> Weather Underground station id, for streams whose "
        "name is not the station's id or place (forecast/data/stations.toml).",
    )
    infoclimat_token_block: str = Field(
        default=INFOCLIMAT_TOKEN_BLOCK, description="Secret block of the API token."
    )
    infoclimat_url: str = Field(
        default=PRODUCTION_BASE_URL, description="InfoClimat open-data API base URL."
    )
    max_file_bytes: int = Field(
        default=1024 * 1024 * 1024, ge=1,
        description="Landing files (and API bodies) larger than this are refused unread.",
    )  # fmt: skip
    max_uncompressed_bytes: int = Field(
        default=4 * 1024 * 1024 * 1024, ge=1,
        description="A workbook (zip) declaring more data than this is refused (zip-bomb guard).",
    )  # fmt: skip
    max_compression_ratio: float = Field(
        default=200.0,
        gt=1.0,
        description="A workbook member compressed better than this is refused.",
    )
    max_rows_per_sheet: int = Field(
        default=20_000, ge=1, description="A day (sheet or CSV export) with more rows is refused."
    )
    partition_rows: int = Field(
        default=100_000, ge=1_000,
        description="Observations validated and loaded together (bounds the run's memory).",
    )  # fmt: skip
    work_dir: str | None = Field(
        default=None,
        description="Local directory for staged parses and scratch files; default: the system "
        "temporary directory's forecast-work.",
    )

    max_rejection_rate: float = Field(
        default=DEFAULT_MAX_REJECTION_RATE, ge=0.0, le=1.0,
        description="A station-day with a larger share of rejected rows is held back whole and "
        "the run fails (rule rejection_threshold).",
    )  # fmt: skip
    neighbour_km: float | None = Field(
        default=None, gt=0.0,
        description="Stations closer than this compare temperatures (rule "
        "cross_station_temperature); default: the rule catalogue's distance.",
    )  # fmt: skip
    force: bool = Field(
        default=False,
        description="Reprocess every content even if the load ledger says an earlier run "
        "loaded it for the same code and window.",
    )
    requeue_run: str | None = Field(
        default=None,
        description="Replay this run's quarantine (its raw contents, from the raw zone) under "
        "the current rules instead of reading a landing area.",
    )

    @model_validator(mode="after")
    def _ordered_window(self) -> RunParams:
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if self.infoclimat_stations and not (self.start and self.end) and not self.last_days:
            raise ValueError("fetching InfoClimat stations from the API needs both start and end")
        if self.last_days and (self.start or self.end):
            raise ValueError("give either last_days or start/end, not both")
        if self.requeue_run and (self.landing or self.infoclimat_stations):
            raise ValueError("a requeue replays raw contents; it takes no landing or API stations")
        if not (self.landing or self.requeue_run or self.infoclimat_stations):
            raise ValueError("nothing to read: give a landing, API stations or a requeue_run")
        return self

    @property
    def landing_config(self) -> LandingConfig:
        """Where the landing area is and how to reach it."""
        return LandingConfig(
            self.landing or "", self.aws_block, self.s3_endpoint_url, self.max_file_bytes
        )

    def resolved(self, today: date) -> RunParams:
        """Return these parameters with ``last_days`` turned into start/end for ``today``.

        The parent flow resolves once, at its start, so every stage sees the same window even
        when a run crosses midnight.
        """
        if not self.last_days:
            return self
        start = today - timedelta(days=self.last_days)
        return self.model_copy(update={"start": start, "end": today, "last_days": None})

    @property
    def ledger_query(self) -> LedgerQuery | None:
        """What the load ledger is asked, or None when this run reprocesses everything
        (``force``, a requeue)."""
        if self.force or self.requeue_run:
            return None
        return LedgerQuery(self.mongo_block, self.max_rejection_rate, self.neighbour_km)

    @property
    def ledger_recording(self) -> LedgerQuery:
        """What this run records in the load ledger under (always, forced or not)."""
        return LedgerQuery(self.mongo_block, self.max_rejection_rate, self.neighbour_km)

    @property
    def limits(self) -> Limits:
        """The resource limits every parser of this run applies."""
        return Limits(
            max_file_bytes=self.max_file_bytes, max_uncompressed_bytes=self.max_uncompressed_bytes,
            max_compression_ratio=self.max_compression_ratio, max_rows_per_sheet=self.max_rows_per_sheet,
        )  # fmt: skip

    @property
    def window(self) -> Window:
        """The UTC date window the run loads."""
        return Window(self.start, self.end)
