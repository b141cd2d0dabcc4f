// Encrypted ballots built in the voter's browser (docs/audit-log.md, "Encrypted ballots (v2)").
// The group is the prime-order subgroup of Ed25519, computed with the vendored, audited
// @noble/curves (vendor/VENDORED.md). Randomness comes from crypto.getRandomValues only.
// The server never sees the grades: it receives the packed ciphertexts and proofs.
//
// The booth's API (an ES module; also on window.ScrutinBallotCrypto for classic scripts):
//   const { blob, encrypted } = await encryptBallot(round, ballot, grades, credential,
//                                                   { onProgress(done, total) {} });
//   signature = Ed25519 over signedMessage(round.origin, round.round, blob) by the credential
//   (voter-key.js's WebCrypto key), then POST round, encrypted, credential, credential_sig.
// See encryptBallot below for the arguments. Errors are BallotCryptoError (a bad election key,
// a ballot the round does not allow); the booth then keeps its no-JavaScript path.
import { ed25519, sha512 } from "./vendor/noble-curves-2.4.0.js";
import { toBase64, fromBase64 } from "./base64.js";

export { toBase64, fromBase64 };

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
// window: noble's precomputation window for h (1 = none; bench/ballot_browser.py compares).
export class ElectionKey {
  constructor(bytes, window = 8) {
    this.bytes = Uint8Array.from(bytes);
    this.point = decodePoint(this.bytes);
    if (window > 1) this.point.precompute(window);
  }
  mul(n) {
    return mul(this.point, n);
  }
}

// -- ElGamal -------------------------------------------------------------------------------------
// Enc(m; r) = (α = r·G, β = m·G + r·h), m ∈ {0, 1}, r uniform non-zero, redrawn until α and β
// are valid points (never the identity), as crypto/elgamal.py's encrypt_fresh.
function encryptBit(m, key, rng) {
  for (;;) {
    const r = randomScalar(rng);
    const alpha = baseMul(r);
    let beta = key.mul(r);
    if (m) beta = beta.add(G);
    if (!alpha.is0() && !beta.is0()) {
      return { r, bytes: concat([encodePoint(alpha), encodePoint(beta)]) };
    }
  }
}

// -- the encrypted ballot (docs/audit-log.md §10 "The encrypted ballot") ------------------------
export const LAYOUT_VERSION = 1;
const TWO_128 = 1n << 128n;
const CHALLENGE_SIZE = 16;
const BRANCH_SIZE = 48;
const CIPHERTEXT_SIZE = 64;

// The blob's size for n grades, r rows, with or without a blank cell.
export function blobSize(nGrades, rows, blank) {
  const branches = nGrades + (blank ? 1 : 0);
  return 5 + 2 * rows + (blank ? CIPHERTEXT_SIZE : 0) +
    rows * ((nGrades - 1) * CIPHERTEXT_SIZE + branches * BRANCH_SIZE);
}

// The message the voter's credential signs (Ed25519): the booth signs it with WebCrypto.
export function signedMessage(origin, round, blob) {
  return concat([utf8("scrutin-ballot/v2\0" + origin + "\0" + String(round) + "\0"), blob]);
}

function asBytes(value, size, what) {
  let bytes;
  try {
    bytes = typeof value === "string" ? fromBase64(value) : Uint8Array.from(value);
  } catch (e) {
    throw new BallotCryptoError(what + " is not base64");
  }
  if (size && bytes.length !== size) {
    throw new BallotCryptoError(what + " must be " + size + " bytes");
  }
  return bytes;
}

function challengeFrom(rng) {
  return bytesToInt(rng().subarray(0, CHALLENGE_SIZE));
}

