#!/usr/bin/env python3
"""A Docker Registry token server for tests (distribution's `token` auth), after TEST-INFRA.md §1e.

Usage: tokenserver.py DIR  (DIR holds token.key and token.crt). Binds 127.0.0.1:0 and prints
"listening PORT". Policy: anonymous requests get `pull` only; Basic testuser:testpass gets what it
asks for; a wrong password gets 401.
"""
import base64, json, sys, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

D = sys.argv[1]
KEY = serialization.load_pem_private_key(open(D + "/token.key", "rb").read(), None)
CERT = x509.load_pem_x509_certificate(open(D + "/token.crt", "rb").read())
X5C = base64.b64encode(CERT.public_bytes(serialization.Encoding.DER)).decode()
USERS = {"testuser": "testpass"}
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def mint(sub, service, scopes):
    now = int(time.time()); access = []
    for s in scopes:
        typ, name, actions = s.split(":", 2) if s.count(":") >= 2 else (s, "", "")
        acts = [a for a in actions.split(",") if a and (sub or a == "pull")]
        access.append({"type": typ, "name": name, "actions": acts})
    hdr = {"typ": "JWT", "alg": "RS256", "x5c": [X5C]}
    claims = {"iss": "test-issuer", "sub": sub, "aud": service, "exp": now + 300, "nbf": now - 10,
              "iat": now, "jti": uuid.uuid4().hex, "access": access}
    si = b64(json.dumps(hdr).encode()) + "." + b64(json.dumps(claims).encode())
    return si + "." + b64(KEY.sign(si.encode(), padding.PKCS1v15(), hashes.SHA256()))


class H(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        u = urlparse(self.path); q = parse_qs(u.query)
        if u.path != "/token":
            self.send_error(404); return
        sub = ""; a = self.headers.get("Authorization", "")
        if a.startswith("Basic "):
            user, _, pw = base64.b64decode(a[6:]).decode().partition(":")
            if USERS.get(user) != pw:
                self.send_response(401); self.send_header("Content-Length", "0"); self.end_headers(); return
            sub = user
        tok = mint(sub, q.get("service", [""])[0], q.get("scope", []))
        body = json.dumps({"token": tok, "access_token": tok, "expires_in": 300}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)


server = ThreadingHTTPServer(("127.0.0.1", 0), H)
print("listening", server.server_address[1], flush=True)
server.serve_forever()
