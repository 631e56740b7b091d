"""Block document names: one constant each, used as flow parameter defaults."""

LAKE_BLOCK = "forecast-lake"
MONGO_BLOCK = "forecast-mongo"
CLI_MONGO_BLOCK = "forecast-mongo-cli"
"""Written by ``forecast run --mongo-uri``, so the URI never travels as a flow parameter."""
