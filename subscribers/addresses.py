"""Validation and normalisation of email addresses."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from subscribers.errors import InvalidAddress


@dataclass(frozen=True)
class Address:
    email: str  # local part as given, domain lower-cased (IDNA-normalised)
    key: str  # the whole address case-folded: what makes two rows the same subscriber


def normalise(raw: str, *, check_deliverability: bool = False) -> Address:
    """Validate ``raw`` and return its stored form; raise ``InvalidAddress`` with the reason."""
    try:
        valid = validate_email(raw.strip(), check_deliverability=check_deliverability)
    except EmailNotValidError as err:
        raise InvalidAddress(f"{raw.strip()!r} is not a valid address: {err}") from None
    email = f"{valid.local_part}@{valid.ascii_domain.lower()}"
    return Address(email=email, key=email.casefold())


def mask(email: str) -> str:
    """``ada@example.com`` -> ``a**@example.com``: enough for logs, not enough to leak."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'*' * max(len(local) - 1, 2)}@{domain}"
