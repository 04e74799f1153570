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
    let Some((_redis, a, b)) = two_servers() else {
        return;
    };
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
    let Some((mut redis, a, b)) = two_servers() else {
        return;
    };
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
    let Some((_redis, mut a, b)) = two_servers() else {
        return;
    };
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
    let Some((mut redis, a, b)) = two_servers() else {
        return;
    };
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
    let Some((_redis, a, mut b)) = two_servers() else {
        return;
    };
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

/// A Redis and two servers on it, `a` and `b`; `None` (skipped) without `redis-server`.
fn two_servers() -> Option<(services::Redis, Node, Node)> {
    let redis = require_redis()?;
    let a = Node::start(&redis, "a", &[]);
    let b = Node::start(&redis, "b", &[]);
    Some((redis, a, b))
}

/// The body of a GET, as text.
async fn get_text(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
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
        // Refused while a server is still starting: that is "not yet", not a failure.
        let health = match reqwest::get(format!("{url}/healthz")).await {
            Ok(response) => response.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
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

/// The backplane's bytes are counted on its sockets, to the byte: one publish costs the
/// publishing server exactly one `EVALSHA` up and its `{epoch, id}` reply down, and every server
/// exactly one pub/sub message, as RESP encodes them (computed here independently of the server).
#[tokio::test]
async fn the_backplane_is_counted_to_the_byte() {
    let Some((_redis, a, b)) = two_servers() else {
        return;
    };
    let room = "bytes";
    // The first publish loads the script into Redis (EVALSHA, NOSCRIPT, SCRIPT LOAD, EVALSHA).
    let (status, _) = post(&a.url(), room, "warm up").await;
    assert_eq!(status, 201);
    wait_until(|| heard(b.url()), 1).await;
    let (before_a, before_b) = (backplane(&a.url()).await, backplane(&b.url()).await);

    let text = "exact, to the byte";
    let sent: Value = reqwest::Client::new()
        .post(format!("{}/api/messages?room={room}", a.url()))
        .json(&serde_json::json!({"user": "ada", "text": text}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, ts) = (sent["id"].as_u64().unwrap(), sent["ts"].as_u64().unwrap());
    wait_until(|| heard(b.url()), 2).await;
    wait_until(|| heard(a.url()), 2).await;
    let (after_a, after_b) = (backplane(&a.url()).await, backplane(&b.url()).await);
    let (_, polled) = get(&format!("{}/api/poll?room={room}&since=0", b.url())).await;
    let cursor = polled["cursor"].as_str().unwrap();
    let epoch = cursor.split_once('-').unwrap().0;

    let delta = |after: &Value, before: &Value, connection: &str, direction: &str| {
        after["counts"][connection][direction].as_u64().unwrap()
            - before["counts"][connection][direction].as_u64().unwrap()
    };
    let keys = [
        format!("tl:{{{room}}}:epoch"),
        format!("tl:{{{room}}}:seq"),
        format!("tl:{{{room}}}:log"),
    ];
    let (id_text, ts_text) = (id.to_string(), ts.to_string());
    let call = resp(&[
        b"EVALSHA",
        &[b'0'; 40], // the script's SHA-1: 40 hex digits
        b"3",
        keys[0].as_bytes(),
        keys[1].as_bytes(),
        keys[2].as_bytes(),
        b"newone", // the epoch the room would get if it had none: 6 characters
        b"1000",   // --history
        ts_text.as_bytes(),
        b"",
        b"ada",
        text.as_bytes(),
        room.as_bytes(),
    ]);
    let reply = format!("*2\r\n${}\r\n{epoch}\r\n:{id}\r\n", epoch.len()).len() as u64;
    let payload = format!("m\n{room}\n{epoch}\n{id_text}\n{ts_text}\n\nada\n{text}");
    let announcement = resp(&[b"message", b"tl:bus", payload.as_bytes()]);

    assert_eq!(delta(&after_a, &before_a, "publish", "to_redis"), call);
    assert_eq!(delta(&after_a, &before_a, "publish", "from_redis"), reply);
    for (after, before) in [(&after_a, &before_a), (&after_b, &before_b)] {
        assert_eq!(
            delta(after, before, "announcements", "from_redis"),
            announcement
        );
        assert_eq!(delta(after, before, "announcements", "to_redis"), 0);
    }
    assert_eq!(
        delta(&after_b, &before_b, "publish", "to_redis"),
        0,
        "b published nothing"
    );
    assert_eq!(after_a["node"], "a");
    // Each server names the others it hears beating (once a second).
    wait_until(
        || async { backplane(&a.url()).await["other_nodes"].clone() },
        serde_json::json!(["b"]),
    )
    .await;

    // `/overhead` shows the same counts in its "what scale-out adds" row.
    let page = get_text(&format!("{}/overhead", b.url())).await;
    assert!(page.contains("What scale-out adds per message"));
    let wire = &after_b["counts"]["announcements"];
    let average = (wire["from_redis"].as_u64().unwrap()
        - wire["setup_from_redis"].as_u64().unwrap()) as f64
        / 2.0;
    assert!(
        page.contains(&format!("{average:.1}</td><td>2 messages heard")),
        "{average:.1} in {page}"
    );

    let metrics = get_text(&format!("{}/metrics", a.url())).await;
    let line = format!(
        "transport_lab_backplane_bytes_total{{node=\"a\",connection=\"publish\",direction=\"to_redis\"}} {}",
        after_a["counts"]["publish"]["to_redis"]
    );
    assert!(metrics.contains(&line), "{line} in\n{metrics}");
}

/// RESP's encoding of a command (or a pub/sub message): an array of bulk strings.
fn resp(parts: &[&[u8]]) -> u64 {
    let head = format!("*{}\r\n", parts.len()).len();
    let body: usize = parts
        .iter()
        .map(|p| format!("${}\r\n", p.len()).len() + p.len() + 2)
        .sum();
    (head + body) as u64
}

/// The `backplane` object of a server's `/api/stats`.
async fn backplane(url: &str) -> Value {
    let (_, stats) = get(&format!("{url}/api/stats")).await;
    stats["backplane"].clone()
}

/// Messages a server heard announced.
async fn heard(url: String) -> u64 {
    backplane(&url).await["counts"]["heard"].as_u64().unwrap()
}

/// A server that cannot reach Redis starts anyway, says why on `/healthz`, and refuses to open
/// rooms or store messages with 503 rather than serve a log it cannot know; a bad `--bus` is
/// refused at start with a clear message.
#[tokio::test]
async fn without_redis_the_server_says_so() {
    let Some(redis) = require_redis() else { return };
    let gone = redis.url();
    drop(redis);
    let (url, _child) = services::start_unconnected(&gone);
    let health = wait_for_health(&url, "degraded").await;
    assert!(
        health["reason"].as_str().unwrap().contains("Redis"),
        "{health}"
    );
    for path in ["/api/poll?since=0", "/api/longpoll?since=0&timeout=1"] {
        let (status, body) = get(&format!("{url}{path}")).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert!(body["error"].as_str().unwrap().contains("Redis"), "{body}");
    }
    let (status, body) = post(&url, "lobby", "into the void").await;
    assert_eq!(status, 503, "{body}");

    for bad in ["redis:/nope", "postgres://x", "redis://host:notaport"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_transport-lab"))
            .args(["--bind", "127.0.0.1:0", "--bus", bad])
            .output()
            .unwrap();
        assert!(!out.status.success(), "--bus {bad} is refused");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--bus"), "{stderr}");
    }
}

/// The README's two-server recipe, run as written: its two `cargo run` lines (as the built
/// binary) and its `curl` lines, with the test's free ports in place of 6379, 8080 and 8081.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_two_server_recipe_works_as_written() {
    let Some(redis) = require_redis() else { return };
    let readme = include_str!("../../README.md");
    let start = readme.find("## Beyond one machine").expect("the section");
    let block = readme[start..]
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the recipe");
    let (a_port, b_port) = (services::free_port(), services::free_port());
    let local = |line: &str| {
        line.replace("6379", &redis.port.to_string())
            .replace("8080", &a_port.to_string())
            .replace("8081", &b_port.to_string())
            .replace(
                "cargo run --release --",
                &format!("exec {}", env!("CARGO_BIN_EXE_transport-lab")),
            )
    };
    let mut servers = Vec::new();
    let mut outputs = Vec::new();
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        if line.starts_with("redis-server") {
            continue; // the test's own, on its free port
        }
        let line = local(line);
        if line.starts_with("exec ") {
            servers.push(services::Background::bash(&line));
            continue;
        }
        for url in [a_port, b_port].map(|p| format!("http://127.0.0.1:{p}")) {
            wait_for_health(&url, "ok").await;
        }
        let out = std::process::Command::new("bash")
            .args(["-c", &line])
            .output()
            .unwrap();
        assert!(out.status.success(), "{line}");
        outputs.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    assert_eq!(servers.len(), 2, "two servers");
    assert!(outputs[0].starts_with(r#"{"id":1,"#), "{}", outputs[0]);
    assert!(outputs[1].starts_with(r#"{"id":2,"#), "{}", outputs[1]);
    let poll = &outputs[2];
    assert!(poll.contains("x-transport-lab-node: b"), "{poll}");
    assert!(
        poll.contains(r#""text":"to a""#) && poll.contains(r#""text":"to b""#),
        "{poll}"
    );
}

/// The Socket.IO lane on a shared bus: a session on server a (Engine.IO long polling, spoken
/// here as `curl` would) gets a message posted on server b, and its own `chat` emit reaches an
/// SSE stream on b, with the id Redis gave it in the ack.
#[tokio::test]
async fn socketio_sessions_share_the_bus() {
    let Some((_redis, a, b)) = two_servers() else {
        return;
    };
    let room = "sio";
    let mut on_b = Sse::open(&b.url(), room, None).await;
    let http = reqwest::Client::new();
    let engine = format!("{}/socket.io/?EIO=4&transport=polling&room={room}", a.url());
    let open = get_text(&engine).await;
    let open: Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
    let session = format!("{engine}&sid={}", open["sid"].as_str().unwrap());
    let send = |body: &'static str| {
        let (http, session) = (http.clone(), session.clone());
        async move {
            let answer = http.post(&session).body(body).send().await.unwrap();
            assert_eq!(answer.status(), 200);
        }
    };
    // Each poll returns what is there (or waits for the next packet): read until `wanted` shows.
    let poll_until = |wanted: &'static str| {
        let session = session.clone();
        async move {
            let mut seen = String::new();
            tokio::time::timeout(PATIENCE, async {
                while !seen.contains(wanted) {
                    let body = get_text(&session).await;
                    seen.push_str(&body);
                    seen.push('\u{1e}');
                }
            })
            .await
            .unwrap_or_else(|_| panic!("{wanted} never came: {seen}"));
            seen
        }
    };
    send("40").await;
    let connected = poll_until("42[\"ready\"").await;
    assert!(connected.contains("\"node\":\"a\""), "{connected}");

    let (status, posted) = post(&b.url(), room, "from b").await;
    assert_eq!(status, 201);
    let heard = poll_until("from b").await;
    assert!(
        heard.contains(&format!(
            r#"42["chat",{{"id":{},"room":"{room}""#,
            posted["id"]
        )),
        "{heard}"
    );

    send(r#"421["chat",{"user":"ada","text":"from a"}]"#).await;
    let acked = poll_until("431[").await;
    assert!(acked.contains("431[{\"id\":2}]"), "{acked}");
    assert_eq!(on_b.ids_until(2, PATIENCE).await, vec![1, 2]);
}

/// A cursor ahead of a server's copy of the room is news from Redis that server has not heard
/// yet, not a cursor of another run: the server reads the room from Redis before it answers, so
/// a client moving between servers is never told `reset` because one of them lags.
#[tokio::test]
async fn a_cursor_ahead_of_a_lagging_server_is_not_a_reset() {
    let Some((redis, a, b)) = two_servers() else {
        return;
    };
    let room = "lag";
    for i in 0..2 {
        assert_eq!(post(&a.url(), room, &format!("m{i}")).await.0, 201);
    }
    let (_, polled) = get(&format!("{}/api/poll?room={room}&since=0", b.url())).await;
    assert_eq!(polled["last_id"], 2, "{polled}");
    let epoch = polled["cursor"]
        .as_str()
        .unwrap()
        .split_once('-')
        .unwrap()
        .0
        .to_owned();
    // Message 3 reaches Redis the way a publish does, but its announcement never comes: b lags.
    assert_eq!(
        redis.command(&format!("INCR tl:{{{room}}}:seq")).as_deref(),
        Some(":3\r\n")
    );
    redis
        .command(&format!(
            r#"XADD tl:{{{room}}}:log 3-0 ts 1 x "" u eve t unheard"#
        ))
        .unwrap();
    for transport in ["poll", "longpoll"] {
        let (status, answer) = get(&format!(
            "{}/api/{transport}?room={room}&since={epoch}-3&timeout=1",
            b.url()
        ))
        .await;
        assert_eq!(status, 200);
        assert_eq!(answer["gap"], false, "{transport}: {answer}");
        assert_eq!(answer["cursor"], format!("{epoch}-3"), "{answer}");
    }
    let mut sse = Sse::open(&b.url(), room, Some(&format!("{epoch}-2"))).await;
    post(&a.url(), room, "m3").await;
    assert_eq!(sse.ids_until(2, PATIENCE).await, vec![3, 4]);
    assert!(sse.gaps.is_empty(), "{:?}", sse.gaps);
}
