#!/usr/bin/env python3
"""Pre-signs DescribeImageInstances requests for scripts/wrk/image-instances.lua.

wrk's Lua cannot compute HMAC-SHA1, and every Alibaba request needs a fresh SignatureNonce (the
server refuses a replay), so the load test signs COUNT requests up front, one `path?query` per
line, each with its own nonce, rotating through the Criteria below. The signature is Alibaba's
RPC scheme (SignatureVersion 1.0), as crates/crowsnest-api/src/auth/alibaba.rs checks it.

    sign_alibaba.py ACCESS_KEY_ID ACCESS_KEY_SECRET COUNT > signed.txt
"""
import base64
import datetime
import hashlib
import hmac
import json
import sys
import urllib.parse
import uuid

# The seed names repositories app-<registry>-<n> in namespaces team-<n % 20>.
CRITERIA = [
    ({}, "1"),
    ({"Criteria": json.dumps([{"name": "repoNamespace", "value": "team-7"}])}, "1"),
    ({"Criteria": json.dumps([{"name": "repoName", "value": "app-1-42"}])}, "1"),
    ({"Criteria": json.dumps([{"name": "scaStatus", "value": "SUCCESS"}])}, "1"),
    ({"Criteria": json.dumps([{"name": "riskStatus", "value": "YES"}])}, "1"),
    ({"Criteria": json.dumps([{"name": "vulStatus", "value": "NO"}])}, "1"),
    ({"Scanned": "false"}, "1"),
    ({"Criteria": json.dumps([{"name": "registryType", "value": "harbor"},
                              {"name": "regionId", "value": "cn-north-4"}])}, "1"),
    ({"Criteria": json.dumps([{"name": "repoNamespace", "value": "team-3"}])}, "50"),
    ({}, "5000"),
]


def encode(s):
    return urllib.parse.quote(s, safe="-_.~")


def sign(key_id, secret, params):
    params = dict(params)
    params.update({
        "Action": "DescribeImageInstances",
        "Version": "2018-12-03",
        "Format": "JSON",
        "AccessKeyId": key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": uuid.uuid4().hex,
        "Timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    })
    canonical = "&".join(f"{encode(k)}={encode(v)}" for k, v in sorted(params.items()))
    to_sign = "GET&%2F&" + encode(canonical)
    digest = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    signature = base64.b64encode(digest).decode()
    return "/?" + canonical + "&Signature=" + encode(signature)


def main():
    key_id, secret, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out = sys.stdout
    for n in range(count):
        extra, page = CRITERIA[n % len(CRITERIA)]
        params = dict(extra, PageSize="20", CurrentPage=page)
        out.write(sign(key_id, secret, params) + "\n")


if __name__ == "__main__":
    main()
