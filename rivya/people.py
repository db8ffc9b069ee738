"""Who is using the app: a signed-in person, or nobody in particular.

Identity comes from the page (``st.user`` after ``st.login``); everything below the page
takes a ``Person`` or ``None`` so it stays testable without Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass

# Stars made while nobody is signed in belong to the whole team.
TEAM = ""


@dataclass(frozen=True)
class Person:
    """A signed-in person. ``id`` is the email (lower case) or, without one, the provider's subject."""

    id: str
    name: str

    @classmethod
    def from_claims(cls, claims: dict) -> Person | None:
        """The person an OpenID Connect token names, or None when it names nobody."""
        # An address the provider says it has not verified names nobody in particular: anyone could register it
        # (with a provider that allows unverified sign-ups) and act as that person or an admin. Providers that
        # send no ``email_verified`` at all (Microsoft Entra) vouch for their addresses themselves.
        unverified = str(claims.get("email_verified", "")).strip().lower() == "false"
        email = "" if unverified else str(claims.get("email") or "").strip().lower()
        subject = str(claims.get("sub") or "").strip()
        ident = email or subject
        if not ident:
            return None
        name = str(claims.get("name") or claims.get("preferred_username") or email or subject).strip()
        return cls(id=ident, name=name)


def is_admin(person: Person | None, admins: frozenset[str]) -> bool:
    """True when a signed-in person is one of ``ADMINS`` (kept in lower case, as ids of people with an email are)."""
    return person is not None and person.id in admins


def star_owner(person: Person | None) -> str:
    """The ``stars.person`` value for this viewer: their id, or the team's when nobody signed in."""
    return person.id if person else TEAM
