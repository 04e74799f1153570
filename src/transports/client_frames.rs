//! The WebSocket client's frames, read from the request payload one frame at a time, with their
//! RFC 6455 close codes.
//!
//! actix-ws writes our frames; the client's are read here. Reading them ourselves is what lets
//! every violation get its close code and a reason that says what was wrong, a fragmented message
//! be refused at the fragment that makes it too long (1009) or not UTF-8 (1007), and a valid
//! message read in the same chunk as a later violation still be published before the connection
//! is failed.

use actix_http::ws::{OpCode, Parser};
use actix_web::web;
use actix_ws::{CloseCode, CloseReason, ProtocolError};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::StreamExt;

/// The client's frames, read from the request payload one frame at a time.
///
/// One at a time matters: a chunk read from the socket may hold a valid message followed by a
/// violation, and the message must be handled (published, acknowledged) before the violation
/// closes the connection. actix-ws's `MessageStream` decodes a whole chunk first and returns the
/// error ahead of the frames decoded before it.
///
/// Fragmented messages are assembled here, with the same limit as a frame (`--max-body-bytes`):
/// the fragment that takes a message over it gets close 1009 at once, and text is checked for
/// UTF-8 as each fragment arrives, so the fragment where it stops being UTF-8 gets close 1007 (a
/// character split across fragments is fine: the incomplete tail, at most 3 bytes, waits for the
/// next fragment).
pub struct ClientFrames {
    payload: web::Payload,
    /// Bytes read and not decoded yet.
    buf: BytesMut,
    /// The longest frame, and the longest message its fragments may add up to.
    max: usize,
    /// The fragmented message under way, if any.
    fragmented: Option<Fragmented>,
}

/// A message whose first fragment has arrived and whose last has not.
enum Fragmented {
    Text {
        text: BytesMut,
        /// How much of `text` is known to be UTF-8; after it, at most an incomplete character.
        checked: usize,
    },
    /// Binary messages are refused once complete; only their size is kept.
    Binary { len: usize },
}

/// What the connection loop acts on.
pub enum ClientFrame {
    Text(ByteString),
    Binary,
    /// A fragment of a message not complete yet: nothing to answer.
    Fragment,
    Ping(Bytes),
    Pong,
    Close(Option<CloseReason>),
}

impl ClientFrames {
    pub fn new(payload: web::Payload, max: usize) -> Self {
        Self {
            payload,
            buf: BytesMut::new(),
            max,
            fragmented: None,
        }
    }

    /// The next frame; `Err` is the close a protocol violation earns; `None` once the connection
    /// has ended. Cancel-safe: whatever was read is kept in `self`.
    pub async fn recv(&mut self) -> Option<Result<ClientFrame, CloseReason>> {
        loop {
            if let Some(frame) = self.decode().transpose() {
                return Some(frame);
            }
            match self.payload.next().await? {
                // No copy when nothing is left over from the last read.
                Ok(bytes) if self.buf.is_empty() => self.buf = BytesMut::from(bytes),
                Ok(bytes) => self.buf.extend_from_slice(&bytes),
                Err(error) => {
                    // The connection failed under us (a read error, or the socket guard refused
                    // a frame): no close frame can be sent on it any more.
                    tracing::debug!(%error, "websocket connection failed");
                    return None;
                }
            }
        }
    }

    /// Decodes one frame from what has been read, if a whole one is there.
    fn decode(&mut self) -> Result<Option<ClientFrame>, CloseReason> {
        let Some((fin, opcode, payload)) =
            Parser::parse(&mut self.buf, true, self.max).map_err(|e| parse_close(e, self.max))?
        else {
            return Ok(None);
        };
        let data = payload.unwrap_or_default();
        let frame = match opcode {
            OpCode::Text | OpCode::Binary if self.fragmented.is_some() => {
                return Err(protocol(format!(
                    "a {} frame inside a fragmented message (expected a continuation)",
                    name(opcode)
                )));
            }
            OpCode::Text if fin => {
                ClientFrame::Text(ByteString::try_from(data.freeze()).map_err(|_| not_utf8())?)
            }
            OpCode::Binary if fin => ClientFrame::Binary,
            OpCode::Text => self.continue_with(
                Fragmented::Text {
                    text: BytesMut::new(),
                    checked: 0,
                },
                data,
                false,
            )?,
            OpCode::Binary => self.continue_with(Fragmented::Binary { len: 0 }, data, false)?,
            OpCode::Continue => match self.fragmented.take() {
                Some(message) => self.continue_with(message, data, fin)?,
                None => {
                    return Err(protocol(
                        "a continuation frame with no fragmented message to continue".to_owned(),
                    ));
                }
            },
            OpCode::Ping | OpCode::Pong | OpCode::Close if !fin => {
                return Err(protocol(format!(
                    "a {} frame without FIN: control frames may not be fragmented",
                    name(opcode)
                )));
            }
            OpCode::Ping => ClientFrame::Ping(data.freeze()),
            OpCode::Pong => ClientFrame::Pong,
            OpCode::Close => ClientFrame::Close(close_payload(&data)?),
            // The parser refuses reserved opcodes before we see them.
            OpCode::Bad => return Err(protocol("Bad opcode".to_owned())),
        };
        Ok(Some(frame))
    }

