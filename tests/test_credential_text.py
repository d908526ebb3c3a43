"""Credential-shaped text in an upstream's error message is masked before it is shown, and a
shortened text is scrubbed before it is cut."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataflow_exporter import credential_text, known_secrets
from dataflow_exporter.known_secrets import MASK

LEAKS = [
    ("jdbc:postgresql://etl:Hunter2pw@db:5432/app failed", "Hunter2pw"),
    ("jdbc:sqlserver://db:1433;user=sa;password=Pa55w0rd!;encrypt=true", "Pa55w0rd!"),
    ("mysql://app:s3cret-pw@mysql/app?ssl=true", "s3cret-pw"),
    ("connect failed: password=letmein123 host=db", "letmein123"),
    ('login rejected {"user": "x", "password": "quoted pw here"}', "quoted pw here"),
    ("GET /x?token=tok-abcdef123&page=2 answered 401", "tok-abcdef123"),
    ("api_key: AKIAEXAMPLEKEY rejected", "AKIAEXAMPLEKEY"),
    ("request headers: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "eyJhbGciOiJIUzI1NiJ9"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA== was refused", "dXNlcjpwYXNzd29yZA=="),
    ("https://admin@internal.example/api denied", "admin"),
    # Shapes third parties echo (issue 21).
    ("ORA-01017: jdbc:oracle:thin:scott/Tiger9x@//ora:1521/XE", "Tiger9x"),
    ("ORA-01017: jdbc:oracle:thin:scott/Tiger9x@ora:1521:XE", "Tiger9x"),
    ("config: dbPassword=Db-Pw-42 rejected", "Db-Pw-42"),
    ('{"accessToken":"at-0123456789"}', "at-0123456789"),
    ("clientSecret: cs-abcdef", "cs-abcdef"),
    ("secretKey=sk-98765 region=eu", "sk-98765"),
    ("Driver={ODBC};Server=db;UID=sa;PWD=odbc-pw-1;", "odbc-pw-1"),
    ("Server=db;User Id=sa;Password=Ado-Pw-2;", "Ado-Pw-2"),
    ("env: PGPASSWORD=pg-env-pw psql failed", "pg-env-pw"),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCY"),
    ("DefaultEndpointsProtocol=https;AccountName=acc;AccountKey=azK3y+/ab==;", "azK3y+/ab=="),
    ("Endpoint=sb://ns/;SharedAccessKeyName=Root;SharedAccessKey=sasK3y=", "sasK3y="),
    ("basic.auth.user.info=SRKEY:SRSECRET-1 refused", "SRSECRET-1"),
    ("X-API-Key: xak-123456 not accepted", "xak-123456"),
    (
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username=\\"u\\" password=\\"jaas pw 1\\";',
        "jaas pw 1",
    ),
    ('{\\"password\\": \\"esc aped pw\\"}', "esc aped pw"),
    (
        "key: -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nQ2xvdWQ=\n"
        "-----END RSA PRIVATE KEY----- rejected",
        "MIIEowIBAAKCAQEA7",
    ),
    ("cut short -----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkq", "MIIEvQIBADANBgkq"),
    ("rejected eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJldGwifQ.c2lnbmF0dXJl", "eyJzdWIiOiJldGwifQ"),
    ("postgres://etl:pa/ss/w0rd@db:5432/app", "pa/ss/w0rd"),
    ("upstream said: bearer abcDEF123456 was rejected", "abcDEF123456"),
    ("Password=CaseIs-Ignored1", "CaseIs-Ignored1"),
    ("sent Bearer Tok-Abc-123 and failed", "Tok-Abc-123"),
    ("request Cookie: theme=dark; session=Sess-Id-77 rejected", "Sess-Id-77"),
    ("Set-Cookie: JSESSIONID=Jsess-88; Path=/; HttpOnly", "Jsess-88"),
    ("<user>etl</user><password>Xml Pw 99</password>", "Xml Pw 99"),
    ("<ns:clientSecret>Ns-Secret-5</ns:clientSecret>", "Ns-Secret-5"),
    ("password='unterminated quote to the end", "unterminated quote to the end"),
]


@pytest.mark.parametrize(("text", "secret"), LEAKS)
def test_credential_shaped_text_is_masked(text: str, secret: str) -> None:
    shown = credential_text.scrub(text)
    assert secret not in shown
    assert MASK in shown


@pytest.mark.parametrize(
    "text",
    [
        "Kafka error: Broker: Unknown topic or partition",
        "java.sql.SQLTransientConnectionException: Connection is not available, "
        "request timed out after 30000ms.",
        "FATAL error on input endpoint 'stock_levels.kafka_in': token expired",
        "see https://docs.example.com/errors#auth for details",
        # Counts, names and ordinary keys are not credentials.
        "tokens_total=5 max_tokens=4096 token_count=3",
        "partition_key=3 primary_key=id key=orders-17 keyspace=app",
        "password_file=/run/secrets/pw secret_name=db-creds aws_access_key_id=AKIA1",
        "HTTP Basic authentication failed; bearer authorization required",
        "tokenizer=bert monkey=1 bypass=yes",
        "<count>5</count><token_count>7</token_count> cookie monster",
    ],
)
def test_ordinary_error_text_is_left_as_the_upstream_wrote_it(text: str) -> None:
    assert credential_text.scrub(text) == text


def test_a_quoted_value_keeps_its_quotes_around_the_mask() -> None:
    assert credential_text.scrub('{"password": "pw 1"}') == f'{{"password": "{MASK}"}}'
    assert credential_text.scrub('{\\"token\\":\\"t-1\\"}') == f'{{\\"token\\":\\"{MASK}\\"}}'


def test_the_name_of_a_url_credential_stays_and_only_the_userinfo_goes() -> None:
    assert credential_text.scrub("jdbc:oracle:thin:scott/tiger@//ora:1521/XE") == (
        f"jdbc:oracle:thin:{MASK}@//ora:1521/XE"
    )
    assert credential_text.scrub("a postgres://u:p/w@db/x b") == f"a postgres://{MASK}@db/x b"


def test_a_bare_bearer_credential_is_masked() -> None:
    assert credential_text.scrub("sent bearer abcDEF123456 twice") == f"sent bearer {MASK} twice"


def test_credential_names_match_in_any_letter_case() -> None:
    for name in ("Password", "PASSWORD", "PWD", "pWd", "Token", "APIKEY", "ClientSecret"):
        assert credential_text.scrub(f"{name}=v-123456;") == f"{name}={MASK};", name


def test_secrets_the_process_knows_are_masked_too() -> None:
    known_secrets.register("plain-known-secret")
    assert credential_text.scrub("echoed plain-known-secret back") == f"echoed {MASK} back"


def test_scrubbing_twice_changes_nothing_more() -> None:
    for text, _ in LEAKS:
        once = credential_text.scrub(text)
        assert credential_text.scrub(once) == once


# --- shorten: scrub, then cut --------------------------------------------------------------------


def test_a_credential_straddling_the_limit_shows_no_part_of_itself() -> None:
    password = "Straddle-Pw-0123456789"
    text = "x" * 180 + f" postgres://etl:{password}@db:5432/app"
    shown = credential_text.shorten(text, 200)
    assert len(shown) <= 200
    assert not any(password[:n] in shown for n in range(3, len(password)))
    assert shown == ("x" * 180 + f" postgres://{MASK}@db:5432/app")[:200]


def test_a_credential_straddling_the_first_cut_of_a_huge_text_is_masked() -> None:
    """A huge text is cut at a few times the limit before it is scrubbed; a credential the
    first cut falls in must not be shown in part either."""
    password = "First-Cut-Pw-0123456789"
    limit = 100
    for at in range(limit, 8 * limit, 7):
        text = "y" * at + f" postgres://etl:{password}@db/app " + "z " * 5000
        shown = credential_text.shorten(text, 5 * limit)
        assert "First-Cut" not in shown, at
        assert "First" not in shown.rsplit(" ", 1)[-1], at


def test_shorten_keeps_a_short_text_whole_and_scrubbed() -> None:
    assert credential_text.shorten("password=abc def", 200) == f"password={MASK} def"
    assert credential_text.shorten("x" * 200, 200) == "x" * 200


def test_shorten_cuts_to_the_limit() -> None:
    assert credential_text.shorten("word " * 100, 12) == "word word wo"


def test_shorten_of_a_huge_text_is_bounded_work() -> None:
    text = "name:1 " * 1_500_000  # 10 MB of name-value pairs, each looked at if scrubbed whole
    assert credential_text.shorten(text, 200) == text[:200]


def test_shorten_of_one_huge_word_is_a_mask() -> None:
    assert credential_text.shorten("w" * 10_000, 200) == MASK


# --- properties --------------------------------------------------------------------------------

CREDENTIAL_WORDS = (
    "password", "passwd", "pwd", "passphrase", "secret", "token", "apikey", "api_key",
    "access_token", "refresh_token", "client_secret", "secret_key", "access_key", "private_key",
    "account_key", "shared_access_key", "x_api_key", "auth_token", "credentials",
)  # fmt: skip
PREFIXES = ("", "db", "pg", "aws", "my", "kafka", "sr", "mysql", "client")
SEPARATORS = ("_", "-", ".", "", "camel")
VALUE_CHARS = string.ascii_letters + string.digits + "!#$%*+-./@^_~|:=?"
QUOTED_CHARS = VALUE_CHARS + " ;,&<>(){}[]"


@st.composite
def credential_names(draw: st.DrawFn) -> str:
    """`dbPassword`, `DB-PASSWORD`, `Db.passWord`, `accessToken`, ... in any case."""
    words = draw(st.sampled_from(CREDENTIAL_WORDS)).split("_")
    prefix = draw(st.sampled_from(PREFIXES))
    words = ([prefix] if prefix else []) + words
    separator = draw(st.sampled_from(SEPARATORS))
    case = draw(st.sampled_from(("lower", "upper", "title", "random")))
    if separator == "camel":
        name = words[0] + "".join(w.capitalize() for w in words[1:])
        return name.upper() if case == "upper" else name
    name = separator.join(words)
    if case == "random":
        flips = draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
        return "".join(c.upper() if f else c for c, f in zip(name, flips, strict=True))
    return {"lower": name, "upper": name.upper(), "title": name.title()}[case]


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(
    name=credential_names(),
    assign=st.sampled_from(("=", ": ", " = ", ":", "=>")),
    quote=st.sampled_from(("", '"', "'", '\\"')),
    data=st.data(),
)
def test_any_credential_name_in_any_case_separator_and_quoting_is_masked(
    name: str, assign: str, quote: str, data: st.DataObject
) -> None:
    chars = QUOTED_CHARS if quote else VALUE_CHARS
    value = data.draw(st.text(alphabet=chars, min_size=1, max_size=30))
    key = f"{quote}{name}{quote}" if quote and assign.strip() == ":" else name
    text = f"login failed ({key}{assign}{quote}{value}{quote}) code 28P01"
    expected = f"login failed ({key}{assign}{quote}{MASK}{quote}) code 28P01"
    assert credential_text.scrub(text) == expected


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(
    scheme=st.sampled_from(
        ("postgres", "postgresql", "jdbc:postgresql", "mysql", "mongodb+srv", "redis", "https")
    ),
    user=st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=12),
    password=st.text(alphabet=VALUE_CHARS + "/&;,()[]{}", min_size=1, max_size=30),
)
def test_any_url_userinfo_is_masked(scheme: str, user: str, password: str) -> None:
    host = "db.internal:5432/app?ssl=1 now"
    text = f"cannot connect to {scheme}://{user}:{password}@{host}"
    assert credential_text.scrub(text) == f"cannot connect to {scheme}://{MASK}@{host}"


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(
    user=st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=12),
    password=st.text(alphabet=string.ascii_letters + string.digits + "/#$!*-_.", min_size=1),
)
def test_any_oracle_thin_credential_is_masked(user: str, password: str) -> None:
    text = f"ORA-01017 jdbc:oracle:thin:{user}/{password}@//ora:1521/XE"
    assert credential_text.scrub(text) == f"ORA-01017 jdbc:oracle:thin:{MASK}@//ora:1521/XE"


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(
    words=st.sampled_from(
        (
            "tokens_total", "max_tokens", "token_count", "partition_key", "primary_key", "key",
            "keyspace", "password_file", "secret_name", "token_expires_in", "access_key_id",
            "tokenizer", "routing_key", "sort_key",
        )
    ),
    separator=st.sampled_from(("_", "-", ".")),
    number=st.integers(min_value=0, max_value=10**9),
)  # fmt: skip
def test_counts_and_ordinary_keys_are_not_masked(words: str, separator: str, number: int) -> None:
    text = f"stats {words.replace('_', separator)}={number} ok"
    assert credential_text.scrub(text) == text


BASE64URL = string.ascii_letters + string.digits + "-_"


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(
    header=st.text(alphabet=BASE64URL, min_size=4, max_size=40),
    payload=st.text(alphabet=BASE64URL, min_size=4, max_size=200),
    signature=st.text(alphabet=BASE64URL, max_size=86),
)
def test_any_bare_json_web_token_is_masked(header: str, payload: str, signature: str) -> None:
    text = f"rejected eyJ{header}.{payload}.{signature} (expired?)"
    assert credential_text.scrub(text) == f"rejected {MASK} (expired?)"


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(("", "RSA ", "EC ", "ENCRYPTED ", "OPENSSH ")),
    lines=st.lists(st.text(alphabet=string.ascii_letters + string.digits + "+/=", min_size=1)),
    newline=st.sampled_from(("\n", "\\n", "\r\n")),
    ended=st.booleans(),
)
def test_any_pem_private_key_block_is_masked(
    kind: str, lines: list[str], newline: str, ended: bool
) -> None:
    begin, end = f"-----BEGIN {kind}PRIVATE KEY-----", f"-----END {kind}PRIVATE KEY-----"
    body = newline + newline.join(lines) + newline
    tail = f"{end} in keystore" if ended else ""
    expected = f"key: {begin}{MASK}{tail}"
    assert credential_text.scrub(f"key: {begin}{body}{tail}") == expected
