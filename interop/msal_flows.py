#!/usr/bin/env python3
"""MSAL Python against the Entra emulator over HTTPS: the five user flows.

    auth_code    PublicClientApplication.initiate_auth_code_flow -> the sign-in page submitted
                 over HTTP -> the 302's query -> acquire_token_by_auth_code_flow (PKCE)
    refresh      acquire_token_silent(force_refresh=True) with the account of auth_code: a new
                 access token, and a rotated refresh token in MSAL's cache
    device_code  initiate_device_flow -> the code entered on /devicelogin, the sign-in form ->
                 acquire_token_by_device_flow (polling from another thread meanwhile)
    ropc         acquire_token_by_username_password
    obo          a user token for the middle tier (ROPC), then the middle tier's
                 ConfidentialClientApplication.acquire_token_on_behalf_of for Microsoft Graph,
                 and GET {base}/v1.0/me with it
    auth_code_form_post  auth_code with response_mode=form_post (MSAL's recommendation): the
                 code read from the page that posts it to the redirect URI

Every option can come from the environment (ENTRA_INTEROP_<OPTION>, e.g. ENTRA_INTEROP_BASE_URL).
Prints a JSON summary on stdout ({"ok": ..., "flows": {name: {"ok": ..., ...}}}) and exits 1
when any flow failed (details on stderr), 2 on bad arguments. tests/interop_msal.rs runs it.
"""

import argparse
import base64
import json
import os
import sys
import threading
import time
import traceback

from urllib.parse import urlsplit, urlunsplit

import msal
import requests

import emulator_pages

REDIRECT_URI = "http://localhost"
GRAPH_USER_READ = "https://graph.microsoft.com/User.Read"


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
    opt("client-id", "the public client (redirect URI http://localhost)")
    opt("api-scope", "a delegated scope of the API, api://{id}/Files.Read")
    opt("api-audience", "the `aud` of the API's tokens")
    opt("user", "the user of auth_code, refresh and ropc (UPN; has a password)")
    opt("user-oid", "that user's object id")
    opt("password", "that user's password")
    opt("device-user", "the user of device_code (UPN; no password)")
    opt("device-user-oid", "that user's object id")
    opt("obo-client-id", "the middle tier (confidential, App ID URI api://{id})")
    opt("obo-secret", "the middle tier's client secret")
    opt("obo-scope", "the middle tier's delegated scope, api://{id}/access_as_user")
    opt("flows", "flows to run, comma-separated", required=False,
        default="auth_code,refresh,device_code,ropc,obo,auth_code_form_post")
    return p.parse_args()


class EmulatorSession(requests.Session):
    """The HTTP client given to MSAL: a requests Session trusting the emulator's CA.

    MSAL builds the URL of its user realm discovery (the first request of ROPC) from the
    authority's host name alone, dropping the port: `https://127.0.0.1/common/userrealm/...`.
    Against an authority on another port than 443 that request would go nowhere; this session
    sends such port-less URLs for the emulator's host to the emulator's port (and records them),
    every other URL unchanged. The emulator answers 404 there, which MSAL takes as "not
    federated" and goes on with the password grant, as Entra's managed users do.
    """

    def __init__(self, base_url, ca):
        super().__init__()
        self.verify = ca
        parts = urlsplit(base_url)
        self._host, self._netloc = parts.hostname, parts.netloc
        self.port_added = []

    def request(self, method, url, *args, **kwargs):
        p = urlsplit(url)
        if p.scheme == "https" and p.hostname == self._host and p.port is None:
            url = urlunsplit(p._replace(netloc=self._netloc))
            self.port_added.append(f"{method} {p.path}")
        kwargs.setdefault("timeout", 30)
        return super().request(method, url, *args, **kwargs)


def claims(jwt):
    """A JWT's payload, not verified (MSAL checks ID tokens; the API checks access tokens)."""
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def token_result(result, what):
    """MSAL's answer, which must hold an access token."""
    check(isinstance(result, dict), f"{what}: MSAL returned {result!r}")
    if "access_token" not in result:
        raise AssertionError(
            f"{what}: {result.get('error')}: {result.get('error_description')} (codes {result.get('error_codes')})"
        )
    return result


def user_token(result, what, *, tenant, oid, aud, scope):
    """The access token of `result` is the user's (`oid`), for `aud`, with `scope` in `scp`."""
    token_result(result, what)
    c = claims(result["access_token"])
    check(c.get("oid") == oid, f"{what}: access token oid {c.get('oid')!r}, expected {oid}")
    check(c.get("tid") == tenant, f"{what}: access token tid {c.get('tid')!r}, expected {tenant}")
    check(c.get("aud") == aud, f"{what}: access token aud {c.get('aud')!r}, expected {aud}")
    scp = (c.get("scp") or "").split()
    check(scope in scp, f"{what}: access token scp {c.get('scp')!r} lacks {scope}")
    check("idtyp" not in c or c["idtyp"] == "user", f"{what}: idtyp {c.get('idtyp')!r} in a user token")
    return c


def short_scope(scope):
    """`api://x/Files.Read` -> `Files.Read` (the form `scp` holds)."""
    return scope.rsplit("/", 1)[-1]


