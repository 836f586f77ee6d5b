"""What botocore would send and how botocore reads what we answer (conftest puts this folder
on sys.path)."""

from __future__ import annotations

from typing import Any

from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from botocore.utils import percent_encode_sequence

from tokenbench.verifier.http.aws_model import QueryError, ServiceModel
from tokenbench.verifier.http.query_wire import parse_form_body, parse_query

IAM_ACCOUNT = "123456789012"
SERIAL = f"arn:aws:iam::{IAM_ACCOUNT}:mfa/alice-phone"
REQUEST_ID = "4c0bb4b1-2c3c-4b4c-8a3e-6a8d9f2f0c11"


def botocore_body(model: ServiceModel, operation: str, params: dict[str, Any]) -> bytes:
    """The form body boto3 sends for `operation(**params)`, without botocore's own checks
    (so that ours can be tested with what a client that skips them sends)."""
    operation_model = model.botocore_model.operation_model(operation)
    request = create_serializer("query", False).serialize_to_request(params, operation_model)
    return percent_encode_sequence(request["body"]).encode("ascii")


def parse_body(model: ServiceModel, body: bytes) -> tuple[str, dict[str, Any]]:
    return parse_query(model, parse_form_body(body))


def refusal(model: ServiceModel, body: bytes) -> QueryError:
    """The QueryError a body is refused with (fails the test if it is accepted)."""
    try:
        accepted = parse_body(model, body)
    except QueryError as error:
        return error
    raise AssertionError(f"accepted: {accepted}")


def botocore_reads(model: ServiceModel, operation: str, xml: bytes, status: int = 200) -> Any:
    """What boto3 makes of our answer (a result dict, or {"Error": ...} for status >= 300)."""
    shape = model.botocore_model.operation_model(operation).output_shape
    response = {"status_code": status, "headers": {}, "body": xml}
    return create_parser("query").parse(response, shape)
