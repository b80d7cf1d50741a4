"""``morningpost serve``: the subscribers' web app under uvicorn, wired from the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pipeline.commands.options import pass_context
from pipeline.context import Context

if TYPE_CHECKING:
    from starlette.applications import Starlette

# The web stack and boto3 are imported when the command runs: every other command (and
# `--help`) starts without them.


def build_app(ctx: Context) -> Starlette:
    """The web app with the store, key, transport, feedback and metrics settings of ``ctx``."""
    from pipeline import metrics
    from subscribers.feedback.sns import SnsVerifier
    from subscribers.web.app import AppConfig, create_app

    settings = ctx.settings
    token = settings.metrics_token_value
    return create_app(
        AppConfig(
            engine=ctx.engine,
            secret_key=settings.require_secret_key(),
            public_url=settings.public_url,
            # Not dated like an issue's outbox: the server runs for days.
            transport=ctx.transport(ctx.data.confirmations_outbox),
            sender=settings.sender,
            archive_dir=ctx.data.archive,
            sns=SnsVerifier(settings.sns_topic_arn) if settings.sns_topic_arn else None,
            # The app is public: /metrics (the list's size, each send's figures) only for
            # the bearer of the token, and off without one.
            metrics=metrics.Exposition(metrics.registry(ctx.engine), token) if token else None,
            transient_limit=settings.transient_bounce_limit,
            signups_per_client_hour=settings.signups_per_client_hour,
            signups_per_hour=settings.signups_per_hour,
            trust_proxy=settings.trust_proxy,
        )
    )


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@pass_context
def serve(ctx: Context, host: str, port: int) -> None:
    """Run the web app: subscribe, confirm, unsubscribe (RFC 8058), archive, SNS webhook,
    /healthz, and /metrics for the bearer of MORNINGPOST_METRICS_TOKEN.

    Logs one event per request (tokens redacted); behind a reverse proxy, set
    MORNINGPOST_TRUST_PROXY=true so the rate limits see the client's address.
    """
    import logging

    import uvicorn

    app = build_app(ctx)
    logging.getLogger().setLevel(logging.INFO)  # a server's log is its only voice
    uvicorn.run(
        app,
        host=host,
        port=port,
        # Our log format for everything: uvicorn's loggers propagate to the product's
        # handler (log_config=None), and its access log, which wrote tokens in plain text,
        # gives way to the app's own (subscribers/web/access.py).
        log_config=None,
        access_log=False,
        log_level="info",
        # The app alone decides whether to believe X-Forwarded-For (MORNINGPOST_TRUST_PROXY).
        proxy_headers=False,
        server_header=False,
    )
