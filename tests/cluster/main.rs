//! Several servers on one Redis (`--bus redis://`), with real parts only: a real `redis-server`
//! (Debian's package) on a free loopback port with persistence off, and the real binary started
//! two or three times on port 0. What the README promises across servers is checked here: ids
//! consecutive per room whoever publishes, every subscriber on any server gets every message in
//! order once, Redis stopping and coming back loses no acknowledged message, a server killed
//! with SIGKILL loses nothing for clients that resume elsewhere, and a Redis that lost its data
//! is a reset told in-band.
//!
//! Without `redis-server` on the PATH every test says `SKIPPED:` on stderr and passes;
//! `TRANSPORT_LAB_REQUIRE_SERVICES=1` (CI) makes that a failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod services;
mod subscribers;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use services::{Node, require_redis};
use subscribers::{LongPoller, Sse, collect_ids, post};

/// Long enough for a loaded machine; every wait is bounded by it.
const PATIENCE: Duration = Duration::from_secs(20);

/// Publishers on two servers at once: the ids the 201s carry are exactly 1..=N, and every
/// subscriber, on either server and on each of the five transports, gets exactly 1..=N in order.
#[tokio::test]
async fn ids_are_consecutive_and_complete_across_servers() {
    let Some(redis) = require_redis() else { return };
    let a = Node::start(&redis, "a", &[]);
    let b = Node::start(&redis, "b", &[]);
    const PER_PUBLISHER: u64 = 40;
    const N: u64 = 4 * PER_PUBLISHER;
    let room = "math";

    let subscribers = vec![
        tokio::spawn(collect_ids(a.url(), "sse", room, N)),
        tokio::spawn(collect_ids(b.url(), "sse", room, N)),
        tokio::spawn(collect_ids(a.url(), "stream", room, N)),
        tokio::spawn(collect_ids(b.url(), "ws", room, N)),
        // The polls alternate between the servers, carrying their cursor across.
        tokio::spawn(collect_ids(
            format!("{}|{}", a.url(), b.url()),
            "longpoll",
            room,
            N,
        )),
        tokio::spawn(collect_ids(
            format!("{}|{}", b.url(), a.url()),
            "poll",
            room,
            N,
        )),
    ];
    // Every subscriber is in before the first publish.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let publishers: Vec<_> = [a.url(), a.url(), b.url(), b.url()]
        .into_iter()
        .enumerate()
        .map(|(p, url)| {
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..PER_PUBLISHER {
                    let (status, body) = post(&url, room, &format!("p{p} m{i}")).await;
                    assert_eq!(status, 201, "{body}");
                    ids.push(body["id"].as_u64().unwrap());
                }
                ids
            })
        })
        .collect();
    let mut acknowledged = BTreeSet::new();
    for publisher in publishers {
        let ids = publisher.await.unwrap();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "one publisher's ids increase"
        );
        for id in ids {
            assert!(acknowledged.insert(id), "id {id} given twice");
        }
    }
    assert_eq!(
        acknowledged,
        (1..=N).collect(),
        "no id given twice, none skipped"
    );

    for subscriber in subscribers {
        let (name, ids) = tokio::time::timeout(PATIENCE, subscriber)
            .await
            .expect("every subscriber finishes")
            .unwrap();
        assert_eq!(
            ids,
            (1..=N).collect::<Vec<_>>(),
            "{name}: every id once, in order"
        );
    }
}

/// Redis stops (shut down with its data saved) and comes back while two servers publish and
/// stream: publishing answers 503 with `Retry-After` while it is gone, `/healthz` says
/// `degraded`, and afterwards every subscriber has exactly the acknowledged messages, in order.
#[tokio::test]
async fn redis_stopping_and_returning_loses_no_acknowledged_message() {
    let Some(mut redis) = require_redis() else {
        return;
    };
    let a = Node::start(&redis, "a", &[]);
    let b = Node::start(&redis, "b", &[]);
    let room = "outage";
    let mut on_a = Sse::open(&a.url(), room, None).await;
    let mut on_b = Sse::open(&b.url(), room, None).await;

    let mut acknowledged = Vec::new();
    for i in 0..10 {
        let url = if i % 2 == 0 { a.url() } else { b.url() };
        let (status, body) = post(&url, room, &format!("before {i}")).await;
        assert_eq!(status, 201, "{body}");
        acknowledged.push(body["id"].as_u64().unwrap());
    }

    redis.stop_keeping_data();
    // Both servers notice (a publish fails at once; the health check within a beat).
    let mut refused = 0;
    for i in 0..6 {
        let url = if i % 2 == 0 { a.url() } else { b.url() };
        let response = reqwest::Client::new()
            .post(format!("{url}/api/messages?room={room}"))
            .header("content-type", "text/plain")
            .body(format!("during {i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            503,
            "nothing can be stored without Redis"
        );
        assert!(response.headers().contains_key("retry-after"));
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("Redis"),
            "the error says why: {body}"
        );
        refused += 1;
    }
    assert_eq!(refused, 6);
    let health = wait_for_health(&a.url(), "degraded").await;
    assert!(
        health["reason"].as_str().unwrap().contains("unreachable"),
        "{health}"
    );

    redis.restart();
    wait_for_health(&a.url(), "ok").await;
    wait_for_health(&b.url(), "ok").await;
    for i in 0..10 {
        let url = if i % 2 == 0 { b.url() } else { a.url() };
        let (status, body) = post(&url, room, &format!("after {i}")).await;
        assert_eq!(status, 201, "{body}");
        acknowledged.push(body["id"].as_u64().unwrap());
    }
    assert_eq!(
        acknowledged,
        (1..=20).collect::<Vec<_>>(),
        "ids continue where they were"
    );
    for sse in [&mut on_a, &mut on_b] {
        let ids = sse.ids_until(20, PATIENCE).await;
        assert_eq!(
            ids, acknowledged,
            "the open streams lost nothing and repeated nothing"
        );
        assert!(sse.gaps.is_empty(), "no gap, no reset: {:?}", sse.gaps);
    }
}

