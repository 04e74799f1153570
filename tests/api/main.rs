//! Integration tests: the real server on port 0, real sockets, one binary.

// A test that meets an unexpected state should stop right there, with the value in the message.
#![allow(clippy::unwrap_used)]

mod bad_input;
mod chaos;
mod delivery;
mod gap;
mod hardening;
mod helpers;
mod hostile;
mod http2;
mod lab;
mod ledger;
mod long_poll;
mod newcomer;
mod overhead;
mod pages;
mod peer_gone;
mod raw;
mod readme;
mod reset;
mod restart;
mod rooms;
mod shutdown;
mod socketio;
mod sse;
mod stream;
mod ws;
