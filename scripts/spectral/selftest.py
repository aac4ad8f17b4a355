#!/usr/bin/env python3
"""Self-test for .spectral.yaml: prove each house rule passes a clean spec and
catches each violation it exists for.

Why: a Spectral rule with a wrong JSONPath or a custom function that fails to
load reports nothing, which looks exactly like a clean spec. This builds one
clean spec plus one mutated copy per violation, lints them all in a single
Spectral run, and checks that each copy trips exactly the expected rules.

Usage: python3 scripts/spectral/selftest.py   (needs node_modules; see scripts/lint.sh)
"""

import copy
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ERR_REF = {"$ref": "#/components/schemas/Error"}

GOOD = {
    "openapi": "3.0.3",
    "info": {
        "title": "Throwaway",
        "version": "1.0.0",
        "description": "A tiny spec for testing the house rules.",
        "contact": {"name": "Team", "url": "https://example.org/contact", "email": "team@example.org"},
        "license": {"name": "Proprietary", "url": "https://example.org/license"},
    },
    "servers": [{"url": "https://api.example.org/api/v1"}],
    "tags": [{"name": "Leads", "description": "Leads."}],
    "security": [{"bearer": []}],
    "paths": {
        "/leads/{id}": {
            "get": {
                "operationId": "getLead",
                "tags": ["Leads"],
                "summary": "Get a lead",
                "description": "Returns one lead.",
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "description": "Lead id.",
                        "schema": {"type": "integer", "minimum": 1},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The lead.",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Lead"},
                                "example": {"id": 1, "phone": "+5511999999999"},
                            }
                        },
                    },
                    "404": {"$ref": "#/components/responses/NotFound"},
                    "500": {
                        "description": "Server error.",
                        "content": {"application/json": {"schema": dict(ERR_REF)}},
                    },
                    "503": {
                        "description": "Unavailable.",
                        "content": {"application/json": {"schema": dict(ERR_REF)}},
                    },
                },
            }
        }
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "responses": {
            "NotFound": {
                "description": "Not found.",
                "content": {
                    "application/json": {
                        "schema": dict(ERR_REF),
                        "example": {"error": {"code": "not_found", "message": "Not found."}},
                    }
                },
            }
        },
        "schemas": {
            "Lead": {
                "type": "object",
                "required": ["id", "phone"],
                "properties": {
                    "id": {"type": "integer", "example": 1},
                    "phone": {
                        "type": "string",
                        "pattern": "^\\+[1-9][0-9]{7,14}$",
                        "x-pattern-message": {"en": "must be an E.164 number", "pt-BR": "deve ser um número E.164"},
                        "example": "+5511999999999",
                    },
                },
            },
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string", "example": "not_found"},
                            "message": {"type": "string", "example": "Not found."},
                        },
                    }
                },
            },
        },
    },
}


def op(d):
    return d["paths"]["/leads/{id}"]["get"]


def resp(d):
    return op(d)["responses"]


def comp(d):
    return d["components"]


def m_no_operation_id(d):
    del op(d)["operationId"]


def m_blank_operation_id(d):
    op(d)["operationId"] = "  "


def m_no_tags(d):
    del op(d)["tags"]


def m_empty_tags(d):
    op(d)["tags"] = []


def m_no_description(d):
    del op(d)["description"]


def m_blank_description(d):
    op(d)["description"] = " \n"


def m_component_inline_lookalike(d):
    # Same shape as Error, but copied inline instead of referenced.
    comp(d)["responses"]["NotFound"]["content"]["application/json"]["schema"] = copy.deepcopy(
        comp(d)["schemas"]["Error"]
    )


def m_inline_wrong_schema(d):
    resp(d)["500"]["content"]["application/json"]["schema"] = {"$ref": "#/components/schemas/Lead"}


def m_component_text_plain(d):
    c = comp(d)["responses"]["NotFound"]
    c["content"] = {"text/plain": {"schema": {"type": "string"}}}


def m_no_content(d):
    resp(d)["400"] = {"description": "Bad request."}


def m_chained_ref_bad(d):
    # 404 -> NotFound -> Gone, and Gone is not an Error response.
    comp(d)["responses"]["Gone"] = {"description": "Gone.", "content": {"application/json": {"schema": {"type": "object"}}}}
    comp(d)["responses"]["NotFound"] = {"$ref": "#/components/responses/Gone"}


def m_default_bad(d):
    resp(d)["default"] = {"description": "Other error.", "content": {"application/json": {"schema": {"type": "object"}}}}


def m_range_bad(d):
    resp(d)["4XX"] = {"description": "Client error.", "content": {"application/json": {"schema": {"type": "object"}}}}


