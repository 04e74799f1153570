//! The ledger's HTTP/1.1 follower against the parser the server really uses: for arbitrary bytes
//! sent by a client, the follower must find the request heads httparse finds (actix-http's h1
//! codec parses with `httparse::Request` and its default config), with the same lengths, and
//! count each complete one, its bytes and its body, under the transport it names.
//!
//! The reference walks the bytes as actix-http does: parse a head, skip its body by
//! `Content-Length`, parse the next. It stops where actix-http stops reading requests: at a head
//! httparse refuses (actix answers `400` and closes), and after a head whose body it does not
//! delimit by `Content-Length` (a `Transfer-Encoding`, a WebSocket upgrade, `CONNECT`) or whose
//! `Content-Length` actix refuses; the follower is fed exactly the bytes compared. Two checks:
//! `head_end` at every head, and a whole `Conversation` fed those bytes in pieces of a size the
//! first input byte picks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use transport_lab::ledger::http1::{Conversation, head_end};
use transport_lab::ledger::{Ledger, Split};
use transport_lab::params::Params;
use transport_lab::transports::Transport;

/// Headers actix-http parses a request with (`MAX_HEADERS` in its h1 decoder); more is an error.
const MAX_HEADERS: usize = 96;

/// What actix-http reads after a complete head.
enum Next {
    /// A body of this many bytes (0: none), then the next request.
    Body(u64),
    /// No more requests to compare: the rest is a chunked body, a WebSocket or tunnel stream, or
    /// the head is refused for its framing.
    Stop,
}

/// How actix-http's h1 decoder frames what follows this head.
fn next(request: &httparse::Request<'_, '_>) -> Next {
    if request.method == Some("CONNECT") {
        return Next::Stop;
    }
    let mut length = None;
    for header in request.headers.iter() {
        let value = std::str::from_utf8(header.value).map(|v| v.trim_matches([' ', '\t']));
        let websocket = header.name.eq_ignore_ascii_case("upgrade")
            && value.is_ok_and(|v| v.eq_ignore_ascii_case("websocket"));
        if websocket || header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Next::Stop;
        }
        if header.name.eq_ignore_ascii_case("content-length") {
            // actix refuses a second Content-Length, and any value but plain decimal digits.
            let valid = value
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok());
            match (length, valid) {
                (None, Some(n)) => length = Some(n),
                _ => return Next::Stop,
            }
        }
    }
    Next::Body(length.unwrap_or(0))
}

/// The transport a request target is counted under: its path, or for a post the `transport`
/// it names.
fn transport(target: &str) -> Option<Transport> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params = Params::query(query).unwrap_or_default();
    if path == "/api/messages" {
        params.get("transport").and_then(Transport::from_name)
    } else {
        Transport::from_path(path)
    }
}

/// What the follower must have counted per transport: (requests, bytes up by kind).
type Expected = [(u64, Split); Transport::COUNT];

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let step = usize::from(split % 64) + 1;

    // Walk the bytes as actix-http does, checking `head_end` at every head.
    let mut expected: Expected = Default::default();
    let mut at = 0;
    let compared = loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let rest = &bytes[at..];
        match request.parse(rest) {
            Err(_) => break at,
            Ok(httparse::Status::Partial) => {
                assert_eq!(head_end(rest), None, "unfinished head at {at}");
                break bytes.len();
            }
            Ok(httparse::Status::Complete(len)) => {
                assert_eq!(head_end(rest), Some(len), "head at {at}");
                let counted = request.path.and_then(transport);
                let next = next(&request);
                at += len;
                let body = match next {
                    Next::Body(n) => n.min((bytes.len() - at) as u64),
                    Next::Stop => 0,
                };
                if let Some(t) = counted {
                    let (requests, up) = &mut expected[t.index()];
                    *requests += 1;
                    up.header += len as u64;
                    up.payload += body;
                }
                at += body as usize;
                if matches!(next, Next::Stop) {
                    break at;
                }
            }
        }
    };

    // The follower, fed the same bytes cut into pieces, counts the same.
    let ledger = Ledger::new();
    let mut conn = Conversation::new(ledger.clone(), 1 << 20);
    for piece in bytes[..compared].chunks(step) {
        conn.on_read(piece).unwrap();
    }
    let stats = ledger.stats(None).unwrap().transports;
    for t in Transport::ALL {
        let got = stats.get(t);
        assert_eq!((got.requests, got.up), expected[t.index()], "{t}");
        assert_eq!(got.down, Split::default(), "{t}");
    }
});
