"""Keys and signatures: the service account's RSA key, SendGrid's ECDSA webhook key and
Twilio's request signature.

Keys are generated once per emulator, lazily (an RSA key takes tens of milliseconds).
"""

from __future__ import annotations

import base64
import secrets
import threading

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


class EmulatorKeys:
    """The emulator's private keys and their public halves, in the formats clients expect."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rsa: rsa.RSAPrivateKey | None = None
        self._ecdsa: ec.EllipticCurvePrivateKey | None = None
        self.rsa_key_id = secrets.token_hex(20)

    def _rsa_key(self) -> rsa.RSAPrivateKey:
        with self._lock:
            if self._rsa is None:
                self._rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return self._rsa

    def _ecdsa_key(self) -> ec.EllipticCurvePrivateKey:
        with self._lock:
            if self._ecdsa is None:
                self._ecdsa = ec.generate_private_key(ec.SECP256R1())
            return self._ecdsa

    def rsa_private_pem(self) -> str:
        """The service account's private key, PKCS#8 PEM (as Google's JSON files hold it)."""
        return (
            self._rsa_key()
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            .decode()
        )

    def rsa_public_pem(self) -> str:
        """The service account's public key (SubjectPublicKeyInfo PEM), to check JWTs."""
        return (
            self._rsa_key()
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
            .decode()
        )

    def sendgrid_public_key(self) -> str:
        """The webhook verification key as SendGrid's settings page shows it: base64 DER."""
        der = (
            self._ecdsa_key()
            .public_key()
            .public_bytes(
                serialization.Encoding.DER,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
        )
        return base64.b64encode(der).decode()

    def sign_sendgrid_payload(self, timestamp: str, payload: str) -> str:
        """SendGrid's Signed Event Webhook signature: ECDSA P-256 with SHA-256 over
        ``timestamp + payload`` (UTF-8), DER-encoded, base64.
        """
        signature = self._ecdsa_key().sign(
            (timestamp + payload).encode(), ec.ECDSA(hashes.SHA256())
        )
        return base64.b64encode(signature).decode()


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """``X-Twilio-Signature`` for a form POST of ``params`` to ``url``, computed by the
    ``twilio`` SDK's own ``RequestValidator`` (HMAC-SHA1 of the URL followed by each
    parameter name and value in name order, base64).
    """
    from twilio.request_validator import RequestValidator

    return str(RequestValidator(auth_token).compute_signature(url, params))
