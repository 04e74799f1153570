//! transport-lab: chat rooms served over five realtime web transports (short polling, long
//! polling, HTTP streaming, Server-Sent Events, WebSocket) that all read one in-memory message bus.
//!
//! # Layout
//! - [`config`]: command line and environment, with the documented defaults.
//! - [`startup`]: bind, build the server, run it, shut it down gracefully.
//! - [`shutdown`]: the shutdown sequence that loses no acknowledged message.
//! - [`admission`]: what a connection admitted over the cap may ask (the health endpoints).
//! - [`limits`]: connection caps and the publish rate per IP address.
//! - [`lock`]: taking a mutex whose holder panicked.
//! - [`state`]: what every handler shares.
//! - [`routes`]: every path the server answers.
//! - [`bus`]: every room, created on first use and bounded; the sweep that drops idle ones.
//! - [`backplane`]: `--bus redis://`: several servers on one Redis, each room's log kept there.
//! - [`room`]: one room's log: ids, bounded history, gaps, wake-ups.
//! - [`presence`]: who is in a room, by transport.
//! - [`rooms`]: `GET /api/rooms`: the rooms, their members and their histories.
//! - [`origin`]: which web pages may act on this server (cross-site checks).
//! - [`message`]: a chat message, encoded once into the bytes every transport sends.
//! - [`compose`]: parsing and validating what clients send.
//! - [`params`]: strict decoding of query strings and form bodies.
//! - [`publish`]: `POST /api/messages`.
//! - [`reset`]: `POST /api/reset`: the teacher starts a room over (new epoch, no history).
//! - [`teacher`]: who may act as the teacher (the server's own machine, or the teacher token).
//! - [`response_headers`]: what every answer says about itself (`nosniff`, no stray upgrade).
//! - [`permit`]: may this peer publish now (rate, shutdown)? Asked by both ways of sending.
//! - [`transports`]: the five transports, one file each, and the cursor loop they share.
//! - [`ledger`]: the wire ledger: every byte counted on the socket, by transport, client and kind.
//! - [`stats`]: the ledger's endpoints (`/api/stats`, its SSE stream, the tap, `/metrics`).
//! - [`overhead`]: per-request and per-message cost measured on a private server (`/api/overhead`).
//! - [`pages`] and [`assets`]: the HTML pages and their static files.
//! - [`classroom`]: `/class`: the address students reach, its LAN variants, its QR code.
//! - [`error`]: the JSON error every failure becomes.

pub mod admission;
pub mod assets;
pub mod backplane;
pub mod bus;
pub mod classroom;
pub mod compose;
pub mod config;
pub mod error;
pub mod lab;
pub mod ledger;
pub mod limits;
pub mod lock;
pub mod message;
pub mod origin;
pub mod overhead;
pub mod pages;
pub mod params;
pub mod permit;
pub mod presence;
pub mod publish;
pub mod reset;
pub mod response_headers;
pub mod room;
pub mod rooms;
pub mod routes;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod stats;
pub mod teacher;
pub mod tls;
pub mod transports;