/// A server killed with SIGKILL mid-stream: its subscribers resume on the other server with
/// their cursor, and get every acknowledged message once, in order.
#[tokio::test]
async fn a_killed_server_loses_nothing_for_clients_that_resume_elsewhere() {
    let Some(redis) = require_redis() else { return };
    let mut a = Node::start(&redis, "a", &[]);
    let b = Node::start(&redis, "b", &[]);
    let room = "failover";
    let mut sse = Sse::open(&a.url(), room, None).await;
    let mut poller = LongPoller::new(room);
    for i in 0..5 {
        let (status, _) = post(&a.url(), room, &format!("to a {i}")).await;
        assert_eq!(status, 201);
    }
    let mut seen = sse.ids_until(5, PATIENCE).await;
    let mut polled = poller.poll_until(&a.url(), 5).await;
    a.kill();
    for i in 0..5 {
        let (status, _) = post(&b.url(), room, &format!("to b {i}")).await;
        assert_eq!(status, 201);
    }
    // The SSE client reconnects as EventSource does: to another server, with Last-Event-ID.
    let cursor = sse
        .last_event_id
        .clone()
        .expect("the stream named a cursor");
    let mut resumed = Sse::open(&b.url(), room, Some(&cursor)).await;
    seen.extend(resumed.ids_until(5, PATIENCE).await);
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    assert!(resumed.gaps.is_empty(), "{:?}", resumed.gaps);
    polled.extend(poller.poll_until(&b.url(), 10).await);
    assert_eq!(polled, (1..=10).collect::<Vec<_>>());
}

/// A Redis that lost its data (restarted empty) starts a new epoch: a subscriber holding an
/// old cursor is told `reset` in-band and continues in the new run, never handed new messages
/// under old ids; the teacher's start-over on one server resets subscribers on the other.
#[tokio::test]
async fn a_redis_that_lost_its_data_is_a_reset_told_in_band() {
    let Some(mut redis) = require_redis() else {
        return;
    };
    let a = Node::start(&redis, "a", &[]);
    let b = Node::start(&redis, "b", &[]);
    let room = "amnesia";
    let mut sse = Sse::open(&a.url(), room, None).await;
    for i in 0..3 {
        post(&b.url(), room, &format!("old {i}")).await;
    }
    assert_eq!(sse.ids_until(3, PATIENCE).await, vec![1, 2, 3]);
    let old_epoch = sse.epoch.clone().unwrap();

    redis.restart_empty();
    wait_for_health(&a.url(), "ok").await;
    wait_for_health(&b.url(), "ok").await;
    let (status, body) = post(&b.url(), room, "new run").await;
    assert_eq!((status, body["id"].as_u64()), (201, Some(1)), "{body}");
    assert_eq!(sse.ids_until(1, PATIENCE).await, vec![1]);
    let reset = sse.gaps.last().expect("a gap notice came first");
    assert_eq!(reset["reset"], true, "{reset}");
    assert_ne!(reset["epoch"].as_str().unwrap(), old_epoch);

    // A poll with the old cursor, on the other server, is a reset too.
    let (_, polled) = get(&format!(
        "{}/api/poll?room={room}&since={old_epoch}-3",
        a.url()
    ))
    .await;
    assert_eq!(polled["gap"], true, "{polled}");

    // The teacher starts the room over on server b; the stream on a hears it.
    let started: Value = reqwest::Client::new()
        .post(format!("{}/api/reset?room={room}", b.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(started["last_id"], 1, "{started}");
    post(&a.url(), room, "after the reset").await;
    assert_eq!(sse.ids_until(1, PATIENCE).await, vec![1]);
    let reset = sse.gaps.last().unwrap();
    assert_eq!(reset["epoch"], started["epoch"], "{reset}");
}

/// Presence counts members across servers, and a server that stops beating drops out.
#[tokio::test]
async fn presence_counts_every_server() {
    let Some(redis) = require_redis() else { return };
    let a = Node::start(&redis, "a", &[]);
    let mut b = Node::start(&redis, "b", &[]);
    let room = "headcount";
    let _ada = Sse::open_as(&a.url(), room, "ada").await;
    let _bob = Sse::open_as(&b.url(), room, "bob").await;
    let members = |url: String| async move {
        let (_, room) = get(&format!("{url}/api/rooms/{room}")).await;
        (
            room["members"].as_u64(),
            room["by_transport"]["sse"].as_u64(),
        )
    };
    wait_until(|| members(a.url()), (Some(2), Some(2))).await;
    wait_until(|| members(b.url()), (Some(2), Some(2))).await;
    b.kill();
    // b's beat is older than the time to live (5 s): its members no longer count.
    wait_until(|| members(a.url()), (Some(1), Some(1))).await;
}

async fn get(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls `/healthz` until its status is `want`; returns the last answer.
async fn wait_for_health(url: &str, want: &str) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, health) = get(&format!("{url}/healthz")).await;
        if health["status"] == want {
            return health;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/healthz never said {want}: {health}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Calls `probe` until it returns `want`, within [`PATIENCE`].
async fn wait_until<T, F, Fut>(probe: F, want: T)
where
    T: PartialEq + std::fmt::Debug,
    F: Fn() -> Fut,
    Fut: Future<Output = T>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let got = probe().await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited for {want:?}, still {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
