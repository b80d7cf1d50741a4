"""What an email address must be to be stored: the one place that decides, for every entry.

What the product supports, end to end (form, ``subscribers import``, ``subscribers add``,
``send --to``, ``MORNINGPOST_EDITORS``):

* The local part (before the ``@``) is plain ASCII, RFC 5322 ``dot-atom``, at most 64
  characters. SES accepts no SMTPUTF8 message, so ``пользователь@…`` or ``admin`` typed
  in fullwidth letters (U+FF41...) could never be delivered: it is refused with that
  reason. Quoted local parts (``"a b"@…``) and IP-address domains (``a@[192.0.2.1]``)
  are refused too.
* The domain may be internationalised: it is stored as IDNA ASCII (``xn--…``), which is what
  goes into the To header, so every stored address is plain ASCII. Compatibility characters
  in a domain (fullwidth letters, ideographic full stops) are folded the way IDNA's UTS 46
  mapping folds them, as browsers do: ``admin@`` + ``example`` in fullwidth letters + ``.com``
  is stored as ``admin@example.com``.
* Whole address at most 254 characters; no DNS lookups.

So every address that passes builds a valid message (``tests/test_subscribers_addresses.py``
holds ``emails.message.build_message`` to that for any accepted text).

``email-validator`` decides what is valid. It costs about 0.1 ms an address, most of it on the
domain, which a list repeats thousands of times; so plain ASCII addresses take a fast path: the
local part is matched against ``dot-atom`` (exactly what email-validator accepts unquoted) and
each distinct domain is validated once, by email-validator, and remembered. Everything else goes
through email-validator whole. A property test holds the two paths to the same verdicts.

Reasons are one line of at most ``REASON_LIMIT`` characters, whatever a hostile file put in
the cell.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from emails.errors import InvalidAddress

_ATEXT = r"[a-zA-Z0-9_!#$%&'*+\-/=?^`{|}~]+"
_DOT_ATOM = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
# ASCII letter-digit-hyphen labels; IDNA ("xn--") and anything else take the slow path.
_PLAIN_DOMAIN = re.compile(r"[a-zA-Z0-9\-]+(?:\.[a-zA-Z0-9\-]+)+")
_LOCAL_MAX, _ADDRESS_MAX = 64, 254
REASON_LIMIT = 240  # characters in an InvalidAddress message, at most
_SHOWN_MAX = 60  # characters of the offending text quoted in a reason


@dataclass(frozen=True)
class Address:
    email: str  # ASCII: local part as given, domain lower-cased IDNA ASCII
    key: str  # the whole address case-folded: what makes two rows the same subscriber


def normalise(raw: str, *, check_deliverability: bool = False) -> Address:
    """Validate ``raw`` and return its stored form; raise ``InvalidAddress`` with the reason."""
    candidate = raw.strip()
    if not check_deliverability:
        fast = _fast(candidate)
        if fast is not None:
            return fast
    # Imported here: `morningpost --help` and `status` load this module (for ``mask``) and
    # never validate an address.
    from email_validator import EmailNotValidError, validate_email

    try:
        valid = validate_email(
            candidate, check_deliverability=check_deliverability, allow_smtputf8=False
        )
    except EmailNotValidError as err:
        why = _why(candidate, str(err))
        raise InvalidAddress(_reason(candidate, why), address=candidate, reason=why) from None
    email = f"{valid.local_part}@{valid.ascii_domain.lower()}"
    return Address(email=email, key=email.casefold())


def _why(candidate: str, validator_says: str) -> str:
    local = candidate.rpartition("@")[0]
    if local and not local.isascii():
        return (
            "it has non-ASCII characters before the @, and SES cannot deliver to such "
            "an address (no SMTPUTF8)"
        )
    return _bounded(" ".join(validator_says.split()), REASON_LIMIT // 2)


def _reason(candidate: str, why: str) -> str:
    return _bounded(f"{_shown(candidate)} is not a valid address: {why}", REASON_LIMIT)


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fast(candidate: str) -> Address | None:
    """The stored form of a plain ASCII address, or None when email-validator must decide."""
    local, at, domain = candidate.rpartition("@")
    if not at or len(local) > _LOCAL_MAX or len(candidate) > _ADDRESS_MAX:
        return None
    if not _DOT_ATOM.fullmatch(local) or not _PLAIN_DOMAIN.fullmatch(domain):
        return None
    if "xn--" in domain.lower():
        return None
    ascii_domain = _valid_domain(domain)
    if ascii_domain is None:
        return None
    email = f"{local}@{ascii_domain}"
    return Address(email=email, key=email.casefold())


@functools.lru_cache(maxsize=65536)
def _valid_domain(domain: str) -> str | None:
    from email_validator import EmailNotValidError, validate_email  # see normalise

    try:
        valid = validate_email(f"postmaster@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return valid.ascii_domain.lower()


def _shown(candidate: str) -> str:
    # Escaped (no control character reaches a terminal or a log) and bounded.
    shown = candidate if len(candidate) <= _SHOWN_MAX else candidate[: _SHOWN_MAX - 3] + "..."
    return ascii(shown) if not shown.isprintable() else repr(shown)


def mask(email: str) -> str:
    """``ada@example.com`` -> ``a**@example.com``: enough for logs, not enough to leak."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'*' * max(len(local) - 1, 2)}@{domain}"