    /// Adds a fragment to `message`: refused as soon as the message is over the limit or its
    /// text stops being UTF-8; the whole message once `fin`.
    fn continue_with(
        &mut self,
        mut message: Fragmented,
        data: BytesMut,
        fin: bool,
    ) -> Result<ClientFrame, CloseReason> {
        let so_far = match &message {
            Fragmented::Text { text, .. } => text.len(),
            Fragmented::Binary { len } => *len,
        };
        if so_far + data.len() > self.max {
            return Err(reason(
                CloseCode::Size,
                &format!("message larger than {} bytes", self.max),
            ));
        }
        match &mut message {
            Fragmented::Text { text, checked } => {
                text.extend_from_slice(&data);
                match std::str::from_utf8(&text[*checked..]) {
                    Ok(_) => *checked = text.len(),
                    // Only the end is unfinished: the next fragment may complete the character.
                    Err(e) if e.error_len().is_none() && !fin => *checked += e.valid_up_to(),
                    Err(_) => return Err(not_utf8()),
                }
            }
            Fragmented::Binary { len } => *len += data.len(),
        }
        if !fin {
            self.fragmented = Some(message);
            return Ok(ClientFrame::Fragment);
        }
        Ok(match message {
            Fragmented::Text { text, .. } => {
                ClientFrame::Text(ByteString::try_from(text.freeze()).map_err(|_| not_utf8())?)
            }
            Fragmented::Binary { .. } => ClientFrame::Binary,
        })
    }
}

/// A close frame's payload: nothing, or a valid code (RFC 6455 section 7.4) and a UTF-8 reason.
fn close_payload(payload: &[u8]) -> Result<Option<CloseReason>, CloseReason> {
    let (code, description) = match payload {
        [] => return Ok(None),
        [_] => {
            return Err(protocol(
                "close frame payload of 1 byte (a code takes 2)".to_owned(),
            ));
        }
        [high, low, description @ ..] => (u16::from_be_bytes([*high, *low]), description),
    };
    // 1004-1006 and 1015 are reserved and never sent; 1016-2999 are unassigned; 3000-4999 are
    // for libraries and applications.
    if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
        return Err(protocol(format!("invalid close code {code}")));
    }
    let description = std::str::from_utf8(description)
        .map_err(|_| reason(CloseCode::Invalid, "close reason is not valid UTF-8"))?;
    Ok(Some(CloseReason {
        code: code.into(),
        description: (!description.is_empty()).then(|| description.to_owned()),
    }))
}

/// The close a violation found by actix's frame parser earns: 1009 for a frame over the limit,
/// 1002 for the rest, in actix's words.
fn parse_close(error: ProtocolError, max: usize) -> CloseReason {
    match error {
        ProtocolError::Overflow => {
            reason(CloseCode::Size, &format!("frame larger than {max} bytes"))
        }
        // Reserved bits come as an I/O error; the message says what is wrong without the prefix.
        ProtocolError::Io(e) => protocol(e.to_string()),
        other => protocol(other.to_string()),
    }
}

fn protocol(description: String) -> CloseReason {
    CloseReason {
        code: CloseCode::Protocol,
        description: Some(description),
    }
}

fn not_utf8() -> CloseReason {
    reason(CloseCode::Invalid, "text is not valid UTF-8")
}

fn name(opcode: OpCode) -> &'static str {
    match opcode {
        OpCode::Continue => "continuation",
        OpCode::Text => "text",
        OpCode::Binary => "binary",
        OpCode::Close => "close",
        OpCode::Ping => "ping",
        OpCode::Pong => "pong",
        OpCode::Bad => "reserved",
    }
}

fn reason(code: CloseCode, description: &str) -> CloseReason {
    CloseReason {
        code,
        description: Some(description.to_owned()),
    }
}
