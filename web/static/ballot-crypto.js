// Encrypted ballots built in the voter's browser (docs/audit-log.md, "Encrypted ballots (v2)").
// The group is the prime-order subgroup of Ed25519, computed with the vendored, audited
// @noble/curves (vendor/VENDORED.md). Randomness comes from crypto.getRandomValues only.
// The server never sees the grades: it receives the packed ciphertexts and proofs.
import { ed25519, sha512 } from "./vendor/noble-curves-2.4.0.js";

const Point = ed25519.Point;
export const L = Point.Fn.ORDER;
const G = Point.BASE;
// A wider window for the base point than noble's default: the ballot is nearly all fixed-base
// multiplications (G and the election key h), and the tables are built once per page.
G.precompute(8);

export class BallotCryptoError extends Error {}

// -- bytes ---------------------------------------------------------------------------------------
const encoder = new TextEncoder();
export function utf8(text) {
  return encoder.encode(text);
}
export function concat(parts) {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
export function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}
export function fromBase64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
export function fromHex(text) {
  if (!/^([0-9a-f]{2})*$/.test(text)) throw new BallotCryptoError("not hexadecimal");
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
  return out;
}

// -- scalars: integers mod l, 32 bytes little-endian ---------------------------------------------
export function mod(n) {
  const r = n % L;
  return r < 0n ? r + L : r;
}
export function bytesToInt(bytes) {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}
export function intToBytes(n, size = 32) {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}
export function encodeScalar(n) {
  return intToBytes(mod(n), 32);
}
export function decodeScalar(bytes) {
  if (bytes.length !== 32) throw new BallotCryptoError("a scalar is 32 bytes");
  const n = bytesToInt(bytes);
  if (n >= L) throw new BallotCryptoError("scalar not canonical (not below the group order)");
  return n;
}
// A source of randomness is a function returning 64 uniformly random bytes per call.
export function systemRandom() {
  return crypto.getRandomValues(new Uint8Array(64));
}
// A uniform non-zero scalar: 64 random bytes reduced mod l (bias below 2^-250), redrawn if 0
// (as crypto/group.py's random_scalar).
export function randomScalar(rng = systemRandom) {
  for (;;) {
    const n = mod(bytesToInt(rng()));
    if (n !== 0n) return n;
  }
}
// TEST ONLY: the deterministic source of the spec's worked examples (crypto/group.py's
// seeded_random): the i-th draw is SHA-512(b"scrutin-<label>/v2\0" || seed || be32(i)).
export function seededRandom(seed, label = "example") {
  const prefix = concat([domainTag(label), seed]);
  let counter = 0;
  return () => {
    const i = new Uint8Array(4);
    new DataView(i.buffer).setUint32(0, counter++, false);
    return sha512(concat([prefix, i]));
  };
}

// -- points: 32-byte RFC 8032 encoding -----------------------------------------------------------
// Every point read from outside is checked as libsodium's crypto_core_ed25519_is_valid_point
// does: canonical encoding, on the curve, in the prime-order subgroup, not of small order.
export function decodePoint(bytes) {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 32) {
    throw new BallotCryptoError("a point is 32 bytes");
  }
  let p;
  try {
    p = Point.fromBytes(bytes, false); // zip215 off: y must be canonical (< p)
  } catch (e) {
    throw new BallotCryptoError("not a point of Ed25519: " + e.message);
  }
  if (p.isSmallOrder()) throw new BallotCryptoError("point of small order");
  if (!p.isTorsionFree()) throw new BallotCryptoError("point outside the prime-order subgroup");
  // Belt and braces: a canonical encoding round-trips byte for byte.
  const again = p.toBytes();
  for (let i = 0; i < 32; i++) {
    if (again[i] !== bytes[i]) throw new BallotCryptoError("point encoding not canonical");
  }
  return p;
}
export function encodePoint(p) {
  return p.toBytes();
}
export const BASE = G;
export const IDENTITY = Point.ZERO;
// Multiplication by a secret scalar (constant-time in noble); 0 gives the identity.
export function mul(p, n) {
  n = mod(n);
  return n === 0n ? Point.ZERO : p.multiply(n);
}
export function baseMul(n) {
  return mul(G, n);
}

// -- hashing: SHA-512(tag || len32be(part) || part ...) mod l ------------------------------------
export function domainTag(purpose) {
  return utf8("scrutin-" + purpose + "/v2\0");
}
export function hashParts(purpose, parts) {
  const chunks = [domainTag(purpose)];
  for (const part of parts) {
    const bytes = typeof part === "string" ? utf8(part) : part;
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, bytes.length, false);
    chunks.push(len, bytes);
  }
  return sha512(concat(chunks));
}
export function hashToScalar(purpose, parts) {
  return mod(bytesToInt(hashParts(purpose, parts)));
}
// 128-bit challenge: the first 16 bytes of the hash, little-endian.
export function hashToChallenge128(purpose, parts) {
  return bytesToInt(hashParts(purpose, parts).subarray(0, 16));
}

// -- the election key ----------------------------------------------------------------------------
// An election key h, validated, with its multiplication table: h·r is computed for every cell.
export class ElectionKey {
  constructor(bytes) {
    this.bytes = Uint8Array.from(bytes);
    this.point = decodePoint(this.bytes);
    this.point.precompute(8);
  }
  mul(n) {
    return mul(this.point, n);
  }
}
