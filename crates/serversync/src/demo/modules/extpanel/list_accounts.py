"""serversync demo: an external command module in Python.

Reads the server parameters (WHMCS names: serverid, serverhostname, serverusername,
serverpassword, serveraccesshash, serversecure, ...) as one JSON object on stdin and prints
the ListAccounts wire form on stdout:

    {"success": true, "accounts": [{"uniqueIdentifier": ..., "status": "Active", ...}]}
    {"success": false, "error": "..."}

A real module would call its panel's API here with those credentials. This one checks the
API token and answers a fixed account list, the way real modules often do: some records
clean, some with a plan id as a number, a date without a time or a status in lower case
(serversync reads those leniently and notes it on the item).
"""

import json
import sys

params = json.load(sys.stdin)

if params.get("serveraccesshash") != "EXT-DEMO-TOKEN":
    print(json.dumps({"success": False, "error": "Invalid API key"}))
    sys.exit(0)

IP = params.get("serverip") or "192.0.2.15"


def account(domain, user, plan, status="Active", created="2024-01-31 13:15:00",
            email="ann@mail.test"):
    return {
        "email": email,
        "username": user,
        "domain": domain,
        "uniqueIdentifier": domain,
        "product": plan,
        "primaryip": IP,
        "created": created,
        "status": status,
    }


accounts = [
    # in sync with billing
    account("shop15.test", "shop15", "basic"),
    # suspended on the server, Active in billing: out of sync
    account("blog15.test", "blog15", "basic", status="Suspended"),
    # terminated in billing but still live here
    account("old15.test", "old15", "basic"),
    # not in billing at all: offered for import (its client is created from the e-mail)
    account("new15.test", "new15", "basic", email="new15@mail.test"),
    # a plan id as a number, a date without a time, a lower-case status, no e-mail
    {"uniqueIdentifier": "plan15.test", "domain": "plan15.test", "username": "plan15",
     "product": 2, "primaryip": IP, "created": "2024-03-01", "status": "active"},
    # one domain on two accounts: a conflict, never acted on
    account("twice15.test", "twice15a", "basic"),
    account("twice15.test", "twice15b", "basic"),
]

print(json.dumps({"success": True, "accounts": accounts}))
