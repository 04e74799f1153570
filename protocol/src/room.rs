//! Room names: what `?room=`, a WebSocket `join` and every message's `"room"` carry.
//!
//! One rule, checked in one place, so the server refuses exactly what the loadtest and the pages
//! would never send: 1 to 64 characters of `A-Z a-z 0-9 - _ .`, safe unescaped in a URL, a log
//! line, a metrics label and an HTML attribute.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The room of a request that names none: the one room there was before rooms.
pub const LOBBY: &str = "lobby";
/// Longest room name: a name, not a place to store data.
pub const MAX_ROOM_NAME_BYTES: usize = 64;

/// A valid room name. Cheap to clone: the registry, every subscriber and every message of the
/// room share one allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomName(Arc<str>);

/// A room name that breaks the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "room must be 1 to {MAX_ROOM_NAME_BYTES} characters of letters, digits, '-', '_' or '.'; got {0}"
)]
pub struct InvalidRoomName(String);

impl RoomName {
    /// `name` if it follows the rule.
    pub fn parse(name: &str) -> Result<Self, InvalidRoomName> {
        if Self::valid(name) {
            Ok(Self(Arc::from(name)))
        } else {
            // Quoted and cut, so a megabyte of junk is not echoed back whole.
            let shown: String = name.chars().take(MAX_ROOM_NAME_BYTES + 1).collect();
            let more = if shown.len() < name.len() { "…" } else { "" };
            Err(InvalidRoomName(format!("{shown:?}{more}")))
        }
    }

    /// The default room.
    pub fn lobby() -> Self {
        Self(Arc::from(LOBBY))
    }

    pub fn is_lobby(&self) -> bool {
        &*self.0 == LOBBY
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// 1 to 64 characters of `A-Z a-z 0-9 - _ .`.
    pub fn valid(name: &str) -> bool {
        (1..=MAX_ROOM_NAME_BYTES).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    }
}

impl Default for RoomName {
    fn default() -> Self {
        Self::lobby()
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Deref for RoomName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for RoomName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl FromStr for RoomName {
    type Err = InvalidRoomName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for RoomName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RoomName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_one_rule() {
        for good in ["lobby", "a", "math-101", "Group_2.b", &"x".repeat(64)] {
            assert_eq!(RoomName::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "has space", "ünï", "a/b", "a?b", &"x".repeat(65), "%41"] {
            assert!(RoomName::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = "é".repeat(1000);
        let error = RoomName::parse(&long).unwrap_err().to_string();
        assert!(error.len() < 400 && error.ends_with('…'), "{error}");
        assert!(RoomName::default().is_lobby());
        assert!(serde_json::from_str::<RoomName>(r#""no way""#).is_err());
    }
}
