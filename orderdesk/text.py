"""Which characters text from outside may hold: one rule for every single-line and multi-line field.

Control characters (C0, DEL, C1) and the bidirectional embeddings, overrides,
isolates and marks that make text display in another order than it is stored
("Trojan Source"), and lone surrogates (a JSON "\\ud800", which no text
encoding can store). Multi-line text (notes) may hold line breaks and tabs.
"""

import re

_BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
REFUSED_IN_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI_CONTROLS}\ud800-\udfff]")
REFUSED_IN_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI_CONTROLS}\ud800-\udfff]")


def refused_character(value: str, *, multiline: bool = False) -> str | None:
    """The first character `value` may not hold, as "U+202E", or None."""
    found = (REFUSED_IN_TEXT if multiline else REFUSED_IN_LINE).search(value)
    return None if found is None else f"U+{ord(found.group()):04X}"
