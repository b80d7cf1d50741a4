"""The web app's pages: small, accessible, self-contained HTML (no external assets, no JS)."""

from __future__ import annotations

from html import escape

NAME = "The AI Morning Post"

_STYLE = """
body{margin:0;background:#fafaf7;color:#1a1a1a;font:18px/1.5 Georgia,'Times New Roman',serif}
main{max-width:34rem;margin:3rem auto;padding:0 1.25rem}
h1{font-size:1.6rem;line-height:1.25;margin:0 0 1rem}
.masthead{font-size:.85rem;letter-spacing:.12em;text-transform:uppercase;margin:0 0 2rem}
label{display:block;font-weight:bold;margin:1rem 0 .25rem}
input[type=email],input[type=text]{box-sizing:border-box;width:100%;padding:.6rem;
font:inherit;border:2px solid #555;border-radius:4px;background:#fff;color:#1a1a1a}
button{margin-top:1.25rem;padding:.7rem 1.4rem;font:inherit;font-weight:bold;color:#fff;
background:#1a1a1a;border:2px solid #1a1a1a;border-radius:4px;cursor:pointer}
input:focus,button:focus{outline:3px solid #b35900;outline-offset:2px}
.error{color:#8b0000;font-weight:bold}
.trap{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}
a{color:#1a1a1a}
"""


def page(title: str, body: str) -> str:
    """A whole page around ``body`` (already-escaped HTML)."""
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{escape(title)} · {NAME}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f'<body>\n<main>\n<p class="masthead">{NAME}</p>\n<h1>{escape(title)}</h1>\n'
        f"{body}\n</main>\n</body>\n</html>\n"
    )


def message(title: str, text: str) -> str:
    return page(title, f"<p>{escape(text)}</p>")


def subscribe_form(*, email: str = "", name: str = "", error: str | None = None) -> str:
    alert = f'<p class="error" role="alert" id="err">{escape(error)}</p>' if error else ""
    described = ' aria-describedby="err" aria-invalid="true"' if error else ""
    return page(
        "Subscribe",
        f"<p>A short daily briefing on what happened in open AI, every morning.</p>{alert}"
        '<form method="post">'
        '<label for="email">Email address</label>'
        f'<input type="email" id="email" name="email" required autocomplete="email" '
        f'value="{escape(email)}"{described}>'
        '<label for="name">Name (optional, for the greeting)</label>'
        f'<input type="text" id="name" name="name" autocomplete="name" maxlength="200" '
        f'value="{escape(name)}">'
        # Left empty by people (it is hidden from them and from screen readers); bots fill it.
        '<div class="trap" aria-hidden="true"><label for="website">Website</label>'
        '<input type="text" id="website" name="website" tabindex="-1" autocomplete="off">'
        "</div>"
        '<button type="submit">Subscribe</button></form>'
        "<p>We will email you a link to confirm. Nothing is sent until you do.</p>",
    )


def button_page(title: str, text: str, *, field: str, label: str) -> str:
    """A page whose only action is a POST button to its own URL: scanners GET, never press."""
    return page(
        title,
        f"<p>{escape(text)}</p>"
        '<form method="post">'
        f'<input type="hidden" name="{escape(field)}" value="yes">'
        f'<button type="submit">{escape(label)}</button></form>',
    )
