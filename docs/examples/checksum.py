#!/usr/bin/env python3
"""Arbiter state checksum, written from the spec with the Python 3 standard library.

The checksum of a room's state (PROTOCOL.md section 6, docs/state-sync.md) is
xxHash64, seed 0, of the RFC 8785 (JCS) canonical JSON of the document, written as
16 lowercase hex digits. This file is a complete, dependency-free implementation
that client authors can read, port or run. The Arbiter test suite runs it against
the shared test vectors, so it is known to agree with the server.

Usage:
    python3 checksum.py [FILE]          print the canonical JSON, then the checksum
                                        (FILE is a JSON document; '-' or none: stdin)
    python3 checksum.py --check FILE    verify a vectors file
                                        ({"vectors": [{"json", "canonical", "checksum"}]})
"""

import json
import math
import sys

# --- RFC 8785 canonical JSON ---------------------------------------------------


def format_number(value):
    """A JSON number as ECMAScript's Number.prototype.toString prints its double."""
    x = float(value)  # ints round to the nearest double, like JSON.parse
    if not math.isfinite(x):
        raise ValueError("JCS has no form for NaN or infinity")
    if x == 0:
        return "0"  # also -0
    sign = "-" if x < 0 else ""
    # repr() gives the shortest digits that round-trip, as ECMAScript requires.
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    exponent = int(exp or "0") - len(frac)
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    digits = stripped
    # value = digits * 10**exponent; in ECMAScript's terms k digits and n = k + exponent.
    k = len(digits)
    n = k + exponent
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        e_text = ("+" if e >= 0 else "-") + str(abs(e))
        text = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + e_text
    return sign + text


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def format_string(s):
    """Escape only '"', '\\' and U+0000..U+001F; everything else stays literal."""
    out = ['"']
    for ch in s:
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def utf16_key(s):
    """Sort key comparing strings by UTF-16 code units (big-endian bytes sort the same)."""
    return s.encode("utf-16-be", "surrogatepass")


def canonical(value):
    """The JCS text of a value parsed by json.loads."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return format_number(value)
    if isinstance(value, str):
        return format_string(value)
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=utf16_key)
        return "{" + ",".join(format_string(k) + ":" + canonical(value[k]) for k in keys) + "}"
    raise TypeError("not a JSON value: %r" % (value,))


# --- xxHash64 -----------------------------------------------------------------

MASK = (1 << 64) - 1
P1 = 0x9E3779B185EBCA87
P2 = 0xC2B2AE3D27D4EB4F
P3 = 0x165667B19E3779F9
P4 = 0x85EBCA77C2B2AE63
P5 = 0x27D4EB2F165667C5


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & MASK


def _round(acc, lane):
    acc = (acc + lane * P2) & MASK
    return (_rotl(acc, 31) * P1) & MASK


def _merge(h, acc):
    h ^= _round(0, acc)
    return (h * P1 + P4) & MASK


def xxh64(data, seed=0):
    """xxHash64 of bytes, as an int."""
    n = len(data)
    i = 0
    if n >= 32:
        v1 = (seed + P1 + P2) & MASK
        v2 = (seed + P2) & MASK
        v3 = seed & MASK
        v4 = (seed - P1) & MASK
        while i + 32 <= n:
            v1 = _round(v1, int.from_bytes(data[i : i + 8], "little"))
            v2 = _round(v2, int.from_bytes(data[i + 8 : i + 16], "little"))
            v3 = _round(v3, int.from_bytes(data[i + 16 : i + 24], "little"))
            v4 = _round(v4, int.from_bytes(data[i + 24 : i + 32], "little"))
            i += 32
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & MASK
        for v in (v1, v2, v3, v4):
            h = _merge(h, v)
    else:
        h = (seed + P5) & MASK
    h = (h + n) & MASK
    while i + 8 <= n:
        h ^= _round(0, int.from_bytes(data[i : i + 8], "little"))
        h = (_rotl(h, 27) * P1 + P4) & MASK
        i += 8
    if i + 4 <= n:
        h ^= (int.from_bytes(data[i : i + 4], "little") * P1) & MASK
        h = (_rotl(h, 23) * P2 + P3) & MASK
        i += 4
    while i < n:
        h ^= (data[i] * P5) & MASK
        h = (_rotl(h, 11) * P1) & MASK
        i += 1
    h ^= h >> 33
    h = (h * P2) & MASK
    h ^= h >> 29
    h = (h * P3) & MASK
    h ^= h >> 32
    return h


# --- the state checksum --------------------------------------------------------


def _reject_constant(name):
    raise ValueError("not JSON: " + name)


def parse(text):
    """Parse JSON text strictly (no NaN/Infinity)."""
    return json.loads(text, parse_constant=_reject_constant)


def checksum(value):
    """16 lowercase hex digits: xxHash64 (seed 0) of the UTF-8 canonical JSON."""
    return "%016x" % xxh64(canonical(value).encode("utf-8"))


def check_vectors(path):
    with open(path, encoding="utf-8") as f:
        vectors = json.load(f)["vectors"]
    failures = 0
    for i, vector in enumerate(vectors):
        value = parse(vector["json"])
        got_canonical = canonical(value)
        got_checksum = checksum(value)
        if got_canonical != vector["canonical"] or got_checksum != vector["checksum"]:
            failures += 1
            print("vector %d: %s" % (i, vector["json"]), file=sys.stderr)
            print("  canonical want %s" % vector["canonical"], file=sys.stderr)
            print("            got  %s" % got_canonical, file=sys.stderr)
            print("  checksum  want %s got %s" % (vector["checksum"], got_checksum), file=sys.stderr)
    print("checksum.py: %d vectors, %d mismatched" % (len(vectors), failures))
    return 1 if failures else 0


def main(argv):
    if len(argv) == 2 and argv[0] == "--check":
        return check_vectors(argv[1])
    if len(argv) > 1 or (argv and argv[0].startswith("--")):
        print(__doc__, file=sys.stderr)
        return 2
    if not argv or argv[0] == "-":
        text = sys.stdin.buffer.read().decode("utf-8")
    else:
        with open(argv[0], encoding="utf-8") as f:
            text = f.read()
    value = parse(text)
    out = sys.stdout.buffer
    out.write(canonical(value).encode("utf-8") + b"\n")
    out.write(checksum(value).encode("ascii") + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
