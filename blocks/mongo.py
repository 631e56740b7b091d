"""The MongoDB block: connection URI (secret), database, collections and batch size."""

from __future__ import annotations

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
    batch_size: int = Field(default=1000, ge=1, le=10_000, description="Documents per bulk write.")
