"""schemathesis hooks for fuzz/admin-api: the admin token.

The run may delete a client, rotate its secret or withdraw its allowance —
the admin-cli service's too, which ends its token at once (as it should).
So the token comes from this provider: on a 401 it mints a new one, with
admin-cli's secret while that works, else for a new admin service made
through the CLI (`lanyard client create`, `client allow … admin`); and the
generated cases leave these clients alone."""
import json
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import base64
import time

import schemathesis

BASE = os.environ["LANYARD_BASE"]
ADMIN_API = os.environ["LANYARD_ADMIN_AUDIENCE"]
BIN = os.environ["LANYARD_BIN"]
CLI_ENV = {**os.environ, "DATABASE_URL": os.environ["LANYARD_DATABASE_URL"]}
HARNESS_PREFIX = "fuzz-admin-"


def token_for(client_id, secret):
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "resource": ADMIN_API}).encode()
    req = urllib.request.Request(f"{BASE}/token", data=body, headers={"Authorization": f"Basic {basic}"})
    try:
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())["access_token"]
    except urllib.error.HTTPError:
        return None


def works(token):
    req = urllib.request.Request(f"{BASE}/admin/api/v1/keys", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status == 200
    except urllib.error.HTTPError:
        return False


def cli(*args):
    out = subprocess.run([BIN, *args, "--json"], env=CLI_ENV, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


@schemathesis.auth()
class AdminToken:
    def __init__(self):
        self.client = ("admin-cli", os.environ["LANYARD_ADMIN_SECRET"])
        self.made = 0

    def get(self, case, context):
        token = token_for(*self.client)
        if token and works(token):
            return token
        self.made += 1
        client_id = f"{HARNESS_PREFIX}{os.getpid()}-{self.made}"
        created = cli("client", "create", client_id, "--grant-type", "client_credentials")
        cli("client", "allow", client_id, ADMIN_API, "--scope", "admin")
        self.client = (client_id, created["client_secret"])
        # The running Lanyard hears of the new client through NOTIFY.
        for _ in range(100):
            token = token_for(*self.client)
            if token and works(token):
                return token
            time.sleep(0.05)
        raise RuntimeError(f"no working admin token for {client_id}")

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schemathesis.hook
def filter_path_parameters(ctx, path_parameters):
    """Generated cases leave the harness's own admin clients alone (the
    coverage phase may still reach them: the token provider recovers)."""
    client_id = str((path_parameters or {}).get("id", ""))
    return client_id != "admin-cli" and not client_id.startswith(HARNESS_PREFIX)
