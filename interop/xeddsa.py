#!/usr/bin/env python3
"""An independent check of the tassis-v2 XEdDSA vectors (binding TB-KEY, TB-SIG).

Usage: python3 interop/xeddsa.py [fixtures/tassis-v2/xeddsa-vectors.json]

Written apart from the Rust code, with nothing but Python 3's standard library: the field and
point arithmetic of RFC 8032 on Python integers, both signing conventions (XEdDSA as
specified, libsignal's calculateSignature), the forgery for degenerate keys, and the TB-SIG
verifier. For every vector it re-signs `signed` (or re-forges) and compares the signature
byte for byte, then verifies (identity_key, message, signature) and compares the cause with
`verdict`. Small order is found here by multiplying the point by 8, not from a list of u.

Exit code 0 and one summary line when every vector agrees, 1 when one does not (each
disagreement on standard error), 2 when the file cannot be read.
"""

import hashlib
import json
import sys

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def inv(x):
    """The inverse modulo p; 0 for 0 (as common field code computes x^(p-2))."""
    return pow(x % P, P - 2, P)


# Points in extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z.
IDENTITY = (0, 1, 1, 0)


def add(p1, p2):
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def mul(k, point):
    acc = IDENTITY
    while k > 0:
        if k & 1:
            acc = add(acc, point)
        point = add(point, point)
        k >>= 1
    return acc


def is_identity(point):
    x, y, z, _ = point
    return x % P == 0 and (y - z) % P == 0


def encode(point):
    x, y, z, _ = point
    zi = inv(z)
    x, y = x * zi % P, y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def decode(enc):
    """RFC 8032 §5.1.3: None when y ≥ p, no x exists, or x = 0 with sign bit 1."""
    n = int.from_bytes(enc, "little")
    sign, y = n >> 255, n & ((1 << 255) - 1)
    if y >= P:
        return None
    x2 = (y * y - 1) * inv(D * y * y + 1) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if x == 0 and sign == 1:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


GY = 4 * inv(5) % P
BASE = decode(GY.to_bytes(32, "little"))


def sha512_int(*parts):
    h = hashlib.sha512()
    for part in parts:
        h.update(part)
    return int.from_bytes(h.digest(), "little")


def hash1(*parts):
    return sha512_int(b"\xfe" + b"\xff" * 31, *parts) % L


def clamp(secret):
    k = bytearray(secret)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    return bytes(k)


def sign(secret, msg, z, convention):
    k = clamp(secret)
    a = int.from_bytes(k, "little") % L
    big_a = encode(mul(a, BASE))
    sign_bit = big_a[31] >> 7
    if convention == "xeddsa":
        if sign_bit == 1:
            a = (L - a) % L
            big_a = big_a[:31] + bytes([big_a[31] & 0x7F])
        r = hash1(a.to_bytes(32, "little"), msg, z)
    elif convention == "libsignal":
        r = hash1(k, msg, z)
    else:
        raise ValueError(convention)
    big_r = encode(mul(r, BASE))
    h = sha512_int(big_r, big_a, msg) % L
    s = (r + h * a) % L
    sig = bytearray(big_r + s.to_bytes(32, "little"))
    if convention == "libsignal":
        sig[63] = (sig[63] & 0x7F) | (sign_bit << 7)
    return bytes(sig), sign_bit


def edwards_y(u):
    """y = (u - 1)/(u + 1) mod p for the 255-bit u (reduced), 1/0 taken as 0."""
    return (u - 1) * inv(u + 1) % P


def key_point(u, sign_bit):
    enc = edwards_y(u) | (sign_bit << 255)
    return enc.to_bytes(32, "little")


def verify_core(big_a_enc, msg, sig, strict):
    point = decode(big_a_enc)
    if point is None:
        return "key-not-on-curve"
    s = int.from_bytes(sig[32:63] + bytes([sig[63] & 0x7F]), "little")
    if strict and s >= L:
        return "s-non-canonical"
    k = sha512_int(sig[:32], big_a_enc, msg) % L
    neg = (P - point[0], point[1], point[2], P - point[3])
    if encode(add(mul(s % L, BASE), mul(k, neg))) != sig[:32]:
        return "mismatch"
    return "valid"