def m_error_schema_broken(d):
    # The name is right but the envelope is not: `message` is no longer required.
    comp(d)["schemas"]["Error"]["properties"]["error"]["required"] = ["code"]


def m_error_schema_no_envelope(d):
    e = comp(d)["schemas"]["Error"]
    e["required"] = ["code", "message"]
    e["properties"] = {"code": {"type": "string"}, "message": {"type": "string"}}
    # Keep the example on NotFound valid so only the envelope rule fires.
    comp(d)["responses"]["NotFound"]["content"]["application/json"]["example"] = {"code": "x", "message": "y"}


def m_bad_media_example(d):
    resp(d)["200"]["content"]["application/json"]["example"] = {"id": "one", "phone": "+5511999999999"}


def m_bad_schema_example(d):
    comp(d)["schemas"]["Lead"]["properties"]["id"]["example"] = "one"


def phone(d):
    return comp(d)["schemas"]["Lead"]["properties"]["phone"]


def m_pattern_message_string(d):
    # The old form: English only.
    phone(d)["x-pattern-message"] = "must be an E.164 number"


def m_pattern_message_no_portuguese(d):
    del phone(d)["x-pattern-message"]["pt-BR"]


def m_pattern_message_blank(d):
    phone(d)["x-pattern-message"]["pt-BR"] = " "


def post_op(params):
    o = {
        "operationId": "createLead",
        "tags": ["Leads"],
        "summary": "Create a lead",
        "description": "Creates a lead.",
        "responses": {
            "201": {"description": "Created.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Lead"},
                                                                               "example": {"id": 1, "phone": "+5511999999999"}}}},
            "503": {"description": "Unavailable.", "content": {"application/json": {"schema": dict(ERR_REF)}}},
        },
    }
    if params is not None:
        o["parameters"] = params
    return o


def m_post_with_key(d):
    comp(d)["parameters"] = {
        "IdempotencyKey": {
            "name": "Idempotency-Key",
            "in": "header",
            "description": "Makes a retry safe.",
            "schema": {"type": "string", "maxLength": 255},
        }
    }
    d["paths"]["/leads"] = {"post": post_op([{"$ref": "#/components/parameters/IdempotencyKey"}])}


def m_post_without_key(d):
    d["paths"]["/leads"] = {"post": post_op(None)}


def m_post_other_params(d):
    d["paths"]["/leads"] = {"post": post_op([{"name": "dry_run", "in": "query", "description": "Try.", "schema": {"type": "boolean"}}])}


def m_no_503(d):
    del resp(d)["503"]


def m_warning_only(d):
    # Only a warning-level finding (info-contact); must still fail the run.
    del d["info"]["contact"]


# name -> (mutation, the exact set of rule codes it must trip). Exact, so a
# case proves the violation is caught by the rule meant for it and not only by
# accident through another one.
CASES = {
    "good": (None, set()),
    "no_operation_id": (m_no_operation_id, {"operation-operationId", "iagente-operation-id"}),
    "blank_operation_id": (m_blank_operation_id, {"iagente-operation-id", "operation-operationId-valid-in-url"}),
    "no_tags": (m_no_tags, {"operation-tags", "iagente-operation-tags"}),
    "empty_tags": (m_empty_tags, {"iagente-operation-tags", "operation-tags"}),
    "no_description": (m_no_description, {"operation-description", "iagente-operation-description"}),
    "blank_description": (m_blank_description, {"iagente-operation-description"}),
    "component_inline_lookalike": (m_component_inline_lookalike, {"iagente-error-response-uses-error-schema"}),
    "inline_wrong_schema": (
        m_inline_wrong_schema,
        {"iagente-error-response-uses-error-schema", "iagente-error-response-envelope"},
    ),
    "component_text_plain": (
        m_component_text_plain,
        {"iagente-error-response-uses-error-schema", "iagente-error-response-envelope"},
    ),
    "no_content": (m_no_content, {"iagente-error-response-uses-error-schema", "iagente-error-response-envelope"}),
    "chained_ref_bad": (
        m_chained_ref_bad,
        {"iagente-error-response-uses-error-schema", "iagente-error-response-envelope"},
    ),
    "default_bad": (m_default_bad, {"iagente-error-response-uses-error-schema", "iagente-error-response-envelope"}),
    "range_4XX_bad": (m_range_bad, {"iagente-error-response-uses-error-schema", "iagente-error-response-envelope"}),
    "error_schema_broken": (m_error_schema_broken, {"iagente-error-response-envelope"}),
    "error_schema_no_envelope": (m_error_schema_no_envelope, {"iagente-error-response-envelope"}),
    "bad_media_example": (m_bad_media_example, {"oas3-valid-media-example"}),
    "bad_schema_example": (m_bad_schema_example, {"oas3-valid-schema-example"}),
    "pattern_message_string": (m_pattern_message_string, {"iagente-pattern-message-languages"}),
    "pattern_message_no_pt": (m_pattern_message_no_portuguese, {"iagente-pattern-message-languages"}),
    "pattern_message_blank": (m_pattern_message_blank, {"iagente-pattern-message-languages"}),
    "warning_only": (m_warning_only, {"info-contact"}),
    "post_with_key": (m_post_with_key, set()),
    "post_without_key": (m_post_without_key, {"iagente-post-idempotency-key"}),
    "post_other_params": (m_post_other_params, {"iagente-post-idempotency-key"}),
    "no_503": (m_no_503, {"iagente-operation-503"}),
}

