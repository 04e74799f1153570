//! URL-encoded key/value pairs (query strings and form bodies), decoded strictly.
//!
//! The usual decoders replace invalid UTF-8 with U+FFFD and carry on; we refuse it instead, so a
//! client learns its bytes were wrong rather than finding a replacement character in the chat.
//! Cursor and timeout parameters get their own parsers so their errors say what a valid one is.

use std::borrow::Cow;

use percent_encoding::percent_decode;
use protocol::{Cursor, Epoch, RoomName};

use crate::error::AppError;

/// Decoded pairs, in order, each key once.
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
    /// Each value as it was sent (before `+` and `%XX` decoding), for error messages that quote
    /// what the client wrote.
    raw: Vec<String>,
}

impl Params {
    /// Decodes `a=1&b=x+y` (`+` is a space, `%XX` a byte; the result must be UTF-8).
    pub fn parse(input: &[u8], what: &str) -> Result<Self, AppError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut raw = Vec::new();
        for piece in input.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (key, value) = match piece.iter().position(|&b| b == b'=') {
                Some(i) => (&piece[..i], &piece[i + 1..]),
                None => (piece, &b""[..]),
            };
            let key = decode(key, what)?;
            // Which of two values was meant is a guess; refusing is not.
            if pairs.iter().any(|(k, _)| *k == key) {
                return Err(AppError::bad_request(format!(
                    "{what} gives {} more than once; give each parameter once",
                    quote(&key)
                )));
            }
            pairs.push((key, decode(value, what)?));
            raw.push(String::from_utf8_lossy(value).into_owned());
        }
        Ok(Self { pairs, raw })
    }

    /// Decodes a request's query string.
    pub fn query(query_string: &str) -> Result<Self, AppError> {
        Self::parse(query_string.as_bytes(), "query string")
    }

    /// The value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value for `key` as it was sent, before decoding.
    fn raw(&self, key: &str) -> Option<&str> {
        let at = self.pairs.iter().position(|(k, _)| k == key)?;
        self.raw.get(at).map(String::as_str)
    }

    /// `?room=`, the lobby when absent; a name against the rule is a 400.
    pub fn room(&self) -> Result<RoomName, AppError> {
        match self.get("room") {
            None => Ok(RoomName::lobby()),
            Some(name) => RoomName::parse(name).map_err(|e| AppError::bad_request(e.to_string())),
        }
    }

    /// A cursor such as `since`: absent, `EPOCH-ID`, or a bare non-negative id.
    pub fn cursor(&self, key: &str) -> Result<Option<Cursor>, AppError> {
        self.get(key)
            .map(|v| parse_cursor(key, v).map_err(|e| self.as_sent(key, e, parse_cursor)))
            .transpose()
    }

    /// An error about `key`'s value, quoting the value as sent when decoding changed it (`+3`
    /// is sent as a plus sign, though it decodes to a space).
    fn as_sent<T>(
        &self,
        key: &str,
        error: AppError,
        parse: impl Fn(&str, &str) -> Result<T, AppError>,
    ) -> AppError {
        match self.raw(key) {
            Some(raw) if Some(raw) != self.get(key) => parse(key, raw).err().unwrap_or(error),
            _ => error,
        }
    }

    /// Whole seconds, at most `max`.
    pub fn seconds(&self, key: &str, max: u64) -> Result<Option<u64>, AppError> {
        match self.get(key) {
            None => Ok(None),
            // A number too large for any integer is still just over the limit: say the limit.
            Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                let got = match v.parse::<u64>() {
                    Ok(s) if s <= max => return Ok(Some(s)),
                    Ok(s) => s.to_string(),
                    Err(_) => quote(v),
                };
                Err(AppError::bad_request(format!(
                    "{key} must be at most {max} seconds, got {got}"
                )))
            }
            Some(v) => parse_u64(key, v)
                .map(Some)
                .map_err(|e| self.as_sent(key, e, parse_u64)),
        }
    }
}

/// A cursor (`k3x9qa-8`, or a bare `8`), with an error that quotes what was sent.
pub fn parse_cursor(key: &str, value: &str) -> Result<Cursor, AppError> {
    if let Some(cursor) = Cursor::parse(value) {
        return Ok(cursor);
    }
    match value.split_once('-') {
        Some((epoch, id)) if Epoch::parse(epoch).is_some() => {
            let id = parse_u64(key, id).map_err(|_| {
                AppError::bad_request(format!(
                    "{key} must be a cursor EPOCH-ID (EPOCH 1 to 16 of a-z 0-9, ID a \
                     non-negative integer) or a bare ID, got {}",
                    quote(value)
                ))
            })?;
            Ok(Cursor {
                epoch: Epoch::parse(epoch),
                id,
            })
        }
        // Not a cursor with an epoch: say what a bare id must be.
        _ => parse_u64(key, value).map(|id| Cursor { epoch: None, id }),
    }
}

