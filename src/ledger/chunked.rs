//! The HTTP/1.1 chunked transfer-coding, parsed incrementally: `<hex size>\r\n<data>\r\n` per
//! chunk, then `0\r\n`, optional trailers and a blank line. Separates the framing bytes (which
//! the ledger counts as framing) from the data bytes (which the body classifier sorts).

/// A run of bytes in a chunked body.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Size lines, the CRLF after each chunk's data, the last chunk and trailers.
    Framing(&'a [u8]),
    /// Chunk data.
    Data(&'a [u8]),
}

/// The body does not follow the chunked coding; the connection can no longer be followed.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

/// Longest size or trailer line we follow (sizes with extensions are short).
const MAX_LINE: usize = 4096;

#[derive(Debug, Default)]
pub struct Chunked {
    state: State,
    /// Length of the size or trailer line read so far.
    line_len: usize,
    /// The hex digits of the size line so far.
    size_text: Vec<u8>,
    in_extension: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Size,
    Data(u64),
    DataEnd(u8),
    Trailer,
    Done,
}

impl Chunked {
    /// Feeds bytes; reports pieces to `on`. Returns how many bytes belong to this body (fewer than
    /// `input.len()` once the body has ended: the rest starts the next message) and whether the
    /// body is complete.
    pub fn feed<'a>(
        &mut self,
        input: &'a [u8],
        mut on: impl FnMut(Piece<'a>),
    ) -> Result<(usize, bool), Malformed> {
        let mut at = 0;
        while at < input.len() && self.state != State::Done {
            let rest = &input[at..];
            match self.state {
                State::Size | State::Trailer => {
                    let take = rest
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(rest.len(), |i| i + 1);
                    let piece = &rest[..take];
                    self.line_len += take;
                    if self.line_len > MAX_LINE {
                        return Err(Malformed);
                    }
                    if self.state == State::Size {
                        for &b in piece {
                            match b {
                                b';' => self.in_extension = true,
                                b'\r' | b'\n' | b' ' | b'\t' => {}
                                _ if !self.in_extension => self.size_text.push(b),
                                _ => {}
                            }
                        }
                    }
                    on(Piece::Framing(piece));
                    at += take;
                    if piece.last() == Some(&b'\n') {
                        let line_was_blank = self.line_len <= 2;
                        self.line_len = 0;
                        if self.state == State::Trailer {
                            if line_was_blank {
                                self.state = State::Done;
                            }
                        } else {
                            let text =
                                std::str::from_utf8(&self.size_text).map_err(|_| Malformed)?;
                            let size = u64::from_str_radix(text, 16).map_err(|_| Malformed)?;
                            self.size_text.clear();
                            self.in_extension = false;
                            self.state = if size == 0 {
                                State::Trailer
                            } else {
                                State::Data(size)
                            };
                        }
                    }
                }
                State::Data(remaining) => {
                    let take = rest
                        .len()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    on(Piece::Data(&rest[..take]));
                    at += take;
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd(2)
                    } else {
                        State::Data(left)
                    };
                }
                State::DataEnd(remaining) => {
                    let take = rest.len().min(remaining as usize);
                    on(Piece::Framing(&rest[..take]));
                    at += take;
                    let left = remaining - take as u8;
                    self.state = if left == 0 {
                        State::Size
                    } else {
                        State::DataEnd(left)
                    };
                }
                State::Done => {}
            }
        }
        Ok((at, self.state == State::Done))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(parts: &[&[u8]]) -> (Vec<u8>, Vec<u8>, bool, usize) {
        let mut chunked = Chunked::default();
        let (mut framing, mut data, mut done, mut used) = (vec![], vec![], false, 0);
        for part in parts {
            let (n, d) = chunked
                .feed(part, |p| match p {
                    Piece::Framing(b) => framing.extend_from_slice(b),
                    Piece::Data(b) => data.extend_from_slice(b),
                })
                .unwrap();
            used += n;
            done = d;
        }
        (framing, data, done, used)
    }

    /// Framing and data are separated exactly, however the bytes are split.
    #[test]
    fn separates_framing_from_data_across_splits() {
        let wire =
            b"1B\r\n{\"type\":\"ready\",\"since\":0}\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\nGET /next";
        let whole = split(&[wire]);
        assert_eq!(whole.1, b"{\"type\":\"ready\",\"since\":0}\nhello");
        assert_eq!(whole.0, b"1B\r\n\r\n5;ext=1\r\n\r\n0\r\n\r\n");
        assert!(whole.2);
        assert_eq!(
            whole.3,
            wire.len() - b"GET /next".len(),
            "stops at the end of the body"
        );
        let bytewise: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(split(&bytewise), whole);
    }

    /// A size that is not hex is malformed.
    #[test]
    fn rejects_bad_size() {
        assert_eq!(Chunked::default().feed(b"zz\r\n", |_| {}), Err(Malformed));
    }
}