# Rules that must report at severity error (0), not merely warn.
MUST_BE_ERROR = {
    "operation-operationId",
    "operation-tags",
    "operation-description",
    "oas3-valid-media-example",
    "oas3-valid-schema-example",
    "iagente-operation-id",
    "iagente-operation-tags",
    "iagente-operation-description",
    "iagente-error-response-uses-error-schema",
    "iagente-error-response-envelope",
    "iagente-pattern-message-languages",
    "iagente-post-idempotency-key",
    "iagente-operation-503",
}


def main():
    failures = []
    checks_run = 0
    with tempfile.TemporaryDirectory(prefix="iagente-spectral-") as tmp:
        files = {}
        for name, (mutate, _) in CASES.items():
            doc = copy.deepcopy(GOOD)
            if mutate:
                mutate(doc)
            path = os.path.join(tmp, name + ".json")
            with open(path, "w") as f:
                json.dump(doc, f, indent=2)
            files[path] = name
        out = os.path.join(tmp, "results.json")
        proc = subprocess.run(
            [os.path.join(ROOT, "node_modules", ".bin", "spectral"), "lint", "-q", "-r", os.path.join(ROOT, ".spectral.yaml"),
             "-f", "json", "-o", out, "--fail-severity=warn", *files],
            cwd=ROOT,
        )
        if not os.path.exists(out):
            print("spectral produced no results file (exit %d)" % proc.returncode)
            return 1
        with open(out) as f:
            results = json.load(f)

        found = {name: {} for name in CASES}
        for r in results:
            name = files.get(os.path.realpath(r["source"])) or files.get(r["source"])
            if name is None:
                failures.append("result for unexpected source %r: %s" % (r["source"], r["code"]))
                continue
            found[name].setdefault(r["code"], set()).add(r["severity"])

        for name, (_, expected) in CASES.items():
            got = set(found[name])
            status = "ok"
            if got != expected:
                status = "FAIL"
                failures.append("%s: expected %s, got %s" % (name, sorted(expected), sorted(got)))
            for code in got & MUST_BE_ERROR:
                if found[name][code] != {0}:
                    status = "FAIL"
                    failures.append("%s: %s reported at severity %s, want error" % (name, code, found[name][code]))
            checks_run += 1
            print("%-28s %-4s %s" % (name, status, ", ".join(sorted(got)) or "(clean)"))

        # Exit status: findings (any of our cases has some) must fail the run.
        if proc.returncode == 0:
            failures.append("spectral exited 0 although violations were reported")

        # A clean file alone must pass with --fail-severity=warn.
        good_path = [p for p, n in files.items() if n == "good"][0]
        clean = subprocess.run(
            [os.path.join(ROOT, "node_modules", ".bin", "spectral"), "lint", "-q", "-r", os.path.join(ROOT, ".spectral.yaml"),
             "--fail-severity=warn", good_path],
            cwd=ROOT, capture_output=True, text=True,
        )
        checks_run += 2
        if clean.returncode != 0:
            failures.append("clean spec failed lint: %s%s" % (clean.stdout, clean.stderr))
        warn_path = [p for p, n in files.items() if n == "warning_only"][0]
        warn = subprocess.run(
            [os.path.join(ROOT, "node_modules", ".bin", "spectral"), "lint", "-q", "-r", os.path.join(ROOT, ".spectral.yaml"),
             "--fail-severity=warn", warn_path],
            cwd=ROOT, capture_output=True, text=True,
        )
        if warn.returncode == 0:
            failures.append("a warning-only spec passed with --fail-severity=warn")

    failed_checks = min(len(failures), checks_run)
    print("%d passed, %d failed" % (checks_run - failed_checks, failed_checks))
    for f in failures:
        print("  " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
