"""The fast path of address validation agrees with email-validator on every input."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from emails.errors import InvalidAddress
from subscribers.addresses import normalise
from subscribers.store.roster import clean_name

_LOCAL = st.text(alphabet="abcXYZ019.+-_'!#=?{}~\"(),:;<>@[]\\ \u00e9", min_size=0, max_size=70)
_DOMAIN = st.sampled_from(
    [
        "example.com",
        "EXAMPLE.COM",
        "a.b",
        "b",
        "localhost",
        "x.test",
        "mail.local",
        "-bad.example.com",
        "bad-.example.com",
        "ex_ample.com",
        "xn--bcher-kva.example",
        "bücher.example",
        "[192.0.2.1]",
        "a..b.com",
        "example.com.",
        "1.2.3.4",
        "a" * 64 + ".com",
        "a" * 63 + ".com",
        ("a" * 60 + ".") * 4 + "com",
    ]
)


def _reference(raw: str) -> str | None:
    try:
        valid = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError:
        return None
    return f"{valid.local_part}@{valid.ascii_domain.lower()}"


def _ours(raw: str) -> str | None:
    try:
        return normalise(raw).email
    except InvalidAddress:
        return None


@settings(max_examples=600)
@given(_LOCAL, _DOMAIN, st.sampled_from(["", " ", "\t"]))
@example("a" * 64, "example.com", "")
@example("a" * 65, "example.com", "")
@example("a.", "example.com", "")
@example(".a", "example.com", "")
@example("a..b", "example.com", "")
@example("x" * 64, ("a" * 60 + ".") * 3 + "a" * 6 + ".com", "")
def test_fast_path_agrees_with_email_validator(local: str, domain: str, pad: str) -> None:
    raw = f"{pad}{local}@{domain}{pad}"
    assert _ours(raw) == _reference(raw)


@given(st.text(max_size=60))
def test_any_text_either_normalises_or_fails_with_one_line(raw: str) -> None:
    outcome: Exception | str
    try:
        outcome = normalise(raw).email
    except InvalidAddress as err:
        outcome = err
    if isinstance(outcome, Exception):
        assert "\n" not in str(outcome)
        assert len(str(outcome)) < 400
    else:
        assert outcome == outcome.strip()


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        (None, None),
        ("", None),
        ("  Ada   Lovelace ", "Ada Lovelace"),
        ("Ada\nLovelace", "Ada Lovelace"),
        ("Ada\x00\u202eLovelace", "AdaLovelace"),
        ("x" * 300, "x" * 200),
    ],
)
def test_names_are_cleaned(raw: str | None, cleaned: str | None) -> None:
    assert clean_name(raw) == cleaned
