"""Calls Crowsnest's ECS DescribeImages through the official alibabacloud_ecs20140526 SDK,
unchanged, and prints what the SDK parsed as one JSON document on stdout.

Environment: CROWSNEST_ENDPOINT (host:port), AK and SK. The Rust test (tests/sdk.rs) checks
the output.
"""

import json
import os
import sys

from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client
from alibabacloud_tea_openapi.models import Config
from alibabacloud_tea_util.models import RuntimeOptions


def call(fn):
    try:
        return {"ok": fn().body.to_map()}
    except Exception as e:  # the SDK raises its own exception types
        return {
            "error": {
                "type": type(e).__name__,
                "code": getattr(e, "code", None),
                "status": getattr(e, "status_code", None),
                "message": str(getattr(e, "message", e)),
            }
        }


def main():
    client = Client(Config(
        access_key_id=os.environ["AK"],
        access_key_secret=os.environ["SK"],
        endpoint=os.environ["CROWSNEST_ENDPOINT"],
        protocol="http",
        region_id="cn-hangzhou",
    ))
    runtime = RuntimeOptions(autoretry=False, max_attempts=0)
    request = ecs_models.DescribeImagesRequest
    tag = ecs_models.DescribeImagesRequestTag
    flt = ecs_models.DescribeImagesRequestFilter
    out = {
        "default": call(lambda: client.describe_images_with_options(
            request(region_id="cn-hangzhou"), runtime)),
        "tagged": call(lambda: client.describe_images_with_options(request(
            region_id="cn-hangzhou",
            image_owner_alias="self",
            tag=[tag(key="env", value="prod")],
            filter=[flt(key="CreationStartTime", value="2024-05-01T00:00Z")],
            page_size=5,
        ), runtime)),
        "bad_alias": call(lambda: client.describe_images_with_options(
            request(region_id="cn-hangzhou", image_owner_alias="mine"), runtime)),
        "dry_run": call(lambda: client.describe_images_with_options(
            request(region_id="cn-hangzhou", dry_run=True), runtime)),
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
