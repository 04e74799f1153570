//! What a client sends to say something: parsing and validating a new chat message, whether it
//! arrives as a POST body (JSON, form or plain text) or as a WebSocket text frame.
//!
//! One set of rules for every path in, so a message refused over HTTP is refused over WebSocket
//! with the same words, and whatever passes is safe to store and show.

use protocol::{Cursor, RoomName};
use serde::Deserialize;
use serde_json::Value;

use crate::error::AppError;
use crate::params::{self, Params};

/// The name used when a sender gives none.
pub const ANONYMOUS: &str = "anonymous";
/// Longest user name, in UTF-8 bytes: a name, not a second message.
pub const MAX_USER_BYTES: usize = 64;

/// A validated message, ready for the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub user: String,
    pub text: String,
}

const NOT_AN_OBJECT: &str = r#"malformed JSON: expected an object like {"user":"ada","text":"hi"}"#;

/// The JSON form of a message (POST body or WebSocket frame).
#[derive(Deserialize)]
struct JsonMessage {
    user: Option<String>,
    text: Option<String>,
}

/// A WebSocket frame as JSON: a message, or (with a `type`) a join or a leave.
#[derive(Deserialize)]
struct JsonFrame {
    #[serde(rename = "type")]
    kind: Option<String>,
    user: Option<String>,
    text: Option<String>,
    #[serde(rename = "ref")]
    reference: Option<Value>,
    room: Option<String>,
    since: Option<Value>,
    except_sender: Option<bool>,
}
// (`ref` is echoed in the sender's acknowledgement, like a Socket.IO callback id.)

/// What a WebSocket client's text frame asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsRequest {
    /// Say something: in `room` (default: the socket's first room), to everyone there or, with
    /// `except_sender`, to everyone but this socket's client.
    Publish {
        message: NewMessage,
        room: Option<RoomName>,
        except_sender: bool,
    },
    /// `{"type":"join","room":"x","since":N}`: read `room` too, from `since` (live only without).
    Join {
        room: RoomName,
        since: Option<Cursor>,
    },
    /// `{"type":"leave","room":"x"}`: stop reading `room`.
    Leave { room: RoomName },
}

/// The body formats `POST /api/messages` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Form,
    Text,
}

impl BodyFormat {
    /// Chooses the parser from a `Content-Type` value (parameters such as charset are ignored).
    pub fn from_content_type(content_type: Option<&str>) -> Result<Self, AppError> {
        let essence = content_type
            .and_then(|ct| ct.split(';').next())
            .map(|e| e.trim().to_ascii_lowercase());
        match essence.as_deref() {
            Some("application/json") => Ok(Self::Json),
            Some("application/x-www-form-urlencoded") => Ok(Self::Form),
            Some("text/plain") => Ok(Self::Text),
            other => Err(AppError::UnsupportedMediaType(format!(
                "Content-Type {} is not accepted; send application/json, \
                 application/x-www-form-urlencoded or text/plain",
                other.map_or_else(|| "(none)".to_owned(), |e| format!("{e:?}"))
            ))),
        }
    }
}

/// Parses and validates a POST body. `query_user` is `?user=`, used for plain-text bodies.
pub fn from_body(
    format: BodyFormat,
    body: &[u8],
    query_user: Option<&str>,
    max_text_bytes: usize,
) -> Result<NewMessage, AppError> {
    let (user, text) = match format {
        BodyFormat::Json => {
            // serde would also read a struct from an array (`["ada","hi"]`); only objects are messages.
            if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
                return Err(AppError::bad_request(NOT_AN_OBJECT));
            }
            let m: JsonMessage = serde_json::from_slice(body).map_err(|e| malformed_json(&e))?;
            (m.user, m.text)
        }
        BodyFormat::Form => {
            let form = Params::parse(body, "form body")?;
            (
                form.get("user").map(str::to_owned),
                form.get("text").map(str::to_owned),
            )
        }
        BodyFormat::Text => {
            let text = std::str::from_utf8(body)
                .map_err(|_| AppError::bad_request("body is not valid UTF-8"))?;
            (query_user.map(str::to_owned), Some(text.to_owned()))
        }
    };
    validate(user, text, max_text_bytes)
}

