"""The MongoDB block: connection URI (secret), database, collections and batch size."""

from __future__ import annotations

from typing import Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr


class ForecastMongo(Block):
    """Where observations are loaded. The URI is a secret: Prefect stores it encrypted at rest
    in its database and never shows it in the UI, logs or parameters."""

    _block_type_name = "Forecast MongoDB"
    _block_type_slug = "forecast-mongodb"
    _description = "MongoDB target of Forecast 2.0 (URI, database, collections)."

    uri: SecretStr = Field(
        description="mongodb:// or mongodb+srv:// URI, credentials and TLS options included."
    )
    database: str = Field(default="forecast_2_0")
    collection: str = Field(default="weather_measurements")
    stations_collection: str = Field(default="stations")
    batch_size: int = Field(default=1000, ge=1, le=100_000, description="Documents per bulk write.")
    batch_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, le=48 * 1024 * 1024,
        description="BSON bytes per bulk write (the server splits at 48 MB messages).",
    )  # fmt: skip
    write_w: str = Field(
        default="majority", description='Write concern w: "majority", a member count, or a tag.'
    )
    journal: bool = Field(default=True, description="Write concern j: wait for the journal.")
    wtimeout_ms: int = Field(default=30_000, ge=0, description="Write concern wtimeout.")
    attempts: int = Field(
        default=5, ge=1, le=20, description="Tries of a batch after transient failures."
    )
    backoff_s: float = Field(
        default=0.5, ge=0.0, description="First retry delay; doubles each try, with jitter."
    )
    validation: Literal["client", "server"] = Field(
        default="client",
        description='"client": the loader checks every document against the collection\'s '
        "$jsonSchema validator itself (vectorised) and asks the server to skip its per-document "
        're-check (needs the bypassDocumentValidation privilege); "server": the server validates '
        "each document. The validator stays on the collection for every other writer.",
    )
    network_index: bool = Field(
        default=False,
        description="Also index (station.network, timestamp) on the measurements (costs about "
        "a third more per inserted document on SecantusDB; network queries otherwise go through "
        "the stations collection).",
    )
    geo_index: bool = Field(
        default=False,
        description="Also index every measurement's station.location_geo (2dsphere), as the "
        "seed did (about 3x the insert cost on SecantusDB; the 2dsphere index lives on stations).",
    )
