// The voter's signing key kept in this browser (docs/audit-log.md §8 "Voter-held
// credentials"): its 32-byte Ed25519 seed, stored in localStorage per site and primary, and
// the WebCrypto key made from it. One ES module for credentials.js (key page, supports, review
// page) and booth-encrypted.js (the encrypted booth).
import { toBase64, fromBase64 } from "./base64.js";

// PKCS#8 wrapping of an Ed25519 seed (RFC 8410): WebCrypto imports a private key only so.
const PKCS8_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70,
  0x04, 0x22, 0x04, 0x20];

function storageKey(slug) {
  return "scrutin-credential:" + location.host + "/" + slug;
}

// The seed kept for this primary, or null (none, or storage not available).
export function storedSeed(slug) {
  try {
    const v = localStorage.getItem(storageKey(slug));
    return v ? fromBase64(v) : null;
  } catch (e) {
    return null;
  }
}

export function storeSeed(slug, seed) {
  localStorage.setItem(storageKey(slug), toBase64(seed));
}

// The signing key and its public half in base64, as the service records it.
export async function keyFromSeed(seed) {
  const pkcs8 = new Uint8Array(48);
  pkcs8.set(PKCS8_PREFIX);
  pkcs8.set(seed, 16);
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", key);
  let pub = jwk.x.replace(/-/g, "+").replace(/_/g, "/");
  while (pub.length % 4) pub += "=";
  return { key, publicKey: pub };
}