/// A WebSocket text frame: JSON `{"user","text","ref","room","except_sender"}`, a join or leave
/// (`{"type":"join","room":..,"since":..}`), or any other text as the message itself.
/// The error keeps the `ref` when one could be read, so the sender can match it to its request.
pub fn from_ws_text(
    frame: &str,
    default_user: Option<&str>,
    max_text_bytes: usize,
) -> Result<(WsRequest, Option<Value>), (AppError, Option<Value>)> {
    if frame.trim_start().starts_with('{') {
        let m: JsonFrame = serde_json::from_str(frame).map_err(|e| (malformed_json(&e), None))?;
        let reference = m.reference.clone();
        match ws_request(m, default_user, max_text_bytes) {
            Ok(request) => Ok((request, reference)),
            Err(e) => Err((e, reference)),
        }
    } else {
        // Line-based tools (websocat) end every frame with the newline that sent it; that one
        // newline is the tool's, not the message's.
        let text = frame.strip_suffix('\n').unwrap_or(frame);
        validate(
            default_user.map(str::to_owned),
            Some(text.to_owned()),
            max_text_bytes,
        )
        .map(|message| {
            let publish = WsRequest::Publish {
                message,
                room: None,
                except_sender: false,
            };
            (publish, None)
        })
        .map_err(|e| (e, None))
    }
}

/// A cursor given in JSON: a message id (`5`) or a cursor string (`"k3x9qa-5"`).
pub fn cursor_value(key: &str, value: &Value) -> Result<Cursor, AppError> {
    match value {
        Value::Number(n) => Ok(Cursor {
            epoch: None,
            id: n.as_u64().ok_or_else(|| {
                AppError::bad_request(format!("{key} must be a message id or a cursor; got {n}"))
            })?,
        }),
        Value::String(cursor) => params::parse_cursor(key, cursor),
        other => Err(AppError::bad_request(format!(
            "{key} must be a message id or a cursor; got {other}"
        ))),
    }
}

/// A request given as a JSON value rather than text (a Socket.IO event's argument): the same
/// object, and the same rules, as a WebSocket frame's.
pub fn from_json_value(
    value: &Value,
    default_user: Option<&str>,
    max_text_bytes: usize,
) -> Result<WsRequest, AppError> {
    if !value.is_object() {
        return Err(AppError::bad_request(NOT_AN_OBJECT));
    }
    let m = JsonFrame::deserialize(value).map_err(|e| malformed_json(&e))?;
    ws_request(m, default_user, max_text_bytes)
}

fn ws_request(
    m: JsonFrame,
    default_user: Option<&str>,
    max_text_bytes: usize,
) -> Result<WsRequest, AppError> {
    let room = m.room.as_deref().map(RoomName::parse).transpose()?;
    let named = |room: Option<RoomName>, kind: &str| {
        room.ok_or_else(|| AppError::bad_request(format!("{kind} needs a \"room\"")))
    };
    match m.kind.as_deref() {
        None | Some("message") => {
            let user = m.user.or_else(|| default_user.map(str::to_owned));
            Ok(WsRequest::Publish {
                message: validate(user, m.text, max_text_bytes)?,
                room,
                except_sender: m.except_sender.unwrap_or(false),
            })
        }
        Some("join") => {
            let since = match &m.since {
                None | Some(Value::Null) => None,
                Some(value) => Some(cursor_value("since", value)?),
            };
            Ok(WsRequest::Join {
                room: named(room, "join")?,
                since,
            })
        }
        Some("leave") => Ok(WsRequest::Leave {
            room: named(room, "leave")?,
        }),
        Some(other) => Err(AppError::bad_request(format!(
            "unknown frame type {other:?}; send a message, or \"join\" or \"leave\" with a room"
        ))),
    }
}

fn validate(
    user: Option<String>,
    text: Option<String>,
    max_text_bytes: usize,
) -> Result<NewMessage, AppError> {
    let text = text.ok_or_else(|| AppError::bad_request("text is required"))?;
    if text.trim().is_empty() {
        return Err(AppError::bad_request("text must not be empty"));
    }
    if text.len() > max_text_bytes {
        return Err(AppError::PayloadTooLarge(format!(
            "text is {} bytes; the limit is {max_text_bytes}",
            text.len()
        )));
    }
    check_characters("text", &text, true)?;
    let user = match user.as_deref().map(str::trim) {
        None | Some("") => ANONYMOUS.to_owned(),
        Some(u) if u.len() > MAX_USER_BYTES => {
            return Err(AppError::bad_request(format!(
                "user is {} bytes; the limit is {MAX_USER_BYTES}",
                u.len()
            )));
        }
        Some(u) => {
            check_characters("user", u, false)?;
            check_invisible(u)?;
            u.to_owned()
        }
    };
    Ok(NewMessage { user, text })
}

