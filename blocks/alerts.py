"""The notification block the automations send to: a webhook whose URL is a secret.

Prefect's ``CustomWebhookNotificationBlock`` keeps its ``url`` in clear; here the URL field is a
template (``{{webhook_url}}``) filled from the block's ``secrets``, which Prefect stores
encrypted and never shows, so the address (a Slack incoming-webhook URL is a credential) is never
displayed, logged or printed. The JSON body ``{"text": ...}`` is what a Slack or Mattermost
incoming webhook expects; ``subject`` and ``body`` come along for other receivers.
"""

from __future__ import annotations

from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.types import SecretDict

from blocks.names import ALERTS_BLOCK
from forecast.errors import ConfigurationError

PAYLOAD = {"text": "{{subject}}\n{{body}}", "subject": "{{subject}}", "body": "{{body}}"}


def save_alert_webhook(url: str, name: str = ALERTS_BLOCK) -> CustomWebhookNotificationBlock:
    """Save (or replace) the webhook notification block ``name`` that posts to ``url``.

    Raises:
        ConfigurationError: ``url`` is not an http(s) URL (the message does not repeat it).
    """
    if not url.startswith(("https://", "http://")):
        raise ConfigurationError("the alert webhook URL must start with https:// or http://")
    block = CustomWebhookNotificationBlock(
        name="forecast-2-0",
        url="{{webhook_url}}",
        method="POST",
        json_data=PAYLOAD,
        secrets=SecretDict({"webhook_url": url}),
        headers=None,
        cookies=None,
    )
    block.save(name, overwrite=True)
    return block
