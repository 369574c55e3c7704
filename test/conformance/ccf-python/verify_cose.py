"""Verifies a COSE_Sign1 governance request with CCF's own `ccf.cose`, as a CCF node's member would.

Usage: verify_cose.py <signer certificate PEM> <COSE_Sign1 file>
Prints the protected header as JSON (kid as text) and the payload; exits 1 if the signature does not verify.
"""

import json
import sys

import ccf.cose
from cryptography.x509 import load_pem_x509_certificate
from pycose.headers import KID, Algorithm
from pycose.messages import Sign1Message


def main(certificate_file: str, envelope_file: str) -> int:
    with open(certificate_file, "rb") as f:
        certificate_pem = f.read()
    with open(envelope_file, "rb") as f:
        envelope = f.read()
    certificate = load_pem_x509_certificate(certificate_pem)
    try:
        ccf.cose.validate_cose_sign1(certificate.public_key(), envelope)
    except ValueError as err:
        print(json.dumps({"verified": False, "error": str(err)}))
        return 1
    message = Sign1Message.decode(envelope)
    header = {}
    for key, value in message.phdr.items():
        if key is KID:
            header["kid"] = value.decode("ascii")
        elif key is Algorithm:
            header["alg"] = value.fullname
        else:
            header[key if isinstance(key, str) else str(key)] = value
    print(
        json.dumps(
            {
                "verified": True,
                "header": header,
                "fingerprint": ccf.cose.cert_fingerprint(certificate_pem.decode("ascii")).decode("ascii"),
                "payload": message.payload.decode("utf-8"),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
