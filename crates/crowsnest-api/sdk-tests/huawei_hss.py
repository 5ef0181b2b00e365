"""Calls Crowsnest's HSS image operations (ListRegistryImages, and ListLocalImages, which the
SDK names list_image_local) through the official huaweicloudsdkhss SDK, unchanged,
and prints what the SDK parsed as one JSON document on stdout.

Environment: CROWSNEST_ENDPOINT (host:port), AK, SK and PROJECT_ID. The Rust test
(tests/sdk.rs) checks the output.
"""

import json
import os
import sys

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkhss.v5 import HssClient, ListImageLocalRequest, ListRegistryImagesRequest


def call(fn):
    try:
        return {"ok": fn().to_dict()}
    except Exception as e:  # the SDK raises its own exception types
        return {
            "error": {
                "type": type(e).__name__,
                "status": getattr(e, "status_code", None),
                "code": getattr(e, "error_code", None),
                "message": getattr(e, "error_msg", str(e)),
                "request_id": getattr(e, "request_id", None),
            }
        }


def make_client():
    config = HttpConfig.get_default_config()
    credentials = BasicCredentials(os.environ["AK"], os.environ["SK"], os.environ["PROJECT_ID"])
    return (
        HssClient.new_builder()
        .with_http_config(config)
        .with_credentials(credentials)
        .with_endpoints(["http://" + os.environ["CROWSNEST_ENDPOINT"]])
        .build()
    )


def main():
    try:
        client = make_client()
    except Exception as e:  # a missing key fails while building the client
        err = {"error": {"type": type(e).__name__, "status": None, "code": None, "message": str(e)}}
        json.dump({"registry_default": err}, sys.stdout)
        return
    out = {
        "registry_default": call(lambda: client.list_registry_images(ListRegistryImagesRequest())),
        "registry_filtered": call(lambda: client.list_registry_images(ListRegistryImagesRequest(
            enterprise_project_id="all_granted_eps",
            image_name="busybox",
            is_multarch=True,
            sort_key="latest_scan_time",
            sort_dir="desc",
            limit=50,
        ))),
        "registry_bad_limit": call(lambda: client.list_registry_images(ListRegistryImagesRequest(limit=500))),
        "local_default": call(lambda: client.list_image_local(ListImageLocalRequest())),
        "local_filtered": call(lambda: client.list_image_local(ListImageLocalRequest(
            image_name="ngi", has_vul=True, limit=20))),
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