// The round a ballot is built for, checked once: throws BallotCryptoError on anything wrong.
export function roundParams(p, keyWindow = 8) {
  const n = p.grades;
  if (!Number.isInteger(n) || n < 2 || n > 255) throw new BallotCryptoError("2 to 255 grades");
  if (!Array.isArray(p.candidates) || p.candidates.length === 0 || p.candidates.length > 65535) {
    throw new BallotCryptoError("the round's candidate list is missing");
  }
  if (new Set(p.candidates).size !== p.candidates.length) {
    throw new BallotCryptoError("the round's candidate list repeats a candidate");
  }
  if (typeof p.origin !== "string" || !/^[\x21-\x7e]+$/.test(p.origin)) {
    throw new BallotCryptoError("the log's origin must be printable ASCII");
  }
  if (!Number.isInteger(p.round) || p.round < 1) throw new BallotCryptoError("bad round number");
  if (p.candidates.some((c) => typeof c !== "string" || !/^[\x21-\x7e]+$/.test(c))) {
    throw new BallotCryptoError("candidate ids must be printable ASCII");
  }
  const subset = p.subsetSize || 0;
  const rows = subset <= 0 || subset >= p.candidates.length ? p.candidates.length : subset;
  return {
    origin: p.origin,
    round: p.round,
    key: new ElectionKey(asBytes(p.electionKey, 32, "the election key"), keyWindow),
    candidates: p.candidates.slice(),
    grades: n,
    allowBlank: Boolean(p.allowBlank),
    rows,
  };
}

// One row's proof (the prover's side of §10's row proof). `cells` are the row's explicit
// cells {r, bytes}; `blank` the blank cell or null; `branch` the true branch (the grade, or
// n for a blank ballot). Draws w, then for each other branch in order s_k and c_k.
function proveRow(round, credential, candidate, cells, blank, branch, rng) {
  const n = round.grades;
  const h = round.key;
  const context = [
    utf8(round.origin), utf8(String(round.round)), credential, utf8(candidate), h.bytes,
  ];
  const all = blank ? [...cells, blank] : cells;
  const statement = concat(all.map((c) => c.bytes));
  const positions = [];
  for (let i = 0; i < n - 1; i++) positions.push(String(i));
  if (blank) positions.push("blank");
  const weights = positions.map((pos) =>
    hashToChallenge128("ballot-weight", [...context, statement, utf8(pos)]));
  let R = 0n;
  for (let i = 0; i < all.length; i++) R += weights[i] * all[i].r;
  R = mod(R);
  // Branch k's target is t_k·G: t_k = z_k for grades 0 … n − 2, 0 for grade n − 1, z_blank.
  const t = [...weights.slice(0, n - 1), 0n];
  if (blank) t.push(weights[n - 1]);
  // The folded ciphertext is (R·G, t_j·G + R·h), so every commitment is a multiple of G and
  // of h, whose tables are built once: X_k = u·G and Y_k = u·h − c_k·(t_j − t_k)·G with
  // u = s_k − c_k·R, the verifier's s_k·G − c_k·α* and s_k·h − c_k·(β* − T_k).
  const w = randomScalar(rng);
  const proof = [];
  const commitments = [];
  for (let k = 0; k < t.length; k++) {
    if (k === branch) {
      commitments.push(encodePoint(baseMul(w)), encodePoint(h.mul(w)));
      baseMul(w); // the same number of multiplications as the other branches
      proof.push(null);
      continue;
    }
    const s = randomScalar(rng);
    const c = challengeFrom(rng);
    const u = mod(s - c * R);
    commitments.push(
      encodePoint(baseMul(u)),
      encodePoint(h.mul(u).subtract(baseMul(mod(c * (t[branch] - t[k]))))));
    proof.push([c, s]);
  }
  const c = hashToChallenge128("ballot-row", [...context, statement, ...commitments]);
  let others = 0n;
  for (const entry of proof) if (entry) others += entry[0];
  const cTrue = (((c - others) % TWO_128) + TWO_128) % TWO_128;
  proof[branch] = [cTrue, mod(w + cTrue * R)];
  const out = [statement.subarray(0, (n - 1) * CIPHERTEXT_SIZE)];
  for (const [ck, sk] of proof) out.push(intToBytes(ck, CHALLENGE_SIZE), encodeScalar(sk));
  return concat(out);
}

