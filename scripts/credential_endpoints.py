#!/usr/bin/env python3
"""Local stand-ins for the cloud credential endpoints blobferry's tests need (stdlib only).

  GET  /ecs/creds                             container credentials (ECS, EKS Pod Identity);
                                              needs Authorization: <--auth-token>
  PUT  /latest/api/token                      IMDSv2 session token
  GET  /latest/meta-data/iam/security-credentials/[ROLE]   role name, then credentials;
                                              needs X-aws-ec2-metadata-token
  POST /TENANT/oauth2/v2.0/token              Entra ID client credentials; client_secret
                                              must be --client-secret, scope the storage one
  GET  /msi/token                             App Service managed identity; needs
                                              X-IDENTITY-HEADER: <--auth-token>
  GET  /metadata/identity/oauth2/token        Azure IMDS managed identity; needs Metadata: true
  POST /sts/                                  STS AssumeRoleWithWebIdentity (WebIdentityToken must
                                              be --web-identity-token) and AssumeRole (SigV4 by
                                              --source-access-key for service sts)
  GET  /stats                                 JSON: how many credentials each route served

AWS credentials served are --aws-access-key / --aws-secret-key (or what --aws-key-file holds now) with a session token and an
expiry --lifetime seconds ahead; Azure tokens are valid --lifetime seconds, signed with
--azure-key so the Azure emulator accepts them. --fail makes every credential route answer 500 (a source that fails).
--port N (0: any) and --port-file FILE as in http_echo_server.py; exits with its parent.
"""
import argparse
import base64
import hashlib
import hmac
import datetime
import http.server
import json
import threading
import time
import urllib.parse

import local_serving

ARGS = None
_lock = threading.Lock()
_stats = {}


def azure_token(lifetime):
    """What the Azure emulator accepts as a bearer token (scripts/azure_emulator.py
    verify_bearer): its expiry, signed with the emulator's account key."""
    expiry = int(time.time()) + lifetime
    payload = f"bf1.{expiry}"
    key = base64.b64decode(ARGS.azure_key)
    signature = base64.b64encode(hmac.new(key, payload.encode(), hashlib.sha256).digest()).decode()
    return f"{payload}.{signature}", expiry


def count(route):
    with _lock:
        _stats[route] = _stats.get(route, 0) + 1
        return _stats[route]


