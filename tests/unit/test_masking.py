"""Secret masking: case-insensitive, common encodings, every string of an item."""

from __future__ import annotations

import base64
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lamdis_core.domain.results import Check, Item, ItemStatus, TranscriptEntry
from lamdis_core.masking import MASK, SecretMasker, looks_secret, redact_url

TOKEN = "Sk-Live/9fQ2+xT7vLm4"


def test_a_secret_is_masked_in_any_case() -> None:
    masker = SecretMasker([TOKEN])
    text = f"a {TOKEN} b {TOKEN.lower()} c {TOKEN.upper()} d"
    assert masker.mask(text) == f"a {MASK} b {MASK} c {MASK} d"


def test_base64_and_url_encodings_of_a_secret_are_masked() -> None:
    masker = SecretMasker([TOKEN])
    raw = TOKEN.encode()
    forms = [
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        base64.b64encode(TOKEN.lower().encode()).decode(),
        quote(TOKEN, safe=""),
        quote_plus(TOKEN),
    ]
    for form in forms:
        assert masker.mask(f"x={form};") == f"x={MASK};", form


def test_the_credential_of_an_authorization_header_is_a_secret_on_its_own() -> None:
    masker = SecretMasker([f"Bearer {TOKEN}"])
    assert masker.mask(f"token: {TOKEN.lower()}") == f"token: {MASK}"


def test_credential_named_variables_are_secrets_unless_they_hold_a_plain_word() -> None:
    masker = SecretMasker.from_env(
        {
            "BOT_TOKEN": "tok_8f2Kq9",
            "SESSION_STORE": "postgres",
            "AUTH_PASSPHRASE": "correcthorsebatterystaple",
            "LAMDIS_DEMO_URL": "http://127.0.0.1:3000",
        }
    )
    text = "tok_8f2kq9 postgres correcthorsebatterystaple http://127.0.0.1:3000"
    assert masker.mask(text) == f"{MASK} postgres {MASK} http://127.0.0.1:3000"


def test_short_values_are_not_secrets() -> None:
    masker = SecretMasker(["qa", "1234567"])
    assert not masker
    assert masker.mask("qa 1234567") == "qa 1234567"


def test_secret_names_are_recognised_by_word_not_by_accident() -> None:
    assert looks_secret("BOT_TOKEN") and looks_secret("OPENAI_API_KEY")
    assert looks_secret("x-api-key") and looks_secret("Authorization")
    assert looks_secret("GITHUB_PAT") and looks_secret("DB_PASSWORD")
    assert not looks_secret("PATH") and not looks_secret("MONKEY_COUNT")
    assert not looks_secret("LAMDIS_DEMO_URL")


def test_every_string_of_an_item_is_masked_and_statuses_stay_enums() -> None:
    item = Item(
        test_id="t",
        test_name="t",
        assistant="bot",
        status=ItemStatus.FAILED,
        transcript=[TranscriptEntry(role="assistant", content=f"key {TOKEN.lower()}")],
        assertions=[
            Check(
                type="json_path",
                passed=False,
                details={"actual": quote(TOKEN, safe=""), "nested": [{TOKEN: TOKEN}]},
            )
        ],
        error=f"HTTP 500: {base64.b64encode(TOKEN.encode()).decode()}",
    )
    SecretMasker([TOKEN]).mask_value(item)
    assert item.status is ItemStatus.FAILED
    assert item.transcript[0].content == f"key {MASK}"
    assert item.assertions[0].details == {"actual": MASK, "nested": [{MASK: MASK}]}
    assert item.error == f"HTTP 500: {MASK}"


@given(
    secret=st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=8, max_size=40),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
    encode=st.sampled_from(
        [
            lambda s: s,
            str.lower,
            str.upper,
            lambda s: base64.b64encode(s.encode()).decode(),
            lambda s: quote(s, safe=""),
        ]
    ),
)
def test_no_form_of_a_secret_survives_masking(
    secret: str, before: str, after: str, encode: object
) -> None:
    """Whatever surrounds it, the masked text no longer contains the encoded secret."""
    form = encode(secret)  # type: ignore[operator]
    masked = SecretMasker([secret]).mask(before + form + after)
    assert form.lower() not in masked.lower()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://u:pw@h:1/x?api_key=abc&q=1", "http://u:***@h:1/x?api_key=***&q=1"),
        ("https://h/p?sig=%2Fab&x=" + "a" * 24, "https://h/p?sig=***&x=***"),
        ("https://h/cb#access_token=zz&state=2", "https://h/cb#access_token=***&state=2"),
        ("/chat?token=${env.T}", "/chat?token=***"),
        ("http://h/x?flag&a=&page=2#top", "http://h/x?flag&a=&page=2#top"),
        ("http://[::1/x", "<invalid url>"),
    ],
)
def test_urls_are_shown_without_passwords_or_secret_looking_query_values(
    url: str, shown: str
) -> None:
    assert redact_url(url) == shown
