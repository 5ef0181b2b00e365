"""Calls Crowsnest's Security Center operations through the official alibabacloud_sas20181203
SDK, unchanged, and prints what the SDK parsed as one JSON document on stdout.

Environment: CROWSNEST_ENDPOINT (host:port), AK and SK (the key to use; may be empty for the
"missing key" run). The Rust test (tests/sdk.rs) checks the output.
"""

import json
import os
import sys

from alibabacloud_sas20181203 import models as sas_models
from alibabacloud_sas20181203.client import Client
from alibabacloud_tea_openapi.models import Config
from alibabacloud_tea_util.models import RuntimeOptions


def client(signature_algorithm=None):
    config = Config(
        access_key_id=os.environ["AK"],
        access_key_secret=os.environ["SK"],
        endpoint=os.environ["CROWSNEST_ENDPOINT"],
        protocol="http",
        region_id="cn-hangzhou",
    )
    if signature_algorithm:
        config.signature_algorithm = signature_algorithm
    return Client(config)


def call(fn):
    """The parsed body, or the SDK exception's code and status."""
    try:
        return {"ok": fn().body.to_map()}
    except Exception as e:  # the SDK raises its own exception types
        return {
            "error": {
                "type": type(e).__name__,
                "code": getattr(e, "code", None),
                "status": getattr(e, "status_code", None) or getattr(e, "statusCode", None),
                "message": str(getattr(e, "message", e)),
                "request_id": getattr(e, "request_id", None),
            }
        }


def main():
    out = {}
    runtime = RuntimeOptions(autoretry=False, max_attempts=0)
    for name, algorithm in [("acs3", None), ("rpc", "v2")]:
        c = client(algorithm)
        out[name] = {
            "describe_default": call(lambda: c.describe_image_instances_with_options(
                sas_models.DescribeImageInstancesRequest(), runtime)),
            "describe_filtered": call(lambda: c.describe_image_instances_with_options(
                sas_models.DescribeImageInstancesRequest(
                    criteria=json.dumps([{"name": "repoName", "value": "web", "logicalExp": "AND"}]),
                    scanned=True,
                    page_size=1,
                    current_page=2,
                ), runtime)),
            "describe_bad_page": call(lambda: c.describe_image_instances_with_options(
                sas_models.DescribeImageInstancesRequest(page_size=1000), runtime)),
            "criteria": call(lambda: c.describe_image_criteria_with_options(
                sas_models.DescribeImageCriteriaRequest(value="repo"), runtime)),
            "pre_check": call(lambda: c.public_pre_check_image_scan_task_with_options(
                sas_models.PublicPreCheckImageScanTaskRequest(repo_names="web_app,Nginx"), runtime)),
            "create": call(lambda: c.public_create_image_scan_task_with_options(
                sas_models.PublicCreateImageScanTaskRequest(tags="1.0", source_ip="10.1.2.3"), runtime)),
            "create_empty": call(lambda: c.public_create_image_scan_task_with_options(
                sas_models.PublicCreateImageScanTaskRequest(tags="no-such-tag"), runtime)),
        }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
