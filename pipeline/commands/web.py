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
        )
    )


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@pass_context
def serve(ctx: Context, host: str, port: int) -> None:
    """Run the web app: subscribe, confirm, unsubscribe (RFC 8058), archive, SNS webhook,
    /healthz, and /metrics for the bearer of MORNINGPOST_METRICS_TOKEN."""
    import uvicorn

    app = build_app(ctx)
    # proxy_headers: behind a local reverse proxy, log the client's address, not the proxy's.
    uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level="info")