def aws_credentials(route):
    n = count(route)
    expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=ARGS.lifetime)
    access_key, secret_key = ARGS.aws_access_key, ARGS.aws_secret_key
    if ARGS.aws_key_file:
        # Read on every request: a test rotates the key by rewriting the file.
        with open(ARGS.aws_key_file) as f:
            access_key, secret_key = f.read().split()[:2]
    return {
        "Code": "Success",
        "AccessKeyId": access_key,
        "SecretAccessKey": secret_key,
        "Token": ARGS.session_token or "",
        "Expiration": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Serial": n,
    }


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        print("%s %s" % (self.address_string(), format % args), flush=True)

    def respond(self, status, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_PUT(self):
        self.body()
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.respond(200, b"imds-session-token")
        self.respond(404, {"error": "not found"})

    def do_POST(self):
        form = urllib.parse.parse_qs(self.body().decode())
        path = urllib.parse.urlsplit(self.path).path
        if ARGS.fail:
            return self.respond(500, {"error": "failing on purpose"})
        if path == "/sts/":
            return self.sts(form)
        if path.endswith("/oauth2/v2.0/token"):
            ok = form.get("grant_type") == ["client_credentials"] and form.get("scope") == [
                "https://storage.azure.com/.default"
            ]
            secret_ok = form.get("client_secret") == [ARGS.client_secret] or (
                form.get("client_assertion") == [ARGS.client_secret]
            )
            if not ok or not secret_ok:
                return self.respond(401, {"error": "invalid_client"})
            count("entra-assertion" if form.get("client_assertion") else "entra")
            token, _ = azure_token(ARGS.lifetime)
            return self.respond(200, {"token_type": "Bearer", "expires_in": ARGS.lifetime, "access_token": token})
        self.respond(404, {"error": "not found"})

    def sts(self, form):
        action = (form.get("Action") or [""])[0]
        if not form.get("RoleArn") or not form.get("RoleSessionName"):
            return self.sts_error(400, "MissingParameter")
        if action == "AssumeRoleWithWebIdentity":
            if form.get("WebIdentityToken") != [ARGS.web_identity_token]:
                return self.sts_error(400, "InvalidIdentityToken")
        elif action == "AssumeRole":
            authorization = self.headers.get("Authorization") or ""
            if f"Credential={ARGS.source_access_key}/" not in authorization or \
                    "/sts/aws4_request" not in authorization or not self.headers.get("X-Amz-Date"):
                return self.sts_error(403, "SignatureDoesNotMatch")
        else:
            return self.sts_error(400, "InvalidAction")
        credentials = aws_credentials("sts-" + action)
        xml = (f"<{action}Response><{action}Result><Credentials>"
               f"<AccessKeyId>{credentials['AccessKeyId']}</AccessKeyId>"
               f"<SecretAccessKey>{credentials['SecretAccessKey']}</SecretAccessKey>"
               f"<SessionToken>{credentials['Token']}</SessionToken>"
               f"<Expiration>{credentials['Expiration']}</Expiration>"
               f"</Credentials></{action}Result></{action}Response>")
        self.respond(200, xml.encode())

    def sts_error(self, status, code):
        self.respond(status, f"<ErrorResponse><Error><Code>{code}</Code></Error></ErrorResponse>".encode())

    def do_GET(self):
        split = urllib.parse.urlsplit(self.path)
        path, query = split.path, urllib.parse.parse_qs(split.query)
        if path == "/stats":
            with _lock:
                return self.respond(200, dict(_stats))
        if ARGS.fail:
            return self.respond(500, {"error": "failing on purpose"})
        if path == "/ecs/creds":
            if self.headers.get("Authorization") != ARGS.auth_token:
                return self.respond(401, {"error": "bad authorization token"})
            return self.respond(200, aws_credentials("container"))
        if path.startswith("/latest/meta-data/iam/security-credentials/"):
            if self.headers.get("X-aws-ec2-metadata-token") != "imds-session-token":
                return self.respond(401, b"")
            role = path[len("/latest/meta-data/iam/security-credentials/"):]
            if not role:
                return self.respond(200, b"blobferry-role")
            return self.respond(200, aws_credentials("imds"))
        if path in ("/msi/token", "/metadata/identity/oauth2/token"):
            if path == "/msi/token" and self.headers.get("X-IDENTITY-HEADER") != ARGS.auth_token:
                return self.respond(401, {"error": "bad identity header"})
            if path != "/msi/token" and self.headers.get("Metadata") != "true":
                return self.respond(400, {"error": "Metadata: true missing"})
            if query.get("resource") != ["https://storage.azure.com/"]:
                return self.respond(400, {"error": "wrong resource"})
            count("app-service" if path == "/msi/token" else "azure-imds")
            token, expires = azure_token(ARGS.lifetime)
            return self.respond(200, {"access_token": token, "expires_on": str(expires), "token_type": "Bearer"})
        self.respond(404, {"error": "not found"})



def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    parser.add_argument("--aws-access-key", default="AKIDSTANDIN")
    parser.add_argument("--aws-secret-key", default="stand-in-secret")
    parser.add_argument("--aws-key-file", help="serve the access key and secret this file holds "
                        "(two words, read on every request) instead of --aws-access-key/--aws-secret-key")
    parser.add_argument("--session-token", default="")
    parser.add_argument("--auth-token", default="stand-in-authorization")
    parser.add_argument("--client-secret", default="stand-in-client-secret")
    parser.add_argument("--azure-key", default=base64.b64encode(b"k" * 32).decode(),
                        help="the emulator's account key, which signs the Azure tokens")
    parser.add_argument("--web-identity-token", default="stand-in-web-identity-token")
    parser.add_argument("--source-access-key", default="AKIDSOURCEPROFILE")
    parser.add_argument("--lifetime", type=int, default=3600)
    parser.add_argument("--fail", action="store_true")
    ARGS = parser.parse_args()
    local_serving.take_signals()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    server.daemon_threads = True
    local_serving.serve(server, ARGS.port_file)


if __name__ == "__main__":
    main()
