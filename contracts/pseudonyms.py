"""Keyed digests that let services match people without ever exchanging their personal data.

Enrollment publishes ``email_digest`` (HMAC-SHA256 of the normalised e-mail under the platform's
digest key) with a servant; attendance digests the e-mail column of a Zoom/Teams report with the same
key and matches rows to enrolled servants. ``position_digest`` does the same for position titles, so
reporting matches requirements scoped to a position without the title. Without the key a digest
reveals nothing usable.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata


def normalise_email(email: str) -> str:
    return email.strip().lower()


def email_digest(email: str, key: str) -> str:
    return hmac.new(key.encode(), normalise_email(email).encode(), hashlib.sha256).hexdigest()


def normalise_position(title: str) -> str:
    """A position title as requirements compare it: no accents, no case, single spaces."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", title) if not unicodedata.combining(c))
    return " ".join(plain.split()).casefold()


def position_digest(title: str | None, key: str) -> str | None:
    """HMAC-SHA256 of the normalised position title (null for no title), under the same key as the
    e-mail digests but in its own domain, so a digest of one kind never equals one of the other."""
    if title is None or not normalise_position(title):
        return None
    return hmac.new(key.encode(), b"position\x00" + normalise_position(title).encode(), hashlib.sha256).hexdigest()
