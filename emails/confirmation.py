"""The double opt-in message: "confirm your subscription", small and plain on purpose."""

from __future__ import annotations

import html
from email.message import EmailMessage

from emails.message import Envelope, build_message, sender_domain

SUBJECT = "Confirm your subscription to The AI Morning Post"

_TEXT = """\
Hello,

Someone, hopefully you, asked to receive The AI Morning Post, a daily AI briefing, at
this address. To start receiving it, confirm here:

{confirm_url}

If it was not you, ignore this message: nothing will be sent unless you confirm.
"""

_HTML = """\
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{subject}</title></head>
<body style="margin:0;padding:24px;background:#ffffff;color:#1a1a1a;\
font-family:Georgia,'Times New Roman',serif;font-size:17px;line-height:1.5">
<div style="max-width:560px;margin:0 auto">
<p style="margin:0 0 16px">Hello,</p>
<p style="margin:0 0 16px">Someone, hopefully you, asked to receive
<strong>The AI Morning Post</strong>, a daily AI briefing, at this address.
To start receiving it, confirm here:</p>
<p style="margin:0 0 24px"><a href="{confirm_url}" style="display:inline-block;\
padding:12px 20px;background:#1a1a1a;color:#ffffff;text-decoration:none;border-radius:4px">\
Confirm my subscription</a></p>
<p style="margin:0 0 16px;font-size:15px">Or open this link: <a href="{confirm_url}" \
style="color:#1a1a1a">{confirm_url}</a></p>
<p style="margin:0;font-size:15px">If it was not you, ignore this message: nothing will be
sent unless you confirm.</p>
</div>
</body>
</html>
"""


def confirmation_message(
    *, sender: str, to: str, confirm_url: str, unsubscribe_url: str
) -> EmailMessage:
    """The confirmation email for ``to``: one link that confirms, text and HTML alike."""
    envelope = Envelope(
        sender=sender,
        to=to,
        subject=SUBJECT,
        html=_HTML.format(subject=html.escape(SUBJECT), confirm_url=html.escape(confirm_url)),
        text=_TEXT.format(confirm_url=confirm_url),
        unsubscribe_url=unsubscribe_url,
        list_id=f"The AI Morning Post <daily.{sender_domain(sender)}>",
        headers={"Auto-Submitted": "auto-generated"},
    )
    return build_message(envelope)
