"""Keyed digests that let services match people without ever exchanging their personal data.

Enrollment publishes ``email_digest`` (HMAC-SHA256 of the normalised e-mail under the platform's
digest key) with a servant; attendance digests the e-mail column of a Zoom/Teams report with the same
key and matches rows to enrolled servants. Without the key a digest reveals nothing usable.
"""

from __future__ import annotations

import hashlib
import hmac


def normalise_email(email: str) -> str:
    return email.strip().lower()


def email_digest(email: str, key: str) -> str:
    return hmac.new(key.encode(), normalise_email(email).encode(), hashlib.sha256).hexdigest()
