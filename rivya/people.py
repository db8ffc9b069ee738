"""Who is using the app: a signed-in person, or nobody in particular.

Identity comes from the page (``st.user`` after ``st.login``); everything below the page
takes a ``Person`` or ``None`` so it stays testable without Streamlit.

A person is keyed by the provider's issuer and subject (``iss``, ``sub``): a subject is the one
claim a provider promises never to reassign, and it may look like anything, an email included.
Their email counts only when the provider says it verified it, and only the verified email is
matched against ``ADMINS`` and the allow-list; a subject never is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# Stars made while nobody is signed in belong to the whole team.
TEAM = ""
# How a person's id starts: "oidc·" and the SHA-256 of issuer and subject in hex. Ids before it were the lower-case
# email or, without one, the bare subject. The new form can never equal one of them: it holds no "@" (so it is never
# an email), and its "·" is not ASCII, while OpenID Connect subjects are ASCII (Core 1.0, section 2). The hash
# keeps the id one length, whatever the issuer's URL and the subject hold, and no separator inside them can make two
# (issuer, subject) pairs read as one.
ID_PREFIX = "oidc\u00b7"


def person_id(issuer: str, subject: str) -> str:
    """The id of the person a provider (``iss``) knows as ``subject`` (``sub``)."""
    return ID_PREFIX + hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()


def maker_name(person: str | None, name: str | None) -> str:
    """Who made a job, as people read it: the name the provider gave at the time, else a former id (an email or a
    subject) as it was; empty when nobody was signed in. A hashed id (``ID_PREFIX``) is never shown: it means nothing
    to a person and is the key their rows and stars are filed under."""
    if name and name.strip():
        return name.strip()
    if not person:
        return ""
    return "A signed-in person" if person.startswith(ID_PREFIX) else person


def distinct_names(names: list[str]) -> list[str]:
    """``names`` in order, a repeated one numbered from its second use ("Ana", "Ana (2)"): two accounts of one
    name stay told apart without showing their ids."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def verified_email(claims: dict) -> str | None:
    """The token's email in lower case when the provider says it verified it; else None.

    Verified means ``email_verified`` is true (a JSON true, or the string "true" that some providers send). When the
    claim is absent the address is NOT taken: Microsoft Entra sends no ``email_verified`` and lets tenants put any
    address in ``email``, so anyone could name an admin's address and be taken for them (the "nOAuth" takeover).
    Entra vouches for an address through its optional claim ``xms_edov`` (email domain owner verified), which then
    counts instead. Without a verified email a person may still sign in, but matches no ``ADMINS`` and no allow-list.
    """
    email = str(claims.get("email") or "").strip().lower()
    if not email or "@" not in email:
        return None
    verified = claims.get("email_verified")
    if verified is None:
        verified = claims.get("xms_edov")
    return email if verified is True or str(verified).strip().lower() == "true" else None


@dataclass(frozen=True)
class Person:
    """A signed-in person: ``id`` (``person_id``), a display name, their verified email (or None) and subject."""

    id: str
    name: str
    email: str | None = None
    subject: str = ""

    @classmethod
    def from_claims(cls, claims: dict) -> Person | None:
        """The person an OpenID Connect token names, or None when it names nobody (no issuer or no subject)."""
        issuer = str(claims.get("iss") or "").strip()
        subject = str(claims.get("sub") or "").strip()
        if not issuer or not subject:
            return None
        email = verified_email(claims)
        shown = str(claims.get("name") or claims.get("preferred_username") or "").strip() or email or f"Account {subject}"
        return cls(id=person_id(issuer, subject), name=shown, email=email, subject=subject)

    @property
    def legacy_ids(self) -> tuple[str, ...]:
        """The ids this person's rows had before ids were keyed by issuer and subject, that they may take over.

        Their verified email; and their subject, only when it holds no "@": a subject that looks like an email
        never claims that email's rows (without an email claim, the old id was the bare subject).
        """
        ids = [self.email] if self.email else []
        if self.subject and "@" not in self.subject:
            ids.append(self.subject)
        return tuple(ids)


def is_admin(person: Person | None, admins: frozenset[str]) -> bool:
    """True when a signed-in person's verified email is one of ``ADMINS`` (kept in lower case)."""
    return person is not None and person.email is not None and person.email in admins


def admitted(person: Person | None, *, emails: frozenset[str], domains: frozenset[str], anyone: bool) -> bool:
    """True when the allow-list lets ``person`` in: their verified email is listed, or its domain is.

    The domain is the whole part after the last "@", compared exactly (``example.com`` lets in
    ``ada@example.com``, not ``eve@evil-example.com`` nor ``eve@example.com.evil.io``); subdomains are listed
    on their own. ``anyone`` (``ALLOW_ANY_ACCOUNT``) lets in every account the provider signs in.
    """
    if person is None:
        return False
    if anyone:
        return True
    if person.email is None:
        return False
    return person.email in emails or person.email.rpartition("@")[2] in domains


def star_owner(person: Person | None) -> str:
    """The ``stars.person`` value for this viewer: their id, or the team's when nobody signed in."""
    return person.id if person else TEAM
