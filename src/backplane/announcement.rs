//! What the bus's one channel (`tl:bus`) carries: a message, numbered and stored by the publish
//! script, or a room started over. The scripts write it (see `publish.lua`, `start_over.lua`);
//! every server reads it here. Lines, not JSON: Lua would have to build the JSON, and the
//! announcement is the one part of the backplane that crosses the wire once per server.

use protocol::Epoch;

/// What the channel carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement<'a> {
    Message {
        room: &'a str,
        epoch: Epoch,
        id: u64,
        ts: u64,
        except: &'a str,
        user: &'a str,
        text: &'a str,
    },
    StartedOver {
        room: &'a str,
        epoch: Epoch,
    },
}

impl<'a> Announcement<'a> {
    /// See [`scripts::publish`] and [`scripts::start_over`] for the two forms.
    pub fn parse(payload: &'a [u8]) -> Option<Self> {
        let text = std::str::from_utf8(payload).ok()?;
        let (kind, rest) = text.split_once('\n')?;
        match kind {
            "m" => {
                let mut parts = rest.splitn(7, '\n');
                let room = parts.next()?;
                let epoch = Epoch::parse(parts.next()?)?;
                let id = parts.next()?.parse().ok()?;
                let ts = parts.next()?.parse().ok()?;
                let except = parts.next()?;
                let user = parts.next()?;
                let text = parts.next()?;
                Some(Self::Message {
                    room,
                    epoch,
                    id,
                    ts,
                    except,
                    user,
                    text,
                })
            }
            "r" => {
                let (room, epoch) = rest.split_once('\n')?;
                Some(Self::StartedOver {
                    room,
                    epoch: Epoch::parse(epoch)?,
                })
            }
            _ => None,
        }
    }

    pub fn room(&self) -> &'a str {
        match self {
            Self::Message { room, .. } | Self::StartedOver { room, .. } => room,
        }
    }
}

impl Announcement<'_> {
    /// The announcement as the scripts write it: what [`Self::parse`] reads.
    pub fn encode(&self) -> String {
        match self {
            Self::Message {
                room,
                epoch,
                id,
                ts,
                except,
                user,
                text,
            } => format!("m\n{room}\n{epoch}\n{id}\n{ts}\n{except}\n{user}\n{text}"),
            Self::StartedOver { room, epoch } => format!("r\n{room}\n{epoch}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The announcement forms round-trip, a text with newlines included; junk is refused.
    #[test]
    fn announcements_parse() {
        let m =
            Announcement::parse(b"m\nmath\nk3x9qa\n7\n1700000000000\n\nada\nhi\nthere").unwrap();
        match m {
            Announcement::Message {
                room,
                id,
                ts,
                except,
                user,
                text,
                ..
            } => assert_eq!(
                (room, id, ts, except, user, text),
                ("math", 7, 1_700_000_000_000, "", "ada", "hi\nthere")
            ),
            Announcement::StartedOver { .. } => panic!("a message"),
        }
        assert!(matches!(
            Announcement::parse(b"r\nmath\nk3x9qa"),
            Some(Announcement::StartedOver { room: "math", .. })
        ));
        for junk in [
            &b""[..],
            b"m\nmath",
            b"x\nmath\nk3x9qa",
            b"m\nmath\nk3x9qa\nseven\n1\n\nu\nt",
        ] {
            assert!(Announcement::parse(junk).is_none());
        }
    }
}
