#!/usr/bin/env python3
"""azure-identity against the Entra emulator over HTTPS: workload identity and managed identity.

    workload        WorkloadIdentityCredential(tenant_id, client_id, token_file_path,
                    authority=<the emulator's base URL>): the service-account token in the file
                    sent as client_assertion to {authority}/{tenant}/oauth2/v2.0/token
    workload_env    WorkloadIdentityCredential() configured the AKS way, from AZURE_TENANT_ID,
                    AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE and AZURE_AUTHORITY_HOST
    app_service_client_id    ManagedIdentityCredential(client_id=...) with IDENTITY_ENDPOINT and
                    IDENTITY_HEADER set: the App Service protocol (api-version 2019-08-01)
    app_service_resource_id  the same with identity_config={"resource_id": ...} (mi_res_id)
    app_service_system       the same with no identity named: the system-assigned identity
    imds_object_id  ManagedIdentityCredential(identity_config={"object_id": ...}) with no
                    IDENTITY_* variables and AZURE_POD_IDENTITY_AUTHORITY_HOST = the emulator's
                    base URL: the IMDS protocol (api-version 2018-02-01, Metadata: true)
    imds_client_id  the same with client_id=...

azure-identity takes the authority host only over https (it refuses an http:// authority), hence
the emulator's TLS; WorkloadIdentityCredential posts with azure-identity's own AAD client, which
does no instance discovery (there is no disable_instance_discovery to set). The IMDS path is
fixed (/metadata/identity/oauth2/token) but its host comes from AZURE_POD_IDENTITY_AUTHORITY_HOST,
which MSAL's ManagedIdentityClient (under azure-identity) reads too.

Each flow gets a token for --scope with get_token_info and reports its claims (not verified:
the Rust test checks them). The managed identity flows set the environment variables they use
and remove the others first, as each host would present them.

Every option can come from the environment (ENTRA_INTEROP_<OPTION>, e.g. ENTRA_INTEROP_BASE_URL;
the identity header is best given so). Prints a JSON summary on stdout ({"ok": ..., "flows":
{name: {"ok": ..., "claims": {...}, ...}}}) and exits 1 when any flow failed (details on
stderr), 2 on bad arguments. tests/interop_azure_identity.rs runs it.
"""

import argparse
import base64
import json
import logging
import os
import sys
import time
import traceback

import azure.identity
from azure.identity import ManagedIdentityCredential, WorkloadIdentityCredential

# The claims the summary reports (the Rust test asserts them).
REPORTED = ("aud", "iss", "tid", "oid", "sub", "azp", "azpacr", "appid", "appidacr", "idtyp",
            "roles", "scp", "ver", "xms_mirid", "iat", "nbf", "exp")

# The variables that select a managed identity protocol in azure-identity (and MSAL's
# ManagedIdentityClient under it); each managed identity flow starts from none of them.
MI_ENV = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT",
          "MSI_ENDPOINT", "MSI_SECRET", "AZURE_POD_IDENTITY_AUTHORITY_HOST",
          "AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_AUTHORITY_HOST")

FLOWS = ("workload", "workload_env", "app_service_client_id", "app_service_resource_id",
         "app_service_system", "imds_object_id", "imds_client_id")


def options():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)

    def opt(name, help, required=True, default=None):
        env = "ENTRA_INTEROP_" + name.upper().replace("-", "_")
        value = os.environ.get(env, default)
        p.add_argument(f"--{name}", default=value, required=required and value is None,
                       help=f"{help} (env {env})")

    opt("base-url", "the emulator's base URL, https://127.0.0.1:PORT (the authority host)")
    opt("ca", "the emulator's CA certificate (PEM)")
    opt("tenant", "the tenant id")
    opt("scope", "the scope asked for, api://{id}/.default")
    opt("workload-client-id", "the app with a federated credential for the token file's issuer/subject")
    opt("token-file", "the file holding the workload issuer's service-account token")
    opt("identity-endpoint", "IDENTITY_ENDPOINT: the emulator's App Service endpoint, {base}/msi/token")
    opt("identity-header", "IDENTITY_HEADER: the secret the App Service endpoint expects")
    opt("imds-host", "AZURE_POD_IDENTITY_AUTHORITY_HOST: where IMDS is, the emulator's base URL")
    opt("mi-client-id", "a user-assigned managed identity's client id")
    opt("mi-object-id", "its object (principal) id")
    opt("mi-resource-id", "its Azure resource id")
    opt("flows", "flows to run, comma-separated", required=False, default=",".join(FLOWS))
    return p.parse_args()


