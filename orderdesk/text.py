"""Which characters text from outside may hold: one rule for every single-line and multi-line field.

Control characters (C0, DEL, C1) and the bidirectional embeddings, overrides,
isolates and marks that make text display in another order than it is stored
("Trojan Source"), and lone surrogates (a JSON "\\ud800", which no text
encoding can store). Multi-line text (notes) may hold line breaks and tabs.

The same rules as regular expressions for the OpenAPI schema (SINGLE_LINE_PATTERN,
MULTI_LINE_PATTERN), written with escapes that JSON Schema's and Python's
regular expressions read alike.
"""

import re

_BIDI = r"\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
_SURROGATES = r"\ud800-\udfff"
_CONTROLS_IN_LINE = rf"\x00-\x1f\x7f-\x9f{_BIDI}"
_CONTROLS_IN_TEXT = rf"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}"

REFUSED_IN_LINE = re.compile(f"[{_CONTROLS_IN_LINE}{_SURROGATES}]")
REFUSED_IN_TEXT = re.compile(f"[{_CONTROLS_IN_TEXT}{_SURROGATES}]")

# The patterns leave lone surrogates out: a JSON text holding one is not Unicode text (RFC 8259,
# section 8.2), and schema validators cannot compile a range of them.
# Single-line fields are stripped of white space at both ends first and may not be blank.
SINGLE_LINE_PATTERN = rf"^\s*[^\s{_CONTROLS_IN_LINE}][^{_CONTROLS_IN_LINE}]*$"
# Not empty: drf-spectacular adds "or blank" beside a pattern (oneOf), which must not overlap it.
MULTI_LINE_PATTERN = rf"^[^{_CONTROLS_IN_TEXT}]+$"


def refused_character(value: str, *, multiline: bool = False) -> str | None:
    """The first character `value` may not hold, as "U+202E", or None."""
    found = (REFUSED_IN_TEXT if multiline else REFUSED_IN_LINE).search(value)
    return None if found is None else f"U+{ord(found.group()):04X}"
