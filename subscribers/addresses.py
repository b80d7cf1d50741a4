"""Validation and normalisation of email addresses.

``email-validator`` decides what is valid (without DNS lookups). It costs about 0.1 ms an
address, most of it on the domain, which a list repeats thousands of times; so plain ASCII
addresses take a fast path: the local part is matched against RFC 5322 ``dot-atom`` (exactly
what email-validator accepts unquoted) and each distinct domain is validated once, by
email-validator, and remembered. Everything else goes through email-validator whole. A
property test holds the two paths to the same verdicts.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from emails.errors import InvalidAddress

_ATEXT = r"[a-zA-Z0-9_!#$%&'*+\-/=?^`{|}~]+"
_DOT_ATOM = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
# ASCII letter-digit-hyphen labels; IDNA ("xn--") and anything else take the slow path.
_PLAIN_DOMAIN = re.compile(r"[a-zA-Z0-9\-]+(?:\.[a-zA-Z0-9\-]+)+")
_LOCAL_MAX, _ADDRESS_MAX = 64, 254


@dataclass(frozen=True)
class Address:
    email: str  # local part as given, domain lower-cased (IDNA-normalised)
    key: str  # the whole address case-folded: what makes two rows the same subscriber


def normalise(raw: str, *, check_deliverability: bool = False) -> Address:
    """Validate ``raw`` and return its stored form; raise ``InvalidAddress`` with the reason."""
    candidate = raw.strip()
    if not check_deliverability:
        fast = _fast(candidate)
        if fast is not None:
            return fast
    try:
        valid = validate_email(candidate, check_deliverability=check_deliverability)
    except EmailNotValidError as err:
        raise InvalidAddress(
            f"{_shown(candidate)} is not a valid address: {err}", address=candidate
        ) from None
    email = f"{valid.local_part}@{valid.ascii_domain.lower()}"
    return Address(email=email, key=email.casefold())


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
    try:
        valid = validate_email(f"postmaster@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return valid.ascii_domain.lower()


def _shown(candidate: str) -> str:
    # Reasons are one line and bounded, whatever a hostile file put in the cell.
    shown = candidate if len(candidate) <= 80 else candidate[:77] + "..."
    return repr(shown)


def mask(email: str) -> str:
    """``ada@example.com`` -> ``a**@example.com``: enough for logs, not enough to leak."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'*' * max(len(local) - 1, 2)}@{domain}"
