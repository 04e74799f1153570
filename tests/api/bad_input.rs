//! Every bad input gets its documented status and a JSON error, stores nothing, and the server
//! keeps serving.

use futures_util::stream;
use reqwest::Method;

use crate::helpers::spawn_app;

/// How an error message must look.
enum Says {
    Exactly(&'static str),
    StartsWith(&'static str),
}

struct Case {
    what: &'static str,
    method: Method,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    error: Says,
}

fn post(
    what: &'static str,
    content_type: &'static str,
    body: impl Into<Vec<u8>>,
    status: u16,
    error: Says,
) -> Case {
    Case {
        what,
        method: Method::POST,
        path: "/api/messages",
        content_type: Some(content_type),
        body: body.into(),
        status,
        error,
    }
}

fn get(what: &'static str, path: &'static str, status: u16, error: Says) -> Case {
    Case {
        what,
        method: Method::GET,
        path,
        content_type: None,
        body: vec![],
        status,
        error,
    }
}

fn cases() -> Vec<Case> {
    use Says::{Exactly, StartsWith};
    const JSON: &str = "application/json";
    const FORM: &str = "application/x-www-form-urlencoded";
    const TEXT: &str = "text/plain";
    let nested = format!("{{\"text\":{}1{}}}", "[".repeat(200), "]".repeat(200));
    vec![
        post(
            "a right-to-left override in a user name (name spoofing)",
            JSON,
            "{\"user\":\"ada\u{202E}gpj.exe\",\"text\":\"x\"}",
            400,
            Exactly(
                "user contains U+202E, an invisible or direction-changing character; names may not",
            ),
        ),
        post(
            "a zero-width space in a user name",
            FORM,
            "user=a%E2%80%8Bda&text=x",
            400,
            Exactly(
                "user contains U+200B, an invisible or direction-changing character; names may not",
            ),
        ),
        post(
            "a form field given twice",
            FORM,
            "text=a&text=b",
            400,
            Exactly(r#"form body gives "text" more than once; give each parameter once"#),
        ),
        post(
            "a malformed percent escape in a form",
            FORM,
            "text=100%ZZ",
            400,
            Exactly(r#"form body has a malformed percent escape "%ZZ"; write % itself as %25"#),
        ),
        get(
            "a query parameter given twice",
            "/api/poll?since=1&since=9",
            400,
            Exactly(r#"query string gives "since" more than once; give each parameter once"#),
        ),
        get(
            "a plus sign before a cursor (quoted as sent, not as decoded)",
            "/api/poll?since=+3",
            400,
            Exactly(r#"since must be a non-negative integer, got "+3""#),
        ),
        post(
            "a lone UTF-16 surrogate in JSON",
            JSON,
            r#"{"text":"\ud800"}"#,
            400,
            Exactly("malformed JSON: invalid Unicode escape (lone surrogate) at line 1 column 16"),
        ),
        post(
            "truncated JSON",
            JSON,
            r#"{"text":"#,
            400,
            StartsWith("malformed JSON: EOF while parsing"),
        ),
        post(
            "JSON array",
            JSON,
            r#"["ada","hi"]"#,
            400,
            Exactly(r#"malformed JSON: expected an object like {"user":"ada","text":"hi"}"#),
        ),
        post(
            "JSON string",
            JSON,
            r#""hi""#,
            400,
            Exactly(r#"malformed JSON: expected an object like {"user":"ada","text":"hi"}"#),
        ),
        post(
            "empty JSON body",
            JSON,
            "",
            400,
            Exactly(r#"malformed JSON: expected an object like {"user":"ada","text":"hi"}"#),
        ),
        post(
            "text of the wrong type",
            JSON,
            r#"{"text":5}"#,
            400,
            StartsWith("malformed JSON: invalid type: integer `5`, expected a string"),
        ),
        post(
            "deeply nested JSON",
            JSON,
            nested,
            400,
            StartsWith("malformed JSON: "),
        ),
        post(
            "invalid UTF-8 inside JSON",
            JSON,
            b"{\"text\":\"\xff\xfe\"}".to_vec(),
            400,
            StartsWith("malformed JSON: invalid unicode code point"),
        ),
        post(
            "missing text",
            JSON,
            r#"{"user":"ada"}"#,
            400,
            Exactly("text is required"),
        ),
        post(
            "empty text",
            JSON,
            r#"{"text":""}"#,
            400,
            Exactly("text must not be empty"),
        ),
        post(
            "whitespace-only form text",
            FORM,
            "text=+%20+",
            400,
            Exactly("text must not be empty"),
        ),
        post(
            "form without text",
            FORM,
            "user=ada",
            400,
            Exactly("text is required"),
        ),
        post(
            "NUL byte in text",
            JSON,
            r#"{"text":"a\u0000b"}"#,
            400,
            Exactly("text contains the control character U+0000; only newline and tab are allowed"),
        ),
        post(
            "escape sequence in text",
            TEXT,
            "\u{1b}[31mred",
            400,
            Exactly("text contains the control character U+001B; only newline and tab are allowed"),
        ),
        post(
            "carriage return in text",
            FORM,
            "text=a%0Db",
            400,
            Exactly("text contains the control character U+000D; only newline and tab are allowed"),
        ),
        post(
            "newline in user",
            JSON,
            r#"{"user":"a\nb","text":"hi"}"#,
            400,
            Exactly("user contains the control character U+000A; none are allowed"),
        ),
        post(
            "user over 64 bytes",
            JSON,
            format!(r#"{{"user":"{}","text":"hi"}}"#, "u".repeat(65)),
            400,
            Exactly("user is 65 bytes; the limit is 64"),
        ),
        post(
            "invalid UTF-8 plain text",
            TEXT,
            b"\xc3\x28".to_vec(),
            400,
            Exactly("body is not valid UTF-8"),
        ),
        post(
            "invalid UTF-8 in a form",
            FORM,
            "text=%FF%FE",
            400,
            Exactly("form body is not valid UTF-8 once percent-decoded"),
        ),
        post(
            "text over --max-text-bytes",
            JSON,
            format!(r#"{{"text":"{}"}}"#, "x".repeat(4097)),
            413,
            Exactly("text is 4097 bytes; the limit is 4096"),
        ),
        post(
            "multi-byte text over the limit",
            TEXT,
            "é".repeat(2049),
            413,
            Exactly("text is 4098 bytes; the limit is 4096"),
        ),
        post(
            "body over 64 KiB",
            TEXT,
            vec![b'a'; 64 * 1024 + 1],
            413,
            Exactly("body exceeds 65536 bytes"),
        ),
        post(
            "1 MB body",
            JSON,
            vec![b' '; 1024 * 1024],
            413,
            Exactly("body exceeds 65536 bytes"),
        ),
        post(
            "XML body",
            "application/xml",
            "<text>hi</text>",
            415,
            StartsWith("Content-Type \"application/xml\" is not accepted"),
        ),
        Case {
            what: "no Content-Type",
            method: Method::POST,
            path: "/api/messages",
            content_type: None,
            body: b"hi".to_vec(),
            status: 415,
            error: StartsWith("Content-Type (none) is not accepted"),
        },
        get(
            "non-numeric since",
            "/api/poll?since=abc",
            400,
            Exactly("since must be a non-negative integer, got \"abc\""),
        ),
        get(
            "negative since",
            "/api/poll?since=-1",
            400,
            Exactly("since must be a non-negative integer, got \"-1\""),
        ),
        get(
            "since past u64",
            "/api/poll?since=18446744073709551616",
            400,
            StartsWith("since is larger than 18446744073709551615"),
        ),
        get(
            "empty since",
            "/api/longpoll?since=",
            400,
            Exactly("since must be a non-negative integer, got \"\""),
        ),
        get(
            "negative timeout",
            "/api/longpoll?since=0&timeout=-5",
            400,
            Exactly("timeout must be a non-negative integer, got \"-5\""),
        ),
        get(
            "fractional timeout",
            "/api/longpoll?timeout=1.5",
            400,
            Exactly("timeout must be a non-negative integer, got \"1.5\""),
        ),
        get(
            "timeout over 60",
            "/api/longpoll?timeout=61",
            400,
            Exactly("timeout must be at most 60 seconds, got 61"),
        ),
        get(
            "bad since on the stream",
            "/api/stream?since=x",
            400,
            Exactly("since must be a non-negative integer, got \"x\""),
        ),
        get(
            "bad since on SSE",
            "/api/sse?since=1e3",
            400,
            Exactly("since must be a non-negative integer, got \"1e3\""),
        ),
        get(
            "bad since on WebSocket",
            "/api/ws?since=-2",
            400,
            Exactly("since must be a non-negative integer, got \"-2\""),
        ),
        get(
            "WebSocket endpoint without upgrade",
            "/api/ws",
            400,
            StartsWith("WebSocket handshake failed"),
        ),
        get(
            "invalid UTF-8 in the query",
            "/api/poll?since=%FF",
            400,
            Exactly("query string is not valid UTF-8 once percent-decoded"),
        ),
        get(
            "unknown API path",
            "/api/nope",
            404,
            Exactly("no route for GET /api/nope"),
        ),
        get(
            "GET on the post endpoint",
            "/api/messages",
            405,
            Exactly("method GET is not allowed here; use POST"),
        ),
        Case {
            what: "DELETE a poll",
            method: Method::DELETE,
            path: "/api/poll",
            content_type: None,
            body: vec![],
            status: 405,
            error: Exactly("method DELETE is not allowed here; use GET"),
        },
        Case {
            what: "POST to the stream",
            method: Method::POST,
            path: "/api/stream",
            content_type: Some(JSON),
            body: b"{}".to_vec(),
            status: 405,
            error: Exactly("method POST is not allowed here; use GET"),
        },
    ]
}

/// Each of the cases above gets its exact status and error, and nothing is stored.
#[tokio::test]
async fn every_bad_input_gets_its_documented_error_and_stores_nothing() {
    let app = spawn_app().await;
    let mut failures = vec![];
    for case in cases() {
        let mut request = app
            .http
            .request(case.method.clone(), app.url(case.path))
            .body(case.body.clone());
        if let Some(ct) = case.content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let allow = response
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned());
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap();
        let error = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned));
        let matches = match (&case.error, &error) {
            (Says::Exactly(want), Some(got)) => got == want,
            (Says::StartsWith(want), Some(got)) => got.starts_with(want),
            (_, None) => false,
        };
        if status != case.status || !matches || content_type.as_deref() != Some("application/json")
        {
            failures.push(format!(
                "{}: got {status} {body:?} ({content_type:?})",
                case.what
            ));
        }
        if status == 405 {
            assert!(allow.is_some(), "{}: 405 without Allow", case.what);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases().len(),
        failures.join("\n")
    );
    assert_eq!(
        app.stored_ids().await,
        Vec::<u64>::new(),
        "a refused input was stored"
    );
    let (status, health) = app.get_json("/healthz").await;
    assert_eq!((status, &health["status"]), (200, &serde_json::json!("ok")));
    assert_eq!(app.post("u", "still serving").await["id"], 1);
}

/// A chunked body (no Content-Length) that grows past 64 KiB is cut off with 413.
#[tokio::test]
async fn chunked_body_over_the_limit_is_refused() {
    let app = spawn_app().await;
    let chunks = (0..20).map(|_| Ok::<_, std::io::Error>(vec![b'a'; 4096]));
    let response = app
        .http
        .post(app.url("/api/messages"))
        .header("content-type", "text/plain")
        .body(reqwest::Body::wrap_stream(stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"error": "body exceeds 65536 bytes"})
    );
    assert_eq!(app.stored_ids().await, Vec::<u64>::new());
}
