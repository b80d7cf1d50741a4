"""The exception tree of the whole product.

    MorningPostError             one-line message, shown as is at the CLI edge
     ├── ConfigError             a setting is missing or wrong
     ├── RenderError             a template or the MJML compiler failed, or a budget broke
     ├── TransportError          a message could not be handed over
     ├── SourceError             (pipeline.sources) a source failed or sent garbage
     └── SubscriberError         (subscribers) bad address, bad CSV, unknown subscriber

The root lives here because ``emails`` is the package every other one may import.
"""

from __future__ import annotations


class MorningPostError(Exception):
    """Base of every error the product raises on purpose; ``str()`` is one line for a user."""


class ConfigError(MorningPostError):
    """A setting is missing or invalid."""


class RenderError(MorningPostError):
    """The issue could not be rendered into an email."""


class TransportError(MorningPostError):
    """A message could not be delivered to the transport."""
