//! An HPACK decoder (RFC 7541) for the HTTP/2 follower: it reads the header blocks each side
//! sends, so the ledger learns which path a stream asked for (its transport, `?client=` and
//! `?room=`) and which content type the answer has, exactly as the h2 crate under actix-http
//! decodes them.
//!
//! It keeps its own copy of each direction's dynamic table, and says for every field how it
//! arrived: from the static table, from the dynamic table (a "hit": the field cost one byte or
//! two instead of its text), or as a literal, added to the dynamic table or not. That is what the
//! tap shows, and what makes the lesson concrete: the second poll on a connection repeats its
//! headers as table hits, so its HEADERS frame is a fraction of the first's.
//!
//! A decoder is bounded: a block decoding to more than its limit (an "HPACK bomb": a few bytes
//! that index a large entry many times) is refused before it is built, and a table size update
//! above [`MAX_TABLE_SIZE`] is an error.

mod huffman;
mod huffman_codes;

use std::collections::VecDeque;

/// Largest dynamic table followed. The h2 server under actix advertises 4,096 bytes; browsers
/// advertise up to 65,536 for what we send them.
pub const MAX_TABLE_SIZE: usize = 1 << 16;

/// The dynamic table's size until a size update says otherwise (RFC 7541 §4.2, RFC 9113 §6.5.2).
const DEFAULT_TABLE_SIZE: usize = 4096;

/// How a field arrived in a header block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// An index into the static table (RFC 7541 Appendix A).
    Static,
    /// An index into the dynamic table: the field was sent before on this connection.
    Dynamic,
    /// A literal, added to the dynamic table for later blocks to index.
    Added,
    /// A literal not added to the table (or never to be indexed).
    Literal,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Self::Static => "static table",
            Self::Dynamic => "dynamic table hit",
            Self::Added => "literal, added to the dynamic table",
            Self::Literal => "literal",
        }
    }
}

/// One decoded header field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub value: String,
    pub source: Source,
}

/// Why a header block could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HpackError {
    #[error("the header block is malformed")]
    Malformed,
    #[error("the header list is larger than {0} bytes")]
    TooLarge(usize),
}

/// One direction's decoding state: the dynamic table the sender's encoder keeps in step with.
#[derive(Debug)]
pub struct Decoder {
    /// Newest first, as HPACK indexes them (index 62 is the newest).
    table: VecDeque<(String, String)>,
    /// Sum of the entries' sizes (name + value + 32 each).
    size: usize,
    max_size: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self {
            table: VecDeque::new(),
            size: 0,
            max_size: DEFAULT_TABLE_SIZE,
        }
    }
}

impl Decoder {
    /// Decodes one complete header block. `limit` bounds the decoded header list's size as
    /// RFC 9113 §6.5.2 measures it (name + value + 32 per field).
    pub fn decode(&mut self, block: &[u8], limit: usize) -> Result<Vec<Field>, HpackError> {
        let mut fields = Vec::new();
        let mut list_size = 0usize;
        let mut rest = block;
        while let Some(&first) = rest.first() {
            let field = if first & 0x80 != 0 {
                let index = integer(&mut rest, 7)?;
                let (name, value) = self.entry(index)?;
                let source = if index <= STATIC.len() {
                    Source::Static
                } else {
                    Source::Dynamic
                };
                Field {
                    name,
                    value,
                    source,
                }
            } else if first & 0xE0 == 0x20 {
                let size = integer(&mut rest, 5)?;
                if size > MAX_TABLE_SIZE {
                    return Err(HpackError::Malformed);
                }
                self.max_size = size;
                self.evict(0);
                continue;
            } else {
                let (prefix, adds) = if first & 0xC0 == 0x40 {
                    (6, true)
                } else {
                    (4, false)
                };
                let index = integer(&mut rest, prefix)?;
                let name = if index == 0 {
                    string(&mut rest)?
                } else {
                    self.entry(index)?.0
                };
                let value = string(&mut rest)?;
                if adds {
                    self.insert(name.clone(), value.clone());
                }
                Field {
                    name,
                    value,
                    source: if adds { Source::Added } else { Source::Literal },
                }
            };
            list_size += field.name.len() + field.value.len() + 32;
            if list_size > limit {
                return Err(HpackError::TooLarge(limit));
            }
            fields.push(field);
        }
        Ok(fields)
    }

    fn entry(&self, index: usize) -> Result<(String, String), HpackError> {
        match index {
            0 => Err(HpackError::Malformed),
            i if i <= STATIC.len() => {
                let (name, value) = STATIC[i - 1];
                Ok((name.to_owned(), value.to_owned()))
            }
            i => self
                .table
                .get(i - STATIC.len() - 1)
                .cloned()
                .ok_or(HpackError::Malformed),
        }
    }

    fn insert(&mut self, name: String, value: String) {
        let size = name.len() + value.len() + 32;
        // An entry larger than the table empties it and is not added (RFC 7541 §4.4).
        self.evict(size);
        if size <= self.max_size {
            self.size += size;
            self.table.push_front((name, value));
        }
    }

