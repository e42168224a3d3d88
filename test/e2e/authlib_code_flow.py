"""authlib (Debian python3-authlib) as a confidential client of the authorization code
flow with PKCE S256 (RFC 6749 section 4.1, RFC 7636), driven by test/e2e/code-flow-browser.test.ts.

Reads one JSON object on stdin: issuer, client_id, client_secret, redirect_uri (and, for
`token`, callback, state, code_verifier). Prints one JSON object.

  authorize  -> {"url", "state", "code_verifier"}: the authorization URL authlib builds
                from the metadata's authorization_endpoint (RFC 8414)
  token      -> fetch_token with the callback URL, refresh_token, then GET /me with the
                session's bearer token
"""
import json
import sys

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

inp = json.load(sys.stdin)
meta = requests.get(inp["issuer"] + "/.well-known/oauth-authorization-server").json()
session = OAuth2Session(
    inp["client_id"],
    inp["client_secret"],
    token_endpoint_auth_method="client_secret_basic",
    scope="api",
    redirect_uri=inp["redirect_uri"],
    code_challenge_method="S256",
)

if sys.argv[1] == "authorize":
    verifier = generate_token(48)
    url, state = session.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    print(json.dumps({"url": url, "state": state, "code_verifier": verifier}))
elif sys.argv[1] == "token":
    out = {}
    try:
        token = session.fetch_token(
            meta["token_endpoint"],
            authorization_response=inp["callback"],
            state=inp["state"],
            code_verifier=inp["code_verifier"],
        )
    except OAuthError as e:
        print(json.dumps({"error": e.error, "description": e.description}))
        sys.exit(0)
    out["token_type"] = token["token_type"]
    out["has_access_token"] = bool(token.get("access_token"))
    out["has_refresh_token"] = bool(token.get("refresh_token"))
    out["scope"] = token.get("scope")
    refreshed = session.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    out["rotated"] = refreshed["refresh_token"] != token["refresh_token"]
    me = session.get(inp["issuer"] + "/me")
    out["me_status"] = me.status_code
    body = me.json()
    out["sub"] = body.get("sub")
    out["preferred_username"] = body.get("preferred_username")
    out["client_id"] = body.get("client_id")
    print(json.dumps(out))
else:
    sys.exit("usage: authlib_code_flow.py authorize|token < input.json")