def id_token_checks(result, what, *, oid, client_id):
    idc = result.get("id_token_claims") or {}
    check(idc.get("oid") == oid, f"{what}: ID token oid {idc.get('oid')!r}, expected {oid}")
    check(idc.get("aud") == client_id, f"{what}: ID token aud {idc.get('aud')!r}, expected {client_id}")
    return idc


def refresh_tokens(app):
    return sorted(rt["secret"] for rt in app.token_cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN))


class Run:
    def __init__(self, args):
        self.a = args
        self.authority = f"{args.base_url.rstrip('/')}/{args.tenant}"
        self.http = EmulatorSession(args.base_url, args.ca)
        self.public = None  # the public client app of auth_code, reused by refresh
        self.account = None

    def http_client(self):
        return EmulatorSession(self.a.base_url, self.a.ca)

    def public_app(self, http_client=None):
        return msal.PublicClientApplication(
            self.a.client_id, authority=self.authority, instance_discovery=False,
            http_client=http_client or self.http_client(),
        )

    def auth_code(self):
        a = self.a
        app = self.public_app()
        flow = app.initiate_auth_code_flow([a.api_scope], redirect_uri=REDIRECT_URI, login_hint=a.user)
        check("code_verifier" in flow and "auth_uri" in flow, f"no PKCE flow: {sorted(flow)}")
        check("code_challenge=" in flow["auth_uri"], "the auth URI has no code_challenge")
        browser = EmulatorSession(a.base_url, a.ca)  # the "browser": cookies of its own
        page = browser.get(flow["auth_uri"])
        answer = emulator_pages.sign_in(browser, page, a.user, a.password)
        query = emulator_pages.redirect_query(answer, REDIRECT_URI)
        check("code" in query, f"no code in the redirect: {query}")
        check(query.get("state") == flow["state"], "state not echoed")
        result = app.acquire_token_by_auth_code_flow(flow, query)
        c = user_token(result, "auth_code", tenant=a.tenant, oid=a.user_oid, aud=a.api_audience,
                       scope=short_scope(a.api_scope))
        idc = id_token_checks(result, "auth_code", oid=a.user_oid, client_id=a.client_id)
        check(idc.get("nonce"), "auth_code: the ID token has no nonce")
        check(result.get("refresh_token"), "auth_code: no refresh token (offline_access is asked by MSAL)")
        accounts = app.get_accounts(username=a.user)
        check(len(accounts) == 1, f"auth_code: MSAL's cache has {len(accounts)} accounts for {a.user}")
        self.public, self.account = app, accounts[0]
        return {"oid": c["oid"], "scp": c["scp"], "aud": c["aud"], "azp": c.get("azp"),
                "preferred_username": idc.get("preferred_username"),
                "session_state": bool(query.get("session_state"))}

    def auth_code_form_post(self):
        """auth_code with response_mode=form_post (what MSAL recommends): the code comes back
        in a page that posts it to the redirect URI."""
        a = self.a
        app = self.public_app()
        flow = app.initiate_auth_code_flow([a.api_scope], redirect_uri=REDIRECT_URI, response_mode="form_post")
        browser = EmulatorSession(a.base_url, a.ca)
        page = browser.get(flow["auth_uri"])
        answer = emulator_pages.sign_in(browser, page, a.user, a.password)
        fields = emulator_pages.form_post_fields(answer, REDIRECT_URI)
        check("code" in fields and fields.get("state") == flow["state"], f"form_post fields: {sorted(fields)}")
        result = app.acquire_token_by_auth_code_flow(flow, fields)
        c = user_token(result, "auth_code_form_post", tenant=a.tenant, oid=a.user_oid, aud=a.api_audience,
                       scope=short_scope(a.api_scope))
        id_token_checks(result, "auth_code_form_post", oid=a.user_oid, client_id=a.client_id)
        return {"oid": c["oid"], "scp": c["scp"]}

    def refresh(self):
        a = self.a
        check(self.public is not None, "refresh needs the account of auth_code, which failed")
        app = self.public
        before_at = [t["secret"] for t in app.token_cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)]
        before_rt = refresh_tokens(app)
        result = app.acquire_token_silent([a.api_scope], account=self.account, force_refresh=True)
        c = user_token(result, "refresh", tenant=a.tenant, oid=a.user_oid, aud=a.api_audience,
                       scope=short_scope(a.api_scope))
        check(result.get("token_source") in (None, "identity_provider"),
              f"refresh: token_source {result.get('token_source')!r}, expected identity_provider")
        check(result["access_token"] not in before_at, "refresh: the access token did not change")
        after_rt = refresh_tokens(app)
        check(after_rt and after_rt != before_rt, "refresh: the refresh token was not rotated")
        return {"oid": c["oid"], "scp": c["scp"], "new_access_token": True, "refresh_token_rotated": True}

    def device_code(self):
        a = self.a
        app = self.public_app()
        flow = app.initiate_device_flow([a.api_scope])
        check("user_code" in flow, f"device_code: no user code: {flow}")
        for field in ("device_code", "verification_uri", "expires_in", "interval", "message"):
            check(field in flow, f"device_code: the answer has no {field}")
        got = {}
        poller = threading.Thread(
            target=lambda: got.update(r=app.acquire_token_by_device_flow(flow)), daemon=True,
        )
        poller.start()  # polls (authorization_pending) while the user signs in
        try:
            time.sleep(1)
            browser = EmulatorSession(a.base_url, a.ca)
            page = emulator_pages.enter_device_code(browser, flow["verification_uri"], flow["user_code"])
            done = emulator_pages.sign_in(browser, page, a.device_user)
            check(done.status_code == 200 and "You have signed in" in done.text,
                  f"device_code: sign-in did not finish: {done.status_code} {done.text[:500]!r}")
            poller.join(timeout=int(flow["interval"]) * 3 + 20)
            check(not poller.is_alive(), "device_code: acquire_token_by_device_flow did not return")
        finally:
            flow["expires_at"] = 0  # MSAL stops polling at its next turn
        result = got.get("r")
        c = user_token(result, "device_code", tenant=a.tenant, oid=a.device_user_oid, aud=a.api_audience,
                       scope=short_scope(a.api_scope))
        id_token_checks(result, "device_code", oid=a.device_user_oid, client_id=a.client_id)
        return {"oid": c["oid"], "scp": c["scp"], "user_code_length": len(flow["user_code"]),
                "interval": flow["interval"]}

    def ropc(self):
        a = self.a
        http = self.http_client()
        app = self.public_app(http)
        result = app.acquire_token_by_username_password(a.user, a.password, [a.api_scope])
        c = user_token(result, "ropc", tenant=a.tenant, oid=a.user_oid, aud=a.api_audience,
                       scope=short_scope(a.api_scope))
        check(c.get("amr") == ["pwd"], f"ropc: amr {c.get('amr')!r}")
        id_token_checks(result, "ropc", oid=a.user_oid, client_id=a.client_id)
        return {"oid": c["oid"], "scp": c["scp"], "amr": c.get("amr"), "port_added": http.port_added}

    def obo(self):
        a = self.a
        # The user signs in to the client for the middle tier's scope.
        incoming = self.public_app().acquire_token_by_username_password(a.user, a.password, [a.obo_scope])
        ic = user_token(incoming, "obo (the user's token for the middle tier)", tenant=a.tenant,
                        oid=a.user_oid, aud=a.obo_client_id, scope=short_scope(a.obo_scope))
        middle = msal.ConfidentialClientApplication(
            a.obo_client_id, client_credential=a.obo_secret, authority=self.authority,
            instance_discovery=False, http_client=self.http_client(),
        )
        result = middle.acquire_token_on_behalf_of(incoming["access_token"], [GRAPH_USER_READ])
        token_result(result, "obo")
        c = claims(result["access_token"])
        check(c.get("oid") == a.user_oid, f"obo: oid {c.get('oid')!r}, expected the user {a.user_oid}")
        check("User.Read" in (c.get("scp") or "").split(), f"obo: scp {c.get('scp')!r} lacks User.Read")
        check(c.get("appid", c.get("azp")) == a.obo_client_id,
              f"obo: the token's app is {c.get('appid', c.get('azp'))!r}, expected the middle tier")
        me = self.http.get(f"{a.base_url.rstrip('/')}/v1.0/me",
                           headers={"Authorization": f"Bearer {result['access_token']}"})
        check(me.status_code == 200, f"obo: GET /v1.0/me answered {me.status_code}: {me.text[:500]!r}")
        profile = me.json()
        check(profile.get("id") == a.user_oid, f"obo: /v1.0/me id {profile.get('id')!r}")
        check((profile.get("userPrincipalName") or "").lower() == a.user.lower(),
              f"obo: /v1.0/me userPrincipalName {profile.get('userPrincipalName')!r}")
        return {"oid": c["oid"], "scp": c["scp"], "aud": c.get("aud"), "incoming_scp": ic["scp"],
                "me": {"id": profile.get("id"), "userPrincipalName": profile.get("userPrincipalName")}}


def main():
    args = options()
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment win over a
    # Session's `verify` (psf/requests#3829), and MSAL passes `verify` on a Session: point them
    # at the emulator's CA, the only server this script talks to.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        os.environ[name] = args.ca
    run = Run(args)
    flows = {}
    for name in [f.strip() for f in args.flows.split(",") if f.strip()]:
        flow = getattr(run, name, None)
        if name.startswith("_") or not callable(flow) or name in ("public_app", "http_client"):
            print(f"unknown flow {name!r}", file=sys.stderr)
            return 2
        started = time.monotonic()
        try:
            flows[name] = {"ok": True, **flow()}
        except Exception as e:  # noqa: BLE001 - every failure goes into the summary
            print(f"== {name} failed", file=sys.stderr)
            traceback.print_exc()
            flows[name] = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        flows[name]["seconds"] = round(time.monotonic() - started, 2)
    ok = bool(flows) and all(f["ok"] for f in flows.values())
    summary = {"ok": ok, "msal": msal.__version__, "authority": run.authority, "flows": flows}
    print(json.dumps(summary, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