function yieldToBrowser() {
  if (globalThis.scheduler && typeof globalThis.scheduler.yield === "function") {
    return globalThis.scheduler.yield();
  }
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

// Builds the `encrypted` blob of a ballot.
//   round: {origin, round, electionKey (base64 or 32 bytes; the round-open's
//           election_public_key), candidates (the round-open's list of ids, in order),
//           grades (n), allowBlank, subsetSize}
//   ballot: the candidate ids on the voter's ballot (their subset, or the whole list)
//   grades: {candidateId: grade index 0 … n − 1} for every candidate of `ballot`, or null
//           for a blank ballot
//   credential: the voter's credential public key (base64 or 32 bytes)
//   options: {onProgress(done, total), rng (TEST ONLY: a function returning 64 bytes per
//            call, e.g. seededRandom; by default crypto.getRandomValues)}
// Resolves to {blob (Uint8Array), encrypted (base64)}; rejects with BallotCryptoError on a
// ballot the round does not allow or an invalid election key.
export async function encryptBallot(round, ballot, grades, credential, options = {}) {
  // A round already checked by roundParams (it holds the decoded key) or its plain data.
  const params = round.key instanceof ElectionKey ? round : roundParams(round);
  const rng = options.rng || systemRandom;
  const progress = options.onProgress || (() => {});
  const cred = asBytes(credential, 32, "the credential");
  const n = params.grades;
  const position = new Map(params.candidates.map((c, i) => [c, i]));
  if (!Array.isArray(ballot) || new Set(ballot).size !== ballot.length ||
      ballot.some((c) => !position.has(c))) {
    throw new BallotCryptoError("the ballot's candidates must be distinct candidates of the round");
  }
  if (ballot.length !== params.rows) {
    throw new BallotCryptoError("a ballot of this round has " + params.rows + " candidates");
  }
  if (grades === null) {
    if (!params.allowBlank) throw new BallotCryptoError("this round does not allow blank ballots");
  } else if (ballot.some((c) => !Number.isInteger(grades[c]) || grades[c] < 0 || grades[c] >= n) ||
      Object.keys(grades).length !== ballot.length) {
    throw new BallotCryptoError("grade every candidate of the ballot with a grade of the scale");
  }
  const order = ballot.slice().sort((a, b) => position.get(a) - position.get(b));
  const total = 2 * order.length;
  let done = 0;
  progress(done, total);
  await yieldToBrowser();
  const blank = params.allowBlank ? encryptBit(grades === null ? 1 : 0, params.key, rng) : null;
  const cells = [];
  for (const cand of order) {
    const grade = grades === null ? -1 : grades[cand];
    const row = [];
    for (let i = 0; i < n - 1; i++) row.push(encryptBit(grade === i ? 1 : 0, params.key, rng));
    cells.push(row);
    progress(++done, total);
    await yieldToBrowser();
  }
  const header = new Uint8Array(5 + 2 * order.length);
  const view = new DataView(header.buffer);
  view.setUint8(0, LAYOUT_VERSION);
  view.setUint8(1, n);
  view.setUint8(2, blank ? 1 : 0);
  view.setUint16(3, order.length, false);
  order.forEach((cand, i) => view.setUint16(5 + 2 * i, position.get(cand), false));
  const parts = [header];
  if (blank) parts.push(blank.bytes);
  for (let i = 0; i < order.length; i++) {
    const branch = grades === null ? n : grades[order[i]];
    parts.push(proveRow(params, cred, order[i], cells[i], blank, branch, rng));
    progress(++done, total);
    await yieldToBrowser();
  }
  const blob = concat(parts);
  if (blob.length !== blobSize(n, order.length, Boolean(blank))) {
    throw new BallotCryptoError("internal error: blob size");
  }
  return { blob, encrypted: toBase64(blob) };
}

// TEST ONLY: the same ballot with the deterministic randomness of the spec's worked examples
// (seedText as in "draws seeded with `scrutin example ballot`").
export function encryptBallotDeterministic(round, ballot, grades, credential, seedText) {
  return encryptBallot(round, ballot, grades, credential, {
    rng: seededRandom(utf8(seedText), "example"),
  });
}

// For classic scripts: the same API on window.
globalThis.ScrutinBallotCrypto = Object.freeze({
  roundParams,
  encryptBallot,
  signedMessage,
  blobSize,
  toBase64,
  fromBase64,
  BallotCryptoError,
});