/// What a JSON body's parse error says, in words a sender can act on. serde_json reports a lone
/// UTF-16 surrogate (`"\ud800"`, which no string can hold) as an "unexpected end of hex escape";
/// say what it is.
fn malformed_json(e: &serde_json::Error) -> AppError {
    let message = e.to_string();
    if message.contains("hex escape") && !message.starts_with("invalid escape") {
        return AppError::bad_request(format!(
            "malformed JSON: invalid Unicode escape (lone surrogate) at line {} column {}",
            e.line(),
            e.column()
        ));
    }
    AppError::bad_request(format!("malformed JSON: {message}"))
}

/// Characters that change how a name reads without showing themselves: bidirectional overrides
/// and isolates (U+202E turns "ada" plus "gpj.exe" around), zero-width spaces and joiners, marks.
/// In a user name they serve only to impersonate; a message text may keep them (it is shown as
/// text and cannot pass for someone else).
const INVISIBLE: [(char, char); 5] = [
    ('\u{061C}', '\u{061C}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2069}'),
    ('\u{FEFF}', '\u{FEFF}'),
];

fn check_invisible(user: &str) -> Result<(), AppError> {
    match user.chars().find(|c| {
        INVISIBLE
            .iter()
            .any(|(low, high)| (low..=high).contains(&c))
    }) {
        None => Ok(()),
        Some(c) => Err(AppError::bad_request(format!(
            "user contains U+{:04X}, an invisible or direction-changing character; names may not",
            c as u32
        ))),
    }
}

