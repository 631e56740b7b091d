"""Block document names: one constant each, used as flow parameter defaults."""

LAKE_BLOCK = "forecast-lake"
MONGO_BLOCK = "forecast-mongo"
CLI_MONGO_BLOCK = "forecast-mongo-cli"
"""The prefix of the blocks ``forecast run`` writes for a MongoDB given on the command line, so
the URI never travels as a flow parameter (``cli_mongo_block``)."""


def cli_mongo_block(uri: str) -> str:
    """The block a run given ``uri`` reads its MongoDB from: one per target, so two runs with
    two targets never share (and race on) one block; the same target, the same block."""
    import hashlib

    return f"{CLI_MONGO_BLOCK}-{hashlib.sha256(uri.encode()).hexdigest()[:16]}"


INFOCLIMAT_TOKEN_BLOCK = "infoclimat-token"
"""A Prefect ``Secret`` block holding the InfoClimat open-data API token."""
AWS_BLOCK = "forecast-aws"
"""An ``AwsCredentials`` block (optional: without it the standard AWS credential chain is used)."""
ALERTS_BLOCK = "forecast-alerts"
"""A ``custom-webhook`` notification block the automations send to (URL kept as a secret)."""
