"""Prefect block types holding shared configuration (lake zones, MongoDB), and their names."""

from blocks.lake import ForecastLake
from blocks.mongo import ForecastMongo
from blocks.names import LAKE_BLOCK, MONGO_BLOCK

__all__ = ["LAKE_BLOCK", "MONGO_BLOCK", "ForecastLake", "ForecastMongo"]