/// Control characters corrupt terminals and logs; newline and tab are the only ones a chat
/// message needs (and a user name needs none).
fn check_characters(field: &str, value: &str, allow_newline_tab: bool) -> Result<(), AppError> {
    let bad = value
        .chars()
        .find(|&c| c.is_control() && !(allow_newline_tab && (c == '\n' || c == '\t')));
    match bad {
        None => Ok(()),
        Some(c) => Err(AppError::bad_request(format!(
            "{field} contains the control character U+{:04X}; {}",
            c as u32,
            if allow_newline_tab {
                "only newline and tab are allowed"
            } else {
                "none are allowed"
            }
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(body: &str) -> Result<NewMessage, AppError> {
        from_body(BodyFormat::Json, body.as_bytes(), None, 10)
    }

    /// A plain-text WebSocket frame loses the one newline a line-based tool ends it with.
    #[test]
    fn plain_text_frame_loses_one_trailing_newline() {
        let text = |frame| match from_ws_text(frame, Some("ada"), 100).unwrap().0 {
            WsRequest::Publish { message, .. } => message.text,
            other => panic!("{other:?}"),
        };
        assert_eq!(text("hello\n"), "hello");
        assert_eq!(text("two\nlines\n\n"), "two\nlines\n");
        assert_eq!(text("no newline"), "no newline");
    }

    /// Each format yields the same message; a missing user is anonymous.
    #[test]
    fn formats_agree() {
        let want = NewMessage {
            user: "ada".into(),
            text: "hi there".into(),
        };
        assert_eq!(json(r#"{"user":"ada","text":"hi there"}"#).unwrap(), want);
        assert_eq!(
            from_body(BodyFormat::Form, b"user=ada&text=hi+there", None, 10).unwrap(),
            want
        );
        assert_eq!(
            from_body(BodyFormat::Text, b"hi there", Some("ada"), 10).unwrap(),
            want
        );
        assert_eq!(json(r#"{"text":"x"}"#).unwrap().user, ANONYMOUS);
    }

    /// Every rule has its own message.
    #[test]
    fn refusals_say_why() {
        let e = |r: Result<NewMessage, AppError>| r.unwrap_err().to_string();
        assert_eq!(e(json(r#"{"user":"a"}"#)), "text is required");
        assert_eq!(e(json(r#"{"text":"  "}"#)), "text must not be empty");
        assert_eq!(
            e(json(r#"{"text":"12345678901"}"#)),
            "text is 11 bytes; the limit is 10"
        );
        assert_eq!(
            e(json(r#"{"text":"a\u0000b"}"#)),
            "text contains the control character U+0000; only newline and tab are allowed"
        );
        assert_eq!(
            e(json(r#"{"text":"ok","user":"a\nb"}"#)),
            "user contains the control character U+000A; none are allowed"
        );
        assert!(e(json(r#"{"text":5}"#)).starts_with("malformed JSON: invalid type"));
        assert_eq!(
            e(from_body(BodyFormat::Text, b"\xff", None, 10)),
            "body is not valid UTF-8"
        );
        assert!(json("a\n\tb").is_err());
        assert!(
            json("{\"text\":\"a\n\tb\"}").is_err(),
            "raw newlines inside JSON strings are invalid JSON"
        );
        assert_eq!(json(r#"{"text":"a\n\tb"}"#).unwrap().text, "a\n\tb");
    }

    /// Content types: parameters ignored, anything else is 415.
    #[test]
    fn content_types() {
        assert_eq!(
            BodyFormat::from_content_type(Some("application/json; charset=utf-8")).unwrap(),
            BodyFormat::Json
        );
        assert_eq!(
            BodyFormat::from_content_type(Some("Text/Plain")).unwrap(),
            BodyFormat::Text
        );
        assert!(matches!(
            BodyFormat::from_content_type(Some("application/xml")),
            Err(AppError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            BodyFormat::from_content_type(None),
            Err(AppError::UnsupportedMediaType(_))
        ));
    }

    /// WebSocket frames: JSON with a ref, or plain text; errors keep the ref.
    #[test]
    fn websocket_frames() {
        let publish = |frame: &str, user| match from_ws_text(frame, user, 10).unwrap() {
            (WsRequest::Publish { message, .. }, r) => (message, r),
            other => panic!("{other:?}"),
        };
        let (m, r) = publish(r#"{"text":"hi","ref":7}"#, Some("bob"));
        assert_eq!(
            (m.user.as_str(), m.text.as_str(), r),
            ("bob", "hi", Some(Value::from(7)))
        );
        let (m, r) = publish("just words", None);
        assert_eq!(
            (m.user.as_str(), m.text.as_str(), r),
            (ANONYMOUS, "just words", None)
        );
        let (e, r) = from_ws_text(r#"{"ref":"a1"}"#, None, 10).unwrap_err();
        assert_eq!(
            (e.to_string(), r),
            ("text is required".to_owned(), Some(Value::from("a1")))
        );
        assert!(from_ws_text("{not json", None, 10).is_err());
    }

    /// Joins, leaves, rooms and "to others": each read, each refusal named.
    #[test]
    fn websocket_room_frames() {
        let ok = |frame: &str| from_ws_text(frame, None, 100).unwrap().0;
        let err = |frame: &str| from_ws_text(frame, None, 100).unwrap_err().0.to_string();
        let math = RoomName::parse("math").unwrap();
        assert_eq!(
            ok(r#"{"type":"join","room":"math","since":3}"#),
            WsRequest::Join {
                room: math.clone(),
                since: Some(Cursor { epoch: None, id: 3 })
            }
        );
        assert_eq!(
            ok(r#"{"type":"join","room":"math"}"#),
            WsRequest::Join {
                room: math.clone(),
                since: None
            }
        );
        assert!(matches!(
            ok(r#"{"type":"join","room":"math","since":"k3x9qa-4"}"#),
            WsRequest::Join {
                since: Some(Cursor { id: 4, .. }),
                ..
            }
        ));
        assert_eq!(
            ok(r#"{"type":"leave","room":"math"}"#),
            WsRequest::Leave { room: math.clone() }
        );
        assert!(matches!(
            ok(r#"{"room":"math","text":"hi","except_sender":true}"#),
            WsRequest::Publish { room: Some(r), except_sender: true, .. } if r == math
        ));
        assert_eq!(err(r#"{"type":"join"}"#), "join needs a \"room\"");
        assert!(err(r#"{"type":"join","room":"a b"}"#).starts_with("room must be"));
        assert!(err(r#"{"type":"join","room":"a","since":-1}"#).starts_with("since must be"));
        assert!(err(r#"{"type":"dance","room":"a"}"#).starts_with("unknown frame type"));
    }
}
