"""Verify a Scrutin checkpoint with PyNaCl only (docs/audit-log.md §5-§6): CHECKPOINT_FILE VKEY"""

import base64, hashlib, sys  # noqa: E401, I001
import nacl.signing

note, (name, key_id, key_b64) = open(sys.argv[1], "rb").read().decode(), sys.argv[2].split("+", 2)
key = base64.b64decode(key_b64)  # 0x01 (Ed25519) + 32-byte public key
if key[0] != 1 or hashlib.sha256(name.encode() + b"\n" + key).digest()[:4].hex() != key_id:
    sys.exit("bad verifier key")
body, verified = note.partition("\n\n")[0] + "\n", False
for line in note.partition("\n\n")[2].splitlines():  # "— <name> <base64(key ID + signature)>"
    if line.startswith(f"\u2014 {name} "):
        blob = base64.b64decode(line.split(" ")[2])
        if blob[:4].hex() == key_id:
            nacl.signing.VerifyKey(key[1:]).verify(body.encode(), blob[4:])  # raises if forged
            verified = True
origin, size, root = body.splitlines()[:3]
if not verified or origin != name:
    sys.exit("no valid signature by the log key")
print(f"OK {origin} size={size} root={base64.b64decode(root).hex()}")