def verify(key, msg, sig):
    """TB-SIG: the cause of refusal, or "valid"."""
    if len(key) != 32:
        return "key-length"
    if key[31] & 0x80:
        return "key-high-bit"
    u = int.from_bytes(key, "little")
    if u >= P:
        return "key-non-canonical"
    probe = decode(key_point(u, 0))
    if probe is not None and is_identity(mul(8, probe)):
        return "key-small-order"
    if len(sig) != 64:
        return "signature-length"
    return verify_core(key_point(u, sig[63] >> 7), msg, sig, True)


def lax_verify(key, msg, sig):
    """A Go-like verifier: no canonical-u or small-order check, s reduced."""
    u = int.from_bytes(key[:32], "little") & ((1 << 255) - 1)
    return verify_core(key_point(u % P, sig[63] >> 7), msg, sig, False) == "valid"


def forge(key, msg):
    """R = [r]B, s = r, r retried until [k]A is the identity (see the Rust forge_degenerate)."""
    u = int.from_bytes(key, "little") & ((1 << 255) - 1)
    a_enc = key_point(u % P, 0)
    point = decode(a_enc)
    for counter in range(1024):
        r = sha512_int(b"edgecheck tassis-v2 forgery", counter.to_bytes(4, "little"), key, msg) % L
        big_r = encode(mul(r, BASE))
        k = sha512_int(big_r, a_enc, msg) % L
        if is_identity(mul(k, point)):
            return big_r + r.to_bytes(32, "little")
    return None


def malleate(sig):
    s = int.from_bytes(sig[32:63] + bytes([sig[63] & 0x7F]), "little") + L
    out = bytearray(sig[:32] + s.to_bytes(32, "little"))
    out[63] |= sig[63] & 0x80
    return bytes(out)


def alter(sig, alteration):
    if alteration == "none":
        return sig
    if alteration == "malleated":
        return malleate(sig)
    b = bytearray(sig)
    if alteration == "flip-low-bit-of-s":
        b[32] ^= 1
    elif alteration == "flip-sign-bit":
        b[63] ^= 0x80
    elif alteration == "truncated":
        b = b[:63]
    elif alteration == "extended":
        b.append(0)
    else:
        raise ValueError("unknown alteration " + alteration)
    return bytes(b)


def check(vector, z):
    """The disagreements of one vector (empty when it agrees)."""
    problems = []
    key = bytes.fromhex(vector["identity_key"])
    msg = bytes.fromhex(vector["message"])
    sig = bytes.fromhex(vector["signature"])
    signed = bytes.fromhex(vector["signed"])
    convention = vector["convention"]
    if convention == "forged":
        made = forge(key, msg)
        if made is None or made != sig:
            problems.append("re-forging gives another signature")
        if not lax_verify(key, msg, sig):
            problems.append("a lax verifier refuses the forgery: it is not real")
    else:
        made, sign_bit = sign(bytes.fromhex(vector["secret"]), signed, z, convention)
        if sign_bit != vector["edwards_sign_bit"]:
            problems.append("edwards_sign_bit is %d, computed %d" % (vector["edwards_sign_bit"], sign_bit))
        if alter(made, vector["alteration"]) != sig:
            problems.append("re-signing gives another signature")
    verdict = verify(key, msg, sig)
    if verdict != vector["verdict"]:
        problems.append("verdict %s, expected %s" % (verdict, vector["verdict"]))
    return problems


def main(argv):
    path = argv[1] if len(argv) > 1 else "fixtures/tassis-v2/xeddsa-vectors.json"
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        z = bytes.fromhex(data["z"])
        vectors = data["vectors"]
    except (OSError, ValueError, KeyError) as e:
        print("xeddsa.py: cannot read %s: %s" % (path, e), file=sys.stderr)
        return 2
    if len(z) != 64 or not vectors:
        print("xeddsa.py: %s: z must be 64 bytes and vectors not empty" % path, file=sys.stderr)
        return 2
    failed = 0
    for vector in vectors:
        try:
            problems = check(vector, z)
        except (KeyError, ValueError, TypeError) as e:
            problems = ["malformed vector: %r" % e]
        for problem in problems:
            print("xeddsa.py: %s: %s" % (vector.get("name", "?"), problem), file=sys.stderr)
        failed += bool(problems)
    if failed:
        print("xeddsa.py: %d of %d vectors disagree" % (failed, len(vectors)), file=sys.stderr)
        return 1
    print("xeddsa.py: all %d vectors agree (signer and TB-SIG verifier)" % len(vectors))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
