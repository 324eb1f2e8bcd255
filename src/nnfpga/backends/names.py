"""Name sanitizing shared by every emitter (C++ and Verilog identifiers, and the file names derived from them)."""

from __future__ import annotations

import hashlib
import re

MAX_IDENTIFIER = 64  # longer names are cut and get a hash of the full name (file names derive from them)
INVALID = re.compile(r"[^A-Za-z0-9_]")


def ascii_name(name: str, invalid: re.Pattern[str] = INVALID) -> str:
    """``name`` with non-ASCII characters spelled ``u<hex>`` and every other invalid character as ``_``,
    cut to :data:`MAX_IDENTIFIER` characters with a hash of the whole name when longer."""
    out = name if name.isascii() else "".join(f"u{ord(c):04x}" if ord(c) > 127 else c for c in name)
    out = invalid.sub("_", out)
    if len(out) > MAX_IDENTIFIER:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        out = f"{out[: MAX_IDENTIFIER - 11]}_{digest}"
    return out