    /// Evicts the oldest entries until `room` more bytes fit.
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max_size {
            let Some((name, value)) = self.table.pop_back() else {
                self.size = 0;
                return;
            };
            self.size -= name.len() + value.len() + 32;
        }
    }
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1), advancing `rest` past it.
fn integer(rest: &mut &[u8], n: u32) -> Result<usize, HpackError> {
    let mask = (1usize << n) - 1;
    let (&first, tail) = rest.split_first().ok_or(HpackError::Malformed)?;
    *rest = tail;
    let mut value = usize::from(first) & mask;
    if value < mask {
        return Ok(value);
    }
    let mut shift = 0;
    loop {
        let (&byte, tail) = rest.split_first().ok_or(HpackError::Malformed)?;
        *rest = tail;
        // Four continuation bytes reach 2^28: far beyond any size or index we accept.
        if shift > 21 {
            return Err(HpackError::Malformed);
        }
        value += usize::from(byte & 0x7F) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// An HPACK string literal (RFC 7541 §5.2), Huffman-coded or not.
fn string(rest: &mut &[u8]) -> Result<String, HpackError> {
    let huffman = rest.first().ok_or(HpackError::Malformed)? & 0x80 != 0;
    let len = integer(rest, 7)?;
    if len > rest.len() {
        return Err(HpackError::Malformed);
    }
    let (raw, tail) = rest.split_at(len);
    *rest = tail;
    let bytes = if huffman {
        huffman::decode(raw).ok_or(HpackError::Malformed)?
    } else {
        raw.to_vec()
    };
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// RFC 7541 Appendix A.
const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn pairs(fields: &[Field]) -> Vec<(&str, &str, Source)> {
        fields
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str(), f.source))
            .collect()
    }

    /// RFC 7541 C.4: three requests with Huffman coding, the later ones hitting the table.
    #[test]
    fn rfc_7541_c4_requests_with_huffman() {
        let mut decoder = Decoder::default();
        let first = decoder
            .decode(&hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"), 1 << 16)
            .unwrap();
        assert_eq!(
            pairs(&first),
            [
                (":method", "GET", Source::Static),
                (":scheme", "http", Source::Static),
                (":path", "/", Source::Static),
                (":authority", "www.example.com", Source::Added),
            ]
        );
        let second = decoder
            .decode(&hex("8286 84be 5886 a8eb 1064 9cbf"), 1 << 16)
            .unwrap();
        assert_eq!(
            pairs(&second),
            [
                (":method", "GET", Source::Static),
                (":scheme", "http", Source::Static),
                (":path", "/", Source::Static),
                (":authority", "www.example.com", Source::Dynamic),
                ("cache-control", "no-cache", Source::Added),
            ]
        );
        let third = decoder
            .decode(
                &hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"),
                1 << 16,
            )
            .unwrap();
        assert_eq!(
            pairs(&third)[3..],
            [
                (":authority", "www.example.com", Source::Dynamic),
                ("custom-key", "custom-value", Source::Added),
            ]
        );
        assert_eq!(decoder.size, 164);
    }

    /// RFC 7541 C.5: responses with a 256-byte table, so entries are evicted.
    #[test]
    fn rfc_7541_c5_responses_evict() {
        let mut decoder = Decoder {
            max_size: 256,
            ..Decoder::default()
        };
        let first = hex(
            "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 \
             2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 \
             6c65 2e63 6f6d",
        );
        let fields = decoder.decode(&first, 1 << 16).unwrap();
        assert_eq!(fields[0].value, "302");
        assert_eq!(decoder.size, 222);
        let second = decoder
            .decode(&hex("4803 3330 37c1 c0bf"), 1 << 16)
            .unwrap();
        assert_eq!(
            pairs(&second)[..2],
            [
                (":status", "307", Source::Added),
                ("cache-control", "private", Source::Dynamic),
            ]
        );
        assert_eq!(decoder.size, 222);
    }

    /// A block that indexes one large entry again and again is refused at the limit.
    #[test]
    fn a_bomb_is_refused_at_the_limit() {
        let mut decoder = Decoder::default();
        // A 4,000-byte value (127 + 0x21 + 0x1E << 7), added to the table, then indexed 1,000 times.
        let mut block = vec![0x40, 0x01, b'x', 0x7F, 0xA1, 0x1E];
        block.extend(std::iter::repeat_n(b'v', 4000));
        block.extend(std::iter::repeat_n(0xBE, 1000));
        assert_eq!(
            decoder.decode(&block, 64 * 1024),
            Err(HpackError::TooLarge(64 * 1024))
        );
    }

    #[test]
    fn malformed_blocks_are_errors_not_panics() {
        for block in [
            &[0x80][..],
            &[0xFF],
            &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            &[0x40, 0x05, b'a'],
            &[0xC0],
            &[0x3F, 0xFF, 0xFF, 0x7F],
        ] {
            assert!(
                Decoder::default().decode(block, 1 << 16).is_err(),
                "{block:?}"
            );
        }
    }
}
