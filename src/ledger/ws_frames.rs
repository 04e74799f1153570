//! WebSocket frames (RFC 6455 section 5.2), parsed incrementally from either direction: header,
//! extended length, masking key, payload. The ledger needs each frame's header size and opcode;
//! the tap shows a decoded view with the payload unmasked.

/// Payload bytes kept per frame for classification and the tap; the rest is only counted.
pub const PREVIEW: usize = 1024;

/// A complete frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub masked: bool,
    /// Header bytes: 2, plus 2 or 8 for longer lengths, plus 4 for the masking key.
    pub header_len: u64,
    pub payload_len: u64,
    /// The first [`PREVIEW`] payload bytes, unmasked.
    pub preview: Vec<u8>,
}

impl Frame {
    pub fn opcode_name(&self) -> &'static str {
        match self.opcode {
            0x0 => "continuation",
            0x1 => "text",
            0x2 => "binary",
            0x8 => "close",
            0x9 => "ping",
            0xA => "pong",
            _ => "reserved",
        }
    }
    pub fn is_ping_or_pong(&self) -> bool {
        matches!(self.opcode, 0x9 | 0xA)
    }
}

/// A frame header declared a payload longer than the parser's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge(pub u64);

/// Longest frame header: 2 bytes, an 8-byte extended length, a 4-byte masking key.
const MAX_HEADER: usize = 14;

#[derive(Debug)]
pub struct FrameParser {
    /// The header read so far, in place: it is at most [`MAX_HEADER`] bytes, and a `Vec` here
    /// cost a push per header byte on every frame the server writes.
    header: [u8; MAX_HEADER],
    /// How much of `header` is filled.
    header_len: usize,
    current: Option<(Frame, [u8; 4], u64)>,
    /// Longest payload a header may declare.
    limit: u64,
}

impl Default for FrameParser {
    fn default() -> Self {
        Self::with_limit(u64::MAX)
    }
}

impl FrameParser {
    /// A parser that refuses frames declaring more than `limit` payload bytes.
    pub fn with_limit(limit: u64) -> Self {
        Self {
            header: [0; MAX_HEADER],
            header_len: 0,
            current: None,
            limit,
        }
    }

    /// Feeds bytes; calls `on` for each frame completed. Stops with `TooLarge` at a header that
    /// declares more than the limit, before any of that frame's payload is taken.
    pub fn feed(&mut self, mut input: &[u8], mut on: impl FnMut(Frame)) -> Result<(), TooLarge> {
        while !input.is_empty() {
            match &mut self.current {
                None => {
                    // header_complete() asks for no more than MAX_HEADER bytes, so this fits.
                    self.header[self.header_len] = input[0];
                    self.header_len += 1;
                    input = &input[1..];
                    if let Some(frame) = self.header_complete() {
                        self.header_len = 0;
                        if frame.0.payload_len > self.limit {
                            return Err(TooLarge(frame.0.payload_len));
                        }
                        let remaining = frame.0.payload_len;
                        if remaining == 0 {
                            on(frame.0);
                        } else {
                            self.current = Some((frame.0, frame.1, remaining));
                        }
                    }
                }
                Some((frame, mask, remaining)) => {
                    let take = input
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    let offset = frame.payload_len - *remaining;
                    // The part of this input still inside the preview, copied in one go (a push
                    // per byte was the WebSocket fan-out's hottest line in the ledger).
                    let kept = (PREVIEW as u64).saturating_sub(offset).min(take as u64) as usize;
                    if kept > 0 {
                        let bytes = &input[..kept];
                        if frame.masked {
                            let start = offset as usize;
                            frame.preview.extend(
                                bytes
                                    .iter()
                                    .enumerate()
                                    .map(|(i, b)| b ^ mask[(start + i) % 4]),
                            );
                        } else {
                            frame.preview.extend_from_slice(bytes);
                        }
                    }
                    input = &input[take..];
                    *remaining -= take as u64;
                    if *remaining == 0
                        && let Some((frame, _, _)) = self.current.take()
                    {
                        on(frame);
                    }
                }
            }
        }
        Ok(())
    }

    /// The frame and masking key, once the header buffer holds a whole header.
    fn header_complete(&self) -> Option<(Frame, [u8; 4])> {
        let h = &self.header[..self.header_len];
        if h.len() < 2 {
            return None;
        }
        let masked = h[1] & 0x80 != 0;
        let len_code = h[1] & 0x7F;
        let ext = match len_code {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let need = 2 + ext + if masked { 4 } else { 0 };
        if h.len() < need {
            return None;
        }
        let payload_len = match ext {
            2 => u64::from(u16::from_be_bytes([h[2], h[3]])),
            8 => u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]),
            _ => u64::from(len_code),
        };
        let mut mask = [0; 4];
        if masked {
            mask.copy_from_slice(&h[2 + ext..need]);
        }
        Some((
            Frame {
                fin: h[0] & 0x80 != 0,
                opcode: h[0] & 0x0F,
                masked,
                header_len: need as u64,
                payload_len,
                // Room for the whole preview at once, so it is filled without regrowing.
                preview: Vec::with_capacity(payload_len.min(PREVIEW as u64) as usize),
            },
            mask,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(wire: &[u8], split: usize) -> Vec<Frame> {
        let mut parser = FrameParser::default();
        let mut out = vec![];
        for part in wire.chunks(split) {
            parser.feed(part, |f| out.push(f)).unwrap();
        }
        out
    }

    /// A masked client text frame, an unmasked 126-length server frame and an empty ping,
    /// parsed the same whole or byte by byte.
    #[test]
    fn parses_frames_in_any_split() {
        let mask = [1u8, 2, 3, 4];
        let text = b"hi!";
        let mut wire = vec![0x81, 0x80 | 3];
        wire.extend_from_slice(&mask);
        wire.extend(text.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        wire.extend_from_slice(&[0x81, 126, 0x01, 0x00]);
        wire.extend(std::iter::repeat_n(b'x', 256));
        wire.extend_from_slice(&[0x89, 0x00]);

        for split in [wire.len(), 1, 7] {
            let got = frames(&wire, split);
            assert_eq!(got.len(), 3);
            assert_eq!(
                (
                    got[0].opcode_name(),
                    got[0].masked,
                    got[0].header_len,
                    got[0].payload_len
                ),
                ("text", true, 6, 3)
            );
            assert_eq!(got[0].preview, text);
            assert_eq!(
                (got[1].header_len, got[1].payload_len, got[1].preview.len()),
                (4, 256, 256)
            );
            assert_eq!(
                (
                    got[2].opcode_name(),
                    got[2].header_len,
                    got[2].payload_len,
                    got[2].fin
                ),
                ("ping", 2, 0, true)
            );
        }
    }

    /// A header declaring more than the limit is refused before its payload arrives.
    #[test]
    fn refuses_oversized_declared_length() {
        let mut parser = FrameParser::with_limit(1000);
        let mut wire = vec![0x81, 0x80 | 127];
        wire.extend_from_slice(&(1u64 << 40).to_be_bytes());
        wire.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(parser.feed(&wire, |_| {}), Err(TooLarge(1 << 40)));
    }
}
