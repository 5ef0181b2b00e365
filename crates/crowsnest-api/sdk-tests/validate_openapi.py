"""Checks the native API's OpenAPI document (argv[1]) with openapi-spec-validator, then checks
every response the Rust test captured (argv[2]: a JSON list of {method, path, status, body},
path as the document spells it) against the document: the status must be documented for that
operation and the body must match the schema given for it (JSON Schema 2020-12, as OpenAPI 3.1
says). Prints {"checked": N, "errors": [...]}."""

import json
import sys

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

with open(sys.argv[1]) as f:
    doc = json.load(f)
with open(sys.argv[2]) as f:
    samples = json.load(f)

validate(doc)


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        target = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


errors = []
checked = 0
for s in samples:
    where = f'{s["method"].upper()} {s["path"]} -> {s["status"]}'
    op = doc["paths"].get(s["path"], {}).get(s["method"])
    if op is None:
        errors.append(f"{where}: operation not documented")
        continue
    response = op["responses"].get(str(s["status"]))
    if response is None:
        errors.append(f"{where}: status not documented")
        continue
    content = resolve(response).get("content")
    if content is None:
        if s["body"] is not None:
            errors.append(f"{where}: documented without a body, but one was sent")
        checked += 1
        continue
    # The schema is checked with the whole document as its root, so its "#/components/..."
    # references resolve; the document's other keys are not JSON Schema keywords and are ignored.
    schema = dict(doc)
    schema.update(content["application/json"]["schema"])
    for e in Draft202012Validator(schema).iter_errors(s["body"]):
        errors.append(f"{where}: {e.message} at {list(e.absolute_path)}")
    checked += 1

print(json.dumps({"checked": checked, "errors": errors}))
