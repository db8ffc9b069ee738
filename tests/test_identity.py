"""Who a person is (issuer and subject; a verified email only) and who may come in (the allow-list), without Streamlit."""

from __future__ import annotations

import pytest

from rivya.config import load_settings
from rivya.people import ID_PREFIX, Person, admitted, is_admin, person_id, verified_email

ISSUER = "https://id.example"
AUTH = {"auth": {"client_id": "studio", "server_metadata_url": "https://id.example/.well-known/openid-configuration"}}


def person(**claims: object) -> Person:
    found = Person.from_claims({"iss": ISSUER, "sub": "s-1", **claims})
    assert found is not None
    return found


def test_an_email_counts_only_when_the_provider_says_it_verified_it() -> None:
    assert verified_email({"email": " Ada@Example.COM ", "email_verified": True}) == "ada@example.com"
    assert verified_email({"email": "ada@example.com", "email_verified": "true"}) == "ada@example.com"
    assert verified_email({"email": "ada@example.com"}) is None  # absent: not verified (Entra lets tenants set any)
    assert verified_email({"email": "ada@example.com", "email_verified": False}) is None
    assert verified_email({"email": "ada@example.com", "email_verified": "yes please"}) is None
    assert verified_email({"email": "ada@example.com", "xms_edov": True}) == "ada@example.com"  # Entra's own word
    assert verified_email({"email": "ada@example.com", "email_verified": False, "xms_edov": True}) is None
    assert verified_email({"email": "not-an-address", "email_verified": True}) is None


def test_a_person_is_their_issuer_and_subject_never_an_email() -> None:
    ada = person(email="ada@example.com", email_verified=True, name="Ada")
    assert ada.id == person_id(ISSUER, "s-1") and ada.id.startswith(ID_PREFIX) and "@" not in ada.id
    assert ada.id != person_id("https://other.example", "s-1") and ada.id != person_id(ISSUER, "s-2")
    assert person(email="ada@example.com", email_verified=True).id == person(email="bo@example.com").id  # one subject
    impostor = Person.from_claims({"iss": ISSUER, "sub": "ada@example.com"})
    assert impostor.id != "ada@example.com" and impostor.email is None and impostor.name == "Account ada@example.com"
    assert not is_admin(impostor, frozenset({"ada@example.com"})) and is_admin(ada, frozenset({"ada@example.com"}))
    assert person(preferred_username="ada.l").name == "ada.l" and person(email="a@x.org", email_verified=True).name == "a@x.org"
    assert Person.from_claims({"iss": ISSUER, "sub": "  "}) is None and Person.from_claims({"iss": "", "sub": "s"}) is None


@pytest.mark.parametrize(("email", "allowed"), [
    ("ada@example.com", True),
    ("ADA@EXAMPLE.COM", True),
    ("eve@evil-example.com", False),
    ("eve@example.com.evil.io", False),
    ("eve@eng.example.com", False),  # subdomains are listed on their own
    ('"ada@example.com"@evil.io', False),
    ("guest@partner.example", True),
    ("other@partner.example", False),
])
def test_the_allow_list_matches_a_verified_email_exactly(email: str, allowed: bool) -> None:
    rules = {"emails": frozenset({"guest@partner.example"}), "domains": frozenset({"example.com"}), "anyone": False}
    assert admitted(person(email=email, email_verified=True), **rules) is allowed
    assert not admitted(person(email=email), **rules)  # the same address, not verified: refused
    assert not admitted(person(), **rules) and not admitted(None, **{**rules, "anyone": True})
    assert admitted(person(), **{**rules, "anyone": True})


def test_sign_in_without_an_allow_list_refuses_to_start() -> None:
    with pytest.raises(ValueError, match="nobody is allowed in: set ALLOWED_EMAIL_DOMAINS or ALLOWED_EMAILS"):
        load_settings(AUTH, environ={})
    assert load_settings({**AUTH, "ALLOW_ANY_ACCOUNT": True}, environ={}).allow_any_account
    assert load_settings(AUTH, environ={"ALLOW_ANY_ACCOUNT": "true"}).allow_any_account
    with pytest.raises(ValueError, match="nobody is allowed in"):
        load_settings({**AUTH, "ALLOW_ANY_ACCOUNT": False}, environ={})
    with pytest.raises(ValueError, match="ALLOW_ANY_ACCOUNT must be true or false"):
        load_settings({**AUTH, "ALLOW_ANY_ACCOUNT": "yes"}, environ={})
    settings = load_settings({**AUTH, "ALLOWED_EMAIL_DOMAINS": ["@Example.com"]},
                             environ={"ALLOWED_EMAILS": "Guest@Partner.example, b@x.org"})
    assert settings.allowed_email_domains == {"example.com"} and settings.allowed_emails == {"guest@partner.example", "b@x.org"}
    assert not settings.allow_any_account and load_settings({}, environ={}).allowed_emails == frozenset()


@pytest.mark.parametrize(("settings", "words"), [
    ({**AUTH, "ALLOWED_EMAILS": ["ada@example.com"], "ALLOW_ANY_ACCOUNT": True}, "keep one"),
    ({"ALLOWED_EMAIL_DOMAINS": "example.com"}, "nobody signs in: add the \\[auth\\] section"),
    ({**AUTH, "ALLOWED_EMAILS": ["ada"]}, "ALLOWED_EMAILS holds 'ada', which is not an email address"),
    ({**AUTH, "ALLOWED_EMAIL_DOMAINS": ["ada@example.com"]}, "ALLOWED_EMAIL_DOMAINS holds 'ada@example.com'"),
    ({"ADMINS": ["ada-subject-1"]}, "ADMINS holds 'ada-subject-1', which is not an email address"),
])
def test_allow_list_settings_that_cannot_work_are_named(settings: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        load_settings(settings, environ={})
