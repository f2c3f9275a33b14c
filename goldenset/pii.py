"""Find personal data in golden-set text before it is shared with reviewers and models.

Pure functions (no Django). Kinds: email, phone, card (Luhn-checked), iban (ISO 13616 mod-97
checked). Checksums keep order numbers and invoice ids from being flagged as cards or IBANs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PiiFinding:
    kind: str
    start: int
    end: int
    text: str


_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
# An international or national number: optional +country, groups separated by space, dot or dash,
# 8 to 15 digits in all (E.164). A bare run of digits without separators or + is not taken.
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}(?![\w])")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    s = candidate.replace(" ", "").upper()
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(numeric) % 97 == 1


def _overlaps(start: int, end: int, taken: list[tuple[int, int]]) -> bool:
    return any(start < e and s < end for s, e in taken)


def find_pii(text: str) -> list[PiiFinding]:
    """Every email, phone number, payment card number and IBAN in `text`, ordered by position."""
    if not text:
        return []
    found: list[PiiFinding] = []
    taken: list[tuple[int, int]] = []

    def add(kind: str, m: re.Match) -> None:
        found.append(PiiFinding(kind, m.start(), m.end(), m.group(0)))
        taken.append((m.start(), m.end()))

    for m in _EMAIL.finditer(text):
        add("email", m)
    for m in _IBAN.finditer(text):
        if not _overlaps(m.start(), m.end(), taken) and iban_ok(m.group(0)):
            add("iban", m)
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and not _overlaps(m.start(), m.end(), taken) and luhn_ok(digits):
            add("card", m)
    for m in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 8 <= len(digits) <= 15 and not _overlaps(m.start(), m.end(), taken):
            # Dates (2024-01-31) and version numbers (1.2.3) have separators too: require a phone shape.
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", m.group(0)) or re.fullmatch(r"[\d.]+", m.group(0)) and m.group(0).count(".") >= 2 and len(digits) < 10:
                continue
            add("phone", m)
    return sorted(found, key=lambda f: f.start)


def pii_digest_input(*texts: str) -> str:
    """The text an acknowledgement covers: an edit afterwards needs a fresh acknowledgement."""
    return "\x1f".join(texts)
