"""The SES transport: messages go out through Amazon SES v2 (``sesv2`` in boto3)."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from emails.errors import TransportError

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client


def build_send_email_request(
    message: EmailMessage, *, configuration_set: str | None = None
) -> dict[str, Any]:
    """The ``SendEmail`` arguments for one finished message (Raw, so every header survives)."""
    request: dict[str, Any] = {"Content": {"Raw": {"Data": message.as_bytes(policy=SMTP)}}}
    if configuration_set:
        request["ConfigurationSetName"] = configuration_set
    return request


class SesTransport:
    name = "ses"

    def __init__(self, client: SESV2Client, *, configuration_set: str | None = None) -> None:
        self.client = client
        self.configuration_set = configuration_set

    def send(self, message: EmailMessage) -> str:
        request = build_send_email_request(message, configuration_set=self.configuration_set)
        try:
            response = self.client.send_email(**request)
        except ClientError as err:
            error = err.response.get("Error", {})
            reason = f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip(": ")
            raise TransportError(f"SES refused the message ({reason})") from err
        except BotoCoreError as err:
            raise TransportError(f"SES could not be reached ({err})") from err
        return response["MessageId"]