/// A non-negative integer, with an error that quotes what was sent.
pub fn parse_u64(key: &str, value: &str) -> Result<u64, AppError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::bad_request(format!(
            "{key} must be a non-negative integer, got {}",
            quote(value)
        )));
    }
    value.parse().map_err(|_| {
        AppError::bad_request(format!(
            "{key} is larger than {}, got {}",
            u64::MAX,
            quote(value)
        ))
    })
}

fn decode(raw: &[u8], what: &str) -> Result<String, AppError> {
    // A `%` must start an escape; the usual decoders pass `%ZZ` through as text, which stores
    // something the sender did not mean.
    let mut rest = raw;
    while let Some(at) = rest.iter().position(|&b| b == b'%') {
        let escape = rest.get(at + 1..at + 3);
        if !escape.is_some_and(|e| e.iter().all(u8::is_ascii_hexdigit)) {
            let shown = String::from_utf8_lossy(&rest[at..(at + 3).min(rest.len())]).into_owned();
            return Err(AppError::bad_request(format!(
                "{what} has a malformed percent escape {}; write % itself as %25",
                quote(&shown)
            )));
        }
        rest = &rest[at + 3..];
    }
    let spaced: Cow<'_, [u8]> = if raw.contains(&b'+') {
        Cow::Owned(
            raw.iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    };
    percent_decode(&spaced)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| {
            AppError::bad_request(format!("{what} is not valid UTF-8 once percent-decoded"))
        })
}

/// A value quoted for an error message, cut short so an error never echoes a huge input.
pub fn quote(value: &str) -> String {
    const SHOWN: usize = 40;
    match value.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
        None => format!("{value:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plus and percent escapes; a key without `=` has an empty value.
    #[test]
    fn decodes_pairs() {
        let p = Params::parse(b"user=ada+l&text=caf%C3%A9%21&flag", "form").unwrap();
        assert_eq!(p.get("user"), Some("ada l"));
        assert_eq!(p.get("text"), Some("café!"));
        assert_eq!(p.get("flag"), Some(""));
        assert_eq!(p.get("none"), None);
    }

    /// Invalid UTF-8 after decoding is an error, not a replacement character.
    #[test]
    fn refuses_invalid_utf8() {
        let err = Params::parse(b"text=%FF%FE", "form").unwrap_err();
        assert_eq!(
            err.to_string(),
            "form is not valid UTF-8 once percent-decoded"
        );
    }

    /// Cursors are non-negative integers; the error quotes the bad value.
    #[test]
    fn cursor_parsing() {
        let q = |s: &str| Params::query(s).unwrap();
        let bare = |id| Some(Cursor { epoch: None, id });
        assert_eq!(q("since=42").cursor("since").unwrap(), bare(42));
        assert_eq!(
            q("since=k3x9qa-42")
                .cursor("since")
                .unwrap()
                .map(|c| c.to_string()),
            Some("k3x9qa-42".to_owned())
        );
        assert_eq!(
            q("since=k3x9qa-x").cursor("since").unwrap_err().to_string(),
            "since must be a cursor EPOCH-ID (EPOCH 1 to 16 of a-z 0-9, ID a non-negative \
             integer) or a bare ID, got \"k3x9qa-x\""
        );
        assert_eq!(q("").cursor("since").unwrap(), None);
        assert_eq!(
            q("since=-1").cursor("since").unwrap_err().to_string(),
            "since must be a non-negative integer, got \"-1\""
        );
        assert_eq!(
            q("since=1e3").cursor("since").unwrap_err().to_string(),
            "since must be a non-negative integer, got \"1e3\""
        );
        assert!(
            q("since=99999999999999999999999")
                .cursor("since")
                .unwrap_err()
                .to_string()
                .starts_with("since is larger than")
        );
        assert_eq!(
            q("timeout=61")
                .seconds("timeout", 60)
                .unwrap_err()
                .to_string(),
            "timeout must be at most 60 seconds, got 61"
        );
        assert_eq!(q("timeout=60").seconds("timeout", 60).unwrap(), Some(60));
        assert_eq!(
            q("timeout=99999999999999999999999")
                .seconds("timeout", 60)
                .unwrap_err()
                .to_string(),
            "timeout must be at most 60 seconds, got \"99999999999999999999999\""
        );
    }
}
