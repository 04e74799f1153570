//! The README's `curl` and shell recipes, run as written against a real server (its address put
//! in for `localhost:8080`), so a recipe cannot rot: each must succeed and say what it promises,
//! and the long-polling loop must keep going, and lose nothing, across a server restart.

use std::process::{Command, Output};
use std::time::Duration;

use crate::helpers::{TestApp, spawn_app};

/// The shell blocks of the README's "Try it with curl" section.
fn recipes() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let start = readme.find("## Try it with curl").expect("the section");
    let end = start
        + readme[start..]
            .find("\n## The API")
            .expect("the next section");
    readme[start..end]
        .split("```sh\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap_or_default().to_owned())
        .collect()
}

/// Runs `script` in bash for at most `seconds`, with the server's address in place.
fn run(app: &TestApp, script: &str, seconds: u32) -> Output {
    let script = script.replace("localhost:8080", &app.addr.to_string());
    Command::new("timeout")
        .args([&seconds.to_string(), "bash", "-c", &script])
        .output()
        .expect("bash and timeout run")
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Every one-line recipe works as written: posts are stored (201 with the message), the streams
/// open and deliver (they run until `timeout` ends them), the polls answer JSON with a cursor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_one_line_recipes_work_as_written() {
    assert!(have("curl"), "the recipes need curl");
    let app = spawn_app().await;
    let lines: Vec<String> = recipes()[0]
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 9, "{lines:#?}");
    for line in &lines {
        if line.starts_with("websocat") && !have("websocat") {
            eprintln!("skipped (websocat is not installed): {line}");
            continue;
        }
        let out = tokio::task::spawn_blocking({
            let (app, line) = (app.addr, line.clone());
            move || run(&TestApp::at(app), &line, 3)
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        // 124: `timeout` ended a stream that would run for ever, as a person's Ctrl-C would.
        let code = out.status.code();
        assert!(
            matches!(code, Some(0 | 124)),
            "{line}: exit {code:?}, {stdout}"
        );
        assert!(!stdout.trim().is_empty(), "{line}: printed nothing");
        assert!(!stdout.contains("\"error\""), "{line}: {stdout}");
        if line.contains("/api/messages") {
            assert!(stdout.starts_with("{\"id\":"), "{line}: {stdout}");
        }
        if line.contains("/api/sse") {
            assert!(stdout.contains("event: ready\n"), "{line}: {stdout}");
        }
        if line.contains("poll?") {
            assert!(stdout.contains("\"cursor\":\""), "{line}: {stdout}");
        }
    }
    assert_eq!(app.stored_ids().await, vec![1, 2, 3]);
}

/// The long-polling loop keeps its cursor through a restart (failed requests, then a new run
/// whose ids start again) and prints every message of both runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_long_polling_loop_survives_a_restart() {
    assert!(have("curl"), "the recipes need curl");
    let mut app = spawn_app().await;
    let script = recipes()[1].replace("timeout=25", "timeout=2");
    let addr = app.addr;
    let looping = tokio::task::spawn_blocking(move || run(&TestApp::at(addr), &script, 12));
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.post("ada", "first run one").await;
    app.post("ada", "first run two").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.restart().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for text in ["second run one", "second run two", "second run three"] {
        app.post("bob", text).await;
    }
    let out = looping.await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    for text in [
        "first run one",
        "first run two",
        "second run one",
        "second run two",
        "second run three",
    ] {
        assert_eq!(stdout.matches(text).count(), 1, "{text:?} in:\n{stdout}");
    }
    assert!(
        stdout.contains("\"reset\":true"),
        "the restart was announced:\n{stdout}"
    );
}

/// The rooms recipes, in order: the room's stream opens, posts land in the room (the lobby sees
/// none), a poll from another client gets the message sent "to others", and the rooms list names
/// the room with its count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rooms_recipes_work_as_written() {
    assert!(have("curl"), "the recipes need curl");
    let app = spawn_app().await;
    let lines: Vec<String> = recipes()[2]
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 6, "{lines:#?}");
    let mut outputs = Vec::new();
    for line in &lines {
        let out = tokio::task::spawn_blocking({
            let (app, line) = (app.addr, line.clone());
            move || run(&TestApp::at(app), &line, 2)
        })
        .await
        .unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 124)),
            "{line}: {out:?}"
        );
        outputs.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    assert!(outputs[0].contains("event: ready\n"), "{}", outputs[0]);
    assert!(
        outputs[1].starts_with(r#"{"id":1,"room":"math","user":"ada","text":"2+2?""#),
        "{}",
        outputs[1]
    );
    assert!(
        outputs[2].starts_with(r#"{"id":2,"room":"math""#),
        "{}",
        outputs[2]
    );
    assert!(
        outputs[3].contains("to the others") && outputs[3].contains("2+2?"),
        "{}",
        outputs[3]
    );
    assert!(
        outputs[4].contains(r#""room":"math","members":1"#),
        "bob's poll is a member: {}",
        outputs[4]
    );
    assert!(
        outputs[5].starts_with(r#"{"room":"math","members":1"#),
        "{}",
        outputs[5]
    );
    assert_eq!(
        app.stored_ids().await,
        Vec::<u64>::new(),
        "the lobby saw none of it"
    );
}
