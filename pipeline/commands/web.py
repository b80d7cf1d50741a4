"""``morningpost serve``: the subscribers' web app under uvicorn, wired from the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from emails.errors import ConfigError
from pipeline import paths
from pipeline.commands.options import pass_settings
from pipeline.settings import Settings

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from subscribers.web.app import Mailer

# The web stack and boto3 are imported when the command runs: every other command (and
# `--help`) starts without them.


def build_app(settings: Settings) -> Starlette:
    """The web app with the store, key, transport and feedback settings of ``settings``."""
    from subscribers.feedback.sns import SnsVerifier
    from subscribers.store.roster import open_store
    from subscribers.web.app import create_app

    secret = settings.require_secret_key()
    return create_app(
        engine=open_store(settings.store_url),
        secret_key=secret,
        public_url=settings.public_url,
        transport=_confirmation_transport(settings),
        sender=settings.sender,
        archive_dir=paths.archive_dir(settings.data_dir),
        sns=SnsVerifier(settings.sns_topic_arn) if settings.sns_topic_arn else None,
        transient_limit=settings.transient_bounce_limit,
    )


def _confirmation_transport(settings: Settings) -> Mailer:
    from emails.transports.outbox import OutboxTransport

    if settings.transport == "ses":
        import boto3
        from botocore.exceptions import BotoCoreError

        from emails.transports.ses import SesTransport

        try:
            client = boto3.client("sesv2")
            return SesTransport(client, configuration_set=settings.ses_configuration_set)
        except BotoCoreError as err:
            raise ConfigError(f"cannot set up the SES client: {err}") from None
    # Not dated like an issue's outbox: the server runs for days.
    return OutboxTransport(paths.confirmations_outbox(settings.data_dir))


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@pass_settings
def serve(settings: Settings, host: str, port: int) -> None:
    """Run the web app: subscribe, confirm, unsubscribe (RFC 8058), archive, SNS webhook."""
    import uvicorn

    app = build_app(settings)
    # proxy_headers: behind a local reverse proxy, log the client's address, not the proxy's.
    uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level="info")
