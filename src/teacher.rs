//! Who may act as the teacher: start a room over (`POST /api/reset`, see [`crate::reset`]).
//!
//! The server's own machine may (a request from a loopback address: the teacher at the laptop
//! that runs the server), and so may anyone who shows the teacher token as
//! `Authorization: Bearer TOKEN`: `--teacher-token`, or one made up at start and printed in the
//! log. Everyone else, a student on the classroom's LAN included, gets a 403. A token that is
//! sent must be the right one, even from loopback. `--teacher-token-required` takes the loopback
//! exemption away, for a server behind a reverse proxy on the same machine (every request then
//! arrives from loopback).
//!
//! Pages of other sites are refused before this (see [`crate::origin::check_teacher`]): the
//! teacher's browser on the server's machine counts as loopback.

use std::io::Read;

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;

use crate::config::Config;
use crate::error::AppError;

/// What proves a request is the teacher's.
#[derive(Clone)]
pub struct Teacher {
    token: String,
    /// Requests from a loopback address need no token.
    loopback: bool,
}

impl Teacher {
    pub fn new(config: &Config) -> Self {
        Self {
            token: config.teacher_token.clone().unwrap_or_else(new_token),
            loopback: !config.teacher_token_required,
        }
    }

    /// The token, to print at start.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// `Ok` for the teacher's request; a 403 that says what is missing otherwise.
    pub fn check(&self, req: &HttpRequest) -> Result<(), AppError> {
        match req.headers().get(AUTHORIZATION) {
            Some(value) => {
                let shown = value
                    .as_bytes()
                    .strip_prefix(b"Bearer ")
                    .unwrap_or_default();
                if same(shown, self.token.as_bytes()) {
                    Ok(())
                } else {
                    Err(AppError::Forbidden(
                        "the teacher token does not match (Authorization: Bearer TOKEN, the token \
                         the server printed at start or was given with --teacher-token)"
                            .into(),
                    ))
                }
            }
            None if self.loopback && req.peer_addr().is_some_and(|a| a.ip().is_loopback()) => {
                Ok(())
            }
            None => Err(AppError::Forbidden(
                "only the teacher may start a room over: from the server's own machine, or with \
                 Authorization: Bearer TOKEN (the token the server printed at start, or \
                 --teacher-token)"
                    .into(),
            )),
        }
    }
}

/// Equal, in a time that does not depend on where they differ (a token is guessed byte by byte
/// otherwise).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A token of 128 random bits, as 22 characters of `A-Z a-z 0-9`.
pub fn new_token() -> String {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut bytes = [0u8; 16];
    let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if from_os.is_err() {
        // No /dev/urandom (not Linux): the standard library's per-process random hash keys.
        use std::hash::{BuildHasher, RandomState};
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let bits = RandomState::new().hash_one((i, std::time::SystemTime::now()));
            chunk.copy_from_slice(&bits.to_le_bytes());
        }
    }
    let mut n = u128::from_le_bytes(bytes);
    (0..22)
        .map(|_| {
            let digit = DIGITS[(n % 62) as usize];
            n /= 62;
            char::from(digit)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens are 22 characters a `--teacher-token` would accept, and differ.
    #[test]
    fn tokens_are_random_and_well_formed() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 22);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"abc", b"ab"));
    }
}
