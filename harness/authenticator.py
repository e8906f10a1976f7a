"""A passkey in software: what a phone or a laptop and its browser answer to WebAuthn, so that
tests and the benchmark can add passkeys and sign in with them over plain HTTP.

It speaks the JSON that the browser's `PublicKeyCredential.toJSON()` produces: an attestation of
format "none" with a P-256 key (COSE ES256) on registration, and an ECDSA signature over the
authenticator data and the client data's hash on sign-in (WebAuthn Level 3, sections 6.1, 6.5
and 7). Browser tests use Chromium's own virtual authenticator instead (tests/site/test_browser.py).
"""

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

USER_PRESENT, USER_VERIFIED, BACKUP_ELIGIBLE, BACKED_UP, ATTESTED = 0x01, 0x04, 0x08, 0x10, 0x40


@dataclass
class SoftPasskey:
    origin: str
    rp_id: str
    aaguid: bytes = bytes(16)
    # Synced passkeys (iCloud Keychain, Google Password Manager) say so and count nothing.
    synced: bool = True
    counts: bool = False
    # A security key without a PIN or fingerprint proves presence, not who touched it.
    verifies: bool = True
    sign_count: int = 0
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    credential_id: bytes = field(default_factory=lambda: os.urandom(16))
    user_handle: bytes = b""
    # The origin of a page that frames the ceremony (another site's), if any.
    framed_by: str = ""

    def create(self, options: str, *, origin: str = "", rp_id: str = "") -> str:
        """The answer to registration options, as the browser posts it."""
        parsed = json.loads(options)
        self.user_handle = base64url_to_bytes(parsed["user"]["id"])
        attested = (
            self.aaguid
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + self.public_key()
        )
        data = self._authenticator_data(rp_id, ATTESTED) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": data})
        client_data = self._client_data("webauthn.create", parsed["challenge"], origin)
        return self._credential(
            {
                "clientDataJSON": bytes_to_base64url(client_data),
                "attestationObject": bytes_to_base64url(attestation),
                "transports": ["internal", "hybrid"],
            }
        )

    def public_key(self) -> bytes:
        """The public key as a COSE key (EC2, P-256, ES256): what the server stores."""
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32), -3: numbers.y.to_bytes(32)}
        )

    def get(
        self, options: str, *, origin: str = "", rp_id: str = "", user_handle: bytes = b""
    ) -> str:
        """The answer to sign-in options, signed with this passkey's private key."""
        parsed = json.loads(options)
        if self.counts:
            self.sign_count += 1
        data = self._authenticator_data(rp_id)
        client_data = self._client_data("webauthn.get", parsed["challenge"], origin)
        signed = data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return self._credential(
            {
                "clientDataJSON": bytes_to_base64url(client_data),
                "authenticatorData": bytes_to_base64url(data),
                "signature": bytes_to_base64url(signature),
                "userHandle": bytes_to_base64url(user_handle or self.user_handle),
            }
        )

    def _authenticator_data(self, rp_id: str, extra_flags: int = 0) -> bytes:
        flags = USER_PRESENT | extra_flags
        if self.verifies:
            flags |= USER_VERIFIED
        if self.synced:
            flags |= BACKUP_ELIGIBLE | BACKED_UP
        rp_id_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        return rp_id_hash + bytes([flags]) + struct.pack(">I", self.sign_count)

    def _client_data(self, kind: str, challenge: str, origin: str) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        if self.framed_by:
            # What a browser reports for a ceremony run in a frame on another site's page.
            return json.dumps({**data, "crossOrigin": True, "topOrigin": self.framed_by}).encode()
        return json.dumps({**data, "crossOrigin": False}).encode()

    def _credential(self, response: dict) -> str:
        identifier = bytes_to_base64url(self.credential_id)
        return json.dumps(
            {
                "id": identifier,
                "rawId": identifier,
                "type": "public-key",
                "response": response,
                "clientExtensionResults": {},
                "authenticatorAttachment": "platform",
            }
        )
