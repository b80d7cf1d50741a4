"""What an address must be (``subscribers.addresses``): the fast path agrees with
email-validator, every reason is one bounded line, and whatever is accepted builds a message."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from emails.errors import InvalidAddress
from emails.message import Envelope, build_message
from subscribers.addresses import REASON_LIMIT, normalise
from subscribers.store.roster import clean_name

FULLWIDTH_ADMIN = "\uff41\uff44\uff4d\uff49\uff4e"  # "admin" in fullwidth letters
FULLWIDTH_EXAMPLE = "\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45"

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
        valid = validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=False)
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
@example("\U0010ffff" * 60)  # escaped, this once made a reason of 664 characters
@example("\x00" * 80)
def test_any_text_either_normalises_or_fails_with_one_bounded_line(raw: str) -> None:
    outcome: Exception | str
    try:
        outcome = normalise(raw).email
    except InvalidAddress as err:
        outcome = err
    if isinstance(outcome, Exception):
        assert "\n" not in str(outcome)
        assert str(outcome).isprintable()
        assert len(str(outcome)) <= REASON_LIMIT
    else:
        assert outcome == outcome.strip()


# -- what the product supports, end to end ---------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Ada@Example.COM", "Ada@example.com"),
        ("admin@пример.рф", "admin@xn--e1afmkfd.xn--p1ai"),  # IDNA domains are stored ASCII
        ("admin@xn--e1afmkfd.xn--p1ai", "admin@xn--e1afmkfd.xn--p1ai"),
        ("admin@bücher.example", "admin@xn--bcher-kva.example"),
        (f"admin@{FULLWIDTH_EXAMPLE}.com", "admin@example.com"),  # UTS 46 folds fullwidth domains
        (f"admin@{FULLWIDTH_EXAMPLE.upper()}\uff0e\uff43\uff4f\uff4d", "admin@example.com"),
    ],
)
def test_supported_addresses_are_stored_in_ascii(raw: str, stored: str) -> None:
    assert normalise(raw).email == stored


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("пользователь@пример.рф", "non-ASCII characters before the @"),
        (f"{FULLWIDTH_ADMIN}@example.com", "non-ASCII characters before the @"),
        ("josé@example.com", "no SMTPUTF8"),
        ('"a b"@example.com', "Quoting the part before the @-sign is not allowed"),
        ("a@[192.0.2.1]", "bracketed IP address"),
        ("admin@ex\u200bample.com", "unsafe characters"),
    ],
)
def test_undeliverable_addresses_are_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidAddress) as refused:
        normalise(raw)
    assert reason in str(refused.value)
    assert len(str(refused.value)) <= REASON_LIMIT


_LOCAL_ANY = st.text(
    alphabet=st.sampled_from("abcXYZ09.+-_'!#$%&*/=?^`{|}~\"(),:;<>@[] \u00e9\uff41\u043f"),
    min_size=1,
    max_size=70,
)
_DOMAIN_ANY = st.sampled_from(
    [
        "example.com",
        "пример.рф",
        "xn--e1afmkfd.xn--p1ai",
        f"{FULLWIDTH_EXAMPLE}.com",
        "bücher.example",
        "a-b.c-d.example",
        "EXAMPLE.ORG",
        "[192.0.2.1]",
        "x.y",
    ]
)


def _candidates() -> st.SearchStrategy[str]:
    built = st.builds(lambda local, domain: f"{local}@{domain}", _LOCAL_ANY, _DOMAIN_ANY)
    return st.emails() | built | st.text(max_size=80)


@settings(max_examples=400)
@given(_candidates())
@example("пользователь@пример.рф")
@example(f"{FULLWIDTH_ADMIN}@example.com")
def test_any_accepted_address_builds_a_message(raw: str) -> None:
    """Nothing an entry accepts can crash a send later: the message builds, and says so."""
    try:
        email = normalise(raw).email
    except InvalidAddress:
        return
    assert email.isascii()
    envelope = Envelope(
        sender="The AI Morning Post <briefing@example.com>",
        to=email,
        subject="Issue",
        html="<p>hi</p>",
        text="hi",
        unsubscribe_url="https://post.example.com/unsubscribe/1.x",
        list_id="The AI Morning Post <daily.example.com>",
    )
    message = build_message(envelope)
    assert message["To"].addresses[0].addr_spec == email
    assert email.encode("ascii") in message.as_bytes()


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
