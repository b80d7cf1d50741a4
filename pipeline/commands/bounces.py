"""``morningpost bounces``: drain SES events (bounces, complaints, deliveries, ...) from SQS."""

from __future__ import annotations

import click

from emails.errors import ConfigError
from pipeline import transports
from pipeline.commands.options import pass_context
from pipeline.context import Context
from pipeline.settings import ENV_PREFIX


@click.command()
@pass_context
def bounces(ctx: Context) -> None:
    """Record and apply the SES events waiting in MORNINGPOST_BOUNCES_QUEUE_URL, then stop.

    Every event (send, delivery, bounce, complaint, reject, delay, rendering failure, open,
    click) is kept once, tied to its issue; bounces and complaints suppress addresses.
    """
    settings = ctx.settings
    if not settings.bounces_queue_url:
        raise ConfigError(f"{ENV_PREFIX}BOUNCES_QUEUE_URL is not set: no queue to drain")
    import boto3  # imported here so that other commands start without it
    from botocore.exceptions import BotoCoreError

    from subscribers.feedback.sqs import drain

    # boto3 honours AWS_ENDPOINT_URL_SQS and AWS_DEFAULT_REGION by itself.
    try:
        client = boto3.client("sqs")
    except BotoCoreError as err:
        raise transports.aws_setup_error("SQS", err) from None
    report = drain(
        client,
        settings.bounces_queue_url,
        ctx.engine,
        transient_limit=settings.transient_bounce_limit,
    )
    click.echo(report.summary)
