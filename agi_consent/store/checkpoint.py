"""Signed checkpoints of the evidence chain (Ed25519, the `cryptography` package).

A checkpoint says "this log, from node ORIGIN, had SIZE rows and its head hash was HEAD",
signed. Its text is a C2SP signed note (the checkpoint format of transparency logs):

    <origin>
    <size>
    <base64 of the head hash>

    — <key name> <base64 of key id ‖ signature>

with key id = SHA-256(name ‖ "\\n" ‖ 0x01 ‖ public key)[:4]. Truncating the log (deleting its
last rows) cannot be seen from inside one file; a checkpoint exported to somewhere the node
cannot rewrite (another host, WORM storage, a ticket) can: `verify --against` it.
"""

import base64
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

DASH = "\u2014"


class CheckpointError(ValueError):
    """A checkpoint or key that cannot be used; the message says why."""


def key_id(name, public_bytes):
    return hashlib.sha256(name.encode() + b"\n\x01" + public_bytes).digest()[:4]


def _raw(public_key):
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class Signer:
    """The node's signing key: created owner-only on first use, never printed."""

    def __init__(self, key_file, name):
        self.name = name
        self.path = Path(key_file)
        self.key = self._load() if self.path.exists() else self._create()
        self.public = _raw(self.key.public_key())
        self.key_id = key_id(name, self.public)

    def _load(self):
        if self.path.stat().st_mode & 0o077:
            raise CheckpointError(f"The signing key {self.path} is readable by others; "
                                  f"chmod 600 {self.path}.")
        try:
            return serialization.load_pem_private_key(self.path.read_bytes(), password=None)
        except (ValueError, TypeError) as error:
            raise CheckpointError(f"The signing key {self.path} cannot be read ({error}).")

    def _create(self):
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
        return key

    def verifier(self):
        """The public key as a C2SP verifier key: name+keyid+base64(0x01 ‖ key)."""
        encoded = base64.b64encode(b"\x01" + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def note(self, origin, size, head_hex):
        body = f"{origin}\n{size}\n{base64.b64encode(bytes.fromhex(head_hex)).decode()}\n"
        signature = self.key.sign(body.encode())
        return (f"{body}\n{DASH} {self.name} "
                f"{base64.b64encode(self.key_id + signature).decode()}\n")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    head: str  # hex
    key_name: str
    key_id: str  # hex
    signature: bytes
    body: str


def parse(text):
    try:
        body, _, signatures = text.partition("\n\n")
        origin, size, head = body.split("\n")
        line = signatures.strip().splitlines()[0]
        dash, name, blob = line.split(" ")
        raw = base64.b64decode(blob, validate=True)
        if dash != DASH or len(raw) != 68:
            raise ValueError("not a signature line")
        return Checkpoint(origin, int(size), base64.b64decode(head, validate=True).hex(),
                          name, raw[:4].hex(), raw[4:], body + "\n")
    except (ValueError, IndexError) as error:
        raise CheckpointError(f"not a signed checkpoint ({error}).")


def parse_verifier(text):
    """`name+keyid+base64(0x01 ‖ key)` → (name, Ed25519PublicKey)."""
    try:
        name, identity, blob = text.strip().split("+", 2)
        raw = base64.b64decode(blob, validate=True)
        if raw[0] != 1 or len(raw) != 33 or key_id(name, raw[1:]).hex() != identity:
            raise ValueError("key id does not match")
        return name, Ed25519PublicKey.from_public_bytes(raw[1:])
    except (ValueError, IndexError) as error:
        raise CheckpointError(f"not a verifier key ({error}).")


def signature_ok(checkpoint, name, public_key):
    if checkpoint.key_name != name or checkpoint.key_id != key_id(name, _raw(public_key)).hex():
        return False
    try:
        public_key.verify(checkpoint.signature, checkpoint.body.encode())
    except InvalidSignature:
        return False
    return True


INSERT = "INSERT INTO checkpoints (at, origin, size, head, key_id, note) VALUES (?, ?, ?, ?, ?, ?)"


class Checkpoints:
    """Signs the chain's head every `rows` rows or `seconds` seconds, inside the writer's own
    transaction (no transaction of its own), and once more at shutdown."""

    def __init__(self, signer, origin, rows=1000, seconds=300.0):
        self.signer, self.origin = signer, origin
        self.rows, self.seconds = rows, seconds
        self.last_size, self.last_time = None, time.monotonic()

    def maybe(self, connection, size, head):
        if self.last_size is None:
            row = connection.execute("SELECT MAX(size) FROM checkpoints").fetchone()
            self.last_size = row[0] or 0
        if size <= self.last_size:
            return
        if size - self.last_size >= self.rows or \
                time.monotonic() - self.last_time >= self.seconds:
            self.write(connection, size, head)

    def write(self, connection, size, head):
        from datetime import UTC, datetime

        note = self.signer.note(self.origin, size, head)
        connection.execute(INSERT, (datetime.now(UTC).isoformat(timespec="milliseconds"),
                                    self.origin, size, head, self.signer.key_id.hex(), note))
        self.last_size, self.last_time = size, time.monotonic()
        return note