def claims(jwt):
    """A JWT's payload, not verified."""
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def set_env(values):
    """Only `values` of the managed/workload identity variables are set from now on."""
    for name in MI_ENV:
        os.environ.pop(name, None)
    os.environ.update(values)


class Run:
    def __init__(self, args):
        self.a = args

    def token(self, credential):
        """A token for the scope: what get_token_info says and the token's claims."""
        started = time.time()
        info = credential.get_token_info(self.a.scope)
        c = claims(info.token)
        return {
            "claims": {k: c[k] for k in REPORTED if k in c},
            "claim_names": sorted(c),
            "expires_in": info.expires_on - int(started),
            "token_type": info.token_type,
        }

    def workload(self):
        a = self.a
        set_env({})
        cred = WorkloadIdentityCredential(
            tenant_id=a.tenant, client_id=a.workload_client_id, token_file_path=a.token_file,
            authority=a.base_url, connection_verify=a.ca,
        )
        with cred:
            return self.token(cred)

    def workload_env(self):
        a = self.a
        set_env({"AZURE_TENANT_ID": a.tenant, "AZURE_CLIENT_ID": a.workload_client_id,
                 "AZURE_FEDERATED_TOKEN_FILE": a.token_file, "AZURE_AUTHORITY_HOST": a.base_url})
        cred = WorkloadIdentityCredential(connection_verify=a.ca)
        with cred:
            return self.token(cred)

    def app_service(self, **identity):
        a = self.a
        set_env({"IDENTITY_ENDPOINT": a.identity_endpoint, "IDENTITY_HEADER": a.identity_header})
        cred = ManagedIdentityCredential(connection_verify=a.ca, **identity)
        with cred:
            return {"protocol": type(cred._credential).__name__, **self.token(cred)}

    def app_service_client_id(self):
        return self.app_service(client_id=self.a.mi_client_id)

    def app_service_resource_id(self):
        return self.app_service(identity_config={"resource_id": self.a.mi_resource_id})

    def app_service_system(self):
        return self.app_service()

    def imds(self, **identity):
        a = self.a
        set_env({"AZURE_POD_IDENTITY_AUTHORITY_HOST": a.imds_host})
        cred = ManagedIdentityCredential(connection_verify=a.ca, **identity)
        with cred:
            return {"protocol": type(cred._credential).__name__, **self.token(cred)}

    def imds_object_id(self):
        return self.imds(identity_config={"object_id": self.a.mi_object_id})

    def imds_client_id(self):
        return self.imds(client_id=self.a.mi_client_id)


def main():
    args = options()
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment win over a
    # Session's `verify` (psf/requests#3829); azure-core passes `connection_verify` with each
    # request, which wins, but MSAL's managed identity client may build requests of its own:
    # point both variables at the emulator's CA, the only server this script talks to.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        os.environ[name] = args.ca
    # azure-identity logs which protocol ManagedIdentityCredential picked, at INFO.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    logging.getLogger("azure.identity").setLevel(logging.INFO)
    run = Run(args)
    flows = {}
    for name in [f.strip() for f in args.flows.split(",") if f.strip()]:
        if name not in FLOWS:
            print(f"unknown flow {name!r}", file=sys.stderr)
            return 2
        started = time.monotonic()
        try:
            flows[name] = {"ok": True, **getattr(run, name)()}
        except Exception as e:  # noqa: BLE001 - every failure goes into the summary
            print(f"== {name} failed", file=sys.stderr)
            traceback.print_exc()
            flows[name] = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        flows[name]["seconds"] = round(time.monotonic() - started, 2)
    ok = bool(flows) and all(f["ok"] for f in flows.values())
    summary = {"ok": ok, "azure_identity": azure.identity.__version__, "flows": flows}
    print(json.dumps(summary, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
