//! A reader's position: a message id, and the run of the server it belongs to.
//!
//! Ids start again at 1 whenever the server restarts, so an id alone cannot say whether it came
//! from this run: a client holding id 8 from the last run, coming back after the new run stored
//! 12 messages, would be served 9..12 and silently miss the new 1..8. A cursor therefore names
//! its run, its *epoch* (as Centrifugo's stream positions do): `k3x9qa-8` is message 8 of run
//! `k3x9qa`. A cursor of another epoch always gets the reset notice. A bare id (`8`) is still
//! accepted, for people typing `curl`, with the weaker check a bare id allows (reset only when it
//! is ahead of the newest id). Ids stay small integers per run, so a lesson still reads
//! "message 7".

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest epoch accepted from a client.
pub const MAX_EPOCH_LEN: usize = 16;

/// A run of the server: 1 to 16 of `a-z 0-9`; the server makes 6.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Epoch(String);

impl Epoch {
    /// The epoch named `text`, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        let valid = (1..=MAX_EPOCH_LEN).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        valid.then(|| Self(text.to_owned()))
    }

    /// A new epoch from 32 random bits: 6 base-36 digits.
    pub fn from_bits(bits: u32) -> Self {
        const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let mut n = u64::from(bits) % 36u64.pow(6);
        let mut text = [b'0'; 6];
        for digit in text.iter_mut().rev() {
            *digit = DIGITS[(n % 36) as usize];
            n /= 36;
        }
        Self(text.iter().map(|&b| char::from(b)).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Epoch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Epoch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&text).ok_or_else(|| serde::de::Error::custom("not an epoch"))
    }
}

/// Where a reader stands: deliver what is after `id`, if `epoch` (when given) is the current run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub epoch: Option<Epoch>,
    pub id: u64,
}

impl Cursor {
    /// `EPOCH-ID` (`k3x9qa-8`) or a bare `ID` (`8`); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (epoch, id) = match text.split_once('-') {
            Some((epoch, id)) => (Some(Epoch::parse(epoch)?), id),
            None => (None, text),
        };
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            epoch,
            id: id.parse().ok()?,
        })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.epoch {
            Some(epoch) => write!(f, "{epoch}-{}", self.id),
            None => write!(f, "{}", self.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cursors round-trip through text; malformed ones are refused.
    #[test]
    fn parses_and_prints() {
        let c = Cursor::parse("k3x9qa-8").unwrap();
        assert_eq!(
            (c.epoch.as_ref().map(Epoch::as_str), c.id),
            (Some("k3x9qa"), 8)
        );
        assert_eq!(c.to_string(), "k3x9qa-8");
        assert_eq!(Cursor::parse("8").unwrap().to_string(), "8");
        for bad in [
            "",
            "-1",
            "K3-1",
            "a-",
            "a-b",
            "a-1-2",
            "+3",
            "1e3",
            "abcdefghijklmnopq-1",
        ] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
        assert_eq!(Epoch::from_bits(0).as_str(), "000000");
        assert_eq!(Epoch::from_bits(u32::MAX).as_str().len(), 6);
        assert!(Epoch::parse(Epoch::from_bits(123_456_789).as_str()).is_some());
    }
}
