#!/usr/bin/env python3
"""MSAL Python's on-behalf-of against the Entra emulator over HTTPS, for a given user token.

The middle tier's ConfidentialClientApplication (client secret) calls
acquire_token_on_behalf_of(user_assertion, [scope]) once per --scopes entry and reports each
access token's header and every claim (not verified), so that tests/interop_azure_identity.rs
can compare them with the token entra-client's OnBehalfOf gets for the same user token.

The user's token comes from ENTRA_INTEROP_USER_ASSERTION and the middle tier's secret from
ENTRA_INTEROP_OBO_SECRET (never on the command line); every other option may come from the
environment too (ENTRA_INTEROP_<OPTION>). Prints a JSON summary on stdout ({"ok": ...,
"tokens": {scope: {"ok": ..., "header": {...}, "claims": {...}}}}) and exits 1 when any request
failed (details on stderr), 2 on bad arguments.
"""

import argparse
import json
import os
import sys
import time
import traceback

import msal

from msal_flows import EmulatorSession, claims, token_result


def options():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)

    def opt(name, help, required=True, default=None):
        env = "ENTRA_INTEROP_" + name.upper().replace("-", "_")
        value = os.environ.get(env, default)
        p.add_argument(f"--{name}", default=value, required=required and value is None,
                       help=f"{help} (env {env})")

    opt("base-url", "the emulator's base URL, https://127.0.0.1:PORT")
    opt("ca", "the emulator's CA certificate (PEM)")
    opt("tenant", "the tenant id")
    opt("obo-client-id", "the middle tier (confidential client) the user's token is for")
    opt("scopes", "downstream scopes, comma-separated; one token request each")
    args = p.parse_args()
    for env in ("ENTRA_INTEROP_USER_ASSERTION", "ENTRA_INTEROP_OBO_SECRET"):
        if not os.environ.get(env):
            p.error(f"{env} is not set")
    return args


def header(jwt):
    """A JWT's header (`claims` decodes the second part: give it the first there)."""
    return claims("." + jwt.split(".")[0])


def main():
    args = options()
    # As in msal_flows.py: the environment's CA bundle would win over the Session's `verify`.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        os.environ[name] = args.ca
    middle = msal.ConfidentialClientApplication(
        args.obo_client_id, client_credential=os.environ["ENTRA_INTEROP_OBO_SECRET"],
        authority=f"{args.base_url.rstrip('/')}/{args.tenant}", instance_discovery=False,
        http_client=EmulatorSession(args.base_url, args.ca),
    )
    assertion = os.environ["ENTRA_INTEROP_USER_ASSERTION"]
    tokens = {}
    for scope in [s.strip() for s in args.scopes.split(",") if s.strip()]:
        started = time.monotonic()
        try:
            result = token_result(middle.acquire_token_on_behalf_of(assertion, [scope]), f"obo {scope}")
            jwt = result["access_token"]
            tokens[scope] = {"ok": True, "header": header(jwt), "claims": claims(jwt),
                             "token_source": result.get("token_source")}
        except Exception as e:  # noqa: BLE001 - every failure goes into the summary
            print(f"== obo {scope} failed", file=sys.stderr)
            traceback.print_exc()
            tokens[scope] = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        tokens[scope]["seconds"] = round(time.monotonic() - started, 2)
    ok = bool(tokens) and all(t["ok"] for t in tokens.values())
    print(json.dumps({"ok": ok, "msal": msal.__version__, "tokens": tokens}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
