"""Malformed requests get AWS-shaped errors, never a 500 or a traceback.

The app runs in process (Starlette's TestClient) over a real SQLite store: random form bodies,
signed with botocore's SigV4 so that they pass authentication and reach the Query parser, and
unsigned or broken requests that must stop before it. Every answer must parse with botocore's
own Query error parser, with a status from AWS's table.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from urllib.parse import urlencode

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.parsers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tokenbench.verifier.http.app import MAX_BODY_BYTES, build_app
from tokenbench.verifier.seeds import SeedCipher
from tokenbench.verifier.service import MovableClock, Service, build_service
from tokenbench.verifier.store import Store

HOST = "testserver"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
ACTIONS = ["CreateUser", "EnableMFADevice", "GetSessionToken", "TagMFADevice", "ListUsers",
           "CreateVirtualMFADevice", "AssumeRole", "Bogus", ""]  # fmt: skip
FIELDS = ["Action", "Version", "UserName", "SerialNumber", "AuthenticationCode1",
          "AuthenticationCode2", "Tags.member.1.Key", "Tags.member.1.Value", "TokenCode",
          "DurationSeconds", "MaxItems", "Marker", "VirtualMFADeviceName", "RoleArn"]  # fmt: skip


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    store = Store.open(str(tmp_path_factory.mktemp("malformed") / "iam.db"))
    built = build_service(store, SeedCipher(secrets.token_bytes(32)), MovableClock())
    yield built
    built.close()


@pytest.fixture(scope="module")
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(build_app(service), raise_server_exceptions=True) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def admin_key(service: Service) -> tuple[str, str]:
    created = service.access_keys.ensure_admin_key()
    assert created is not None
    return created


def signed_post(
    client: TestClient, key: tuple[str, str], body: bytes, service_name: str = "iam"
) -> object:
    request = botocore.awsrequest.AWSRequest(
        method="POST", url=f"http://{HOST}/", data=body, headers={"Content-Type": FORM}
    )
    botocore.auth.SigV4Auth(
        botocore.credentials.Credentials(*key), service_name, "us-east-1"
    ).add_auth(request)
    return client.post("/", content=body, headers=dict(request.headers))


def assert_aws_error(answer: object, *, allow_success: bool = False) -> None:
    status = answer.status_code  # type: ignore[attr-defined]
    body = answer.content  # type: ignore[attr-defined]
    assert status != 500 or b"InternalFailure" in body, body
    assert b"Traceback" not in body
    if status == 200 and allow_success:
        return
    assert 400 <= status < 500, (status, body)
    parsed = botocore.parsers.QueryParser().parse(
        {"status_code": status, "headers": {}, "body": body}, None
    )
    assert parsed["Error"]["Code"], body
    assert "\n" not in parsed["Error"]["Message"]


form_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(ACTIONS),
    st.sampled_from(["2010-05-08", "2011-06-15", "", "x"]),
    st.from_regex(r"[0-9]{0,9}", fullmatch=True),
)
forms = st.lists(st.tuples(st.sampled_from(FIELDS), form_values), max_size=12)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pairs=forms, sts=st.booleans())
def test_random_signed_forms_answer_aws_errors(
    client: TestClient, admin_key: tuple[str, str], pairs: list[tuple[str, str]], sts: bool
) -> None:
    answer = signed_post(client, admin_key, urlencode(pairs).encode(), "sts" if sts else "iam")
    assert_aws_error(answer, allow_success=True)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=300))
def test_random_signed_bytes_answer_aws_errors(
    client: TestClient, admin_key: tuple[str, str], body: bytes
) -> None:
    assert_aws_error(signed_post(client, admin_key, body), allow_success=True)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=200), auth=st.text(max_size=120))
def test_random_unsigned_requests_are_refused(client: TestClient, body: bytes, auth: str) -> None:
    headers = {"Content-Type": FORM}
    if auth.isprintable() and auth.isascii():
        headers["Authorization"] = auth
    answer = client.post("/", content=body, headers=headers)
    assert_aws_error(answer)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"Action=ListUsers&Version=2010-05-08&Version=2010-05-08", "InvalidQueryParameter"),
        (b"Action=ListUsers&Version=2010-05-08&MaxItems=abc", "ValidationError"),
        (b"Version=2010-05-08", "MissingAction"),
        (b"Action=Nope&Version=2010-05-08", "InvalidAction"),
        (b"Action=ListUsers&Version=%ff", "MalformedQueryString"),
        (b"Action=ListUsers&Version=2010-05-08&UserName=\xff", "MalformedQueryString"),
        (b"Action=EnableMFADevice&Version=2010-05-08&UserName=a&SerialNumber=arn:aws:iam::1:mfa/x"
         b"&AuthenticationCode1=12345678&AuthenticationCode2=1234567", "ValidationError"),
    ],
    ids=["duplicate", "not-a-number", "no-action", "unknown-action", "bad-escape", "not-utf8",
         "eight-digit-code"],
)  # fmt: skip
def test_named_malformations(
    client: TestClient, admin_key: tuple[str, str], body: bytes, code: str
) -> None:
    answer = signed_post(client, admin_key, body)
    assert_aws_error(answer)
    assert f"<Code>{code}</Code>".encode() in answer.content  # type: ignore[attr-defined]


def test_oversized_body_is_refused_before_reading(client: TestClient) -> None:
    body = b"Action=ListUsers&" + b"x" * (MAX_BODY_BYTES + 1)
    answer = client.post("/", content=body, headers={"Content-Type": FORM})
    assert answer.status_code == 413
    assert b"RequestEntityTooLarge" in answer.content


def test_no_authentication_is_missing_token(client: TestClient) -> None:
    answer = client.post("/", content=b"Action=ListUsers&Version=2010-05-08")
    assert_aws_error(answer)
    assert b"<Code>MissingAuthenticationToken</Code>" in answer.content


def test_a_bug_is_internal_failure_without_traceback(
    client: TestClient,
    admin_key: tuple[str, str],
    service: Service,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(**_kwargs: object) -> dict[str, object]:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(service.iam, "list_users", broken)
    answer = signed_post(client, admin_key, b"Action=ListUsers&Version=2010-05-08")
    assert answer.status_code == 500  # type: ignore[attr-defined]
    assert b"<Code>InternalFailure</Code>" in answer.content  # type: ignore[attr-defined]
    assert b"secret detail" not in answer.content  # type: ignore[attr-defined]
