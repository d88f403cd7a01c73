//! `pattern-engine new` and `deploy <dir>`: a scaffolded project of each
//! language passes its own tests, builds with its real toolchain, uploads
//! through a gateway to a real redis-server and answers over HTTP.

use pattern_tests::gateway_path;
use pattern_tests::http::Gateway;
use pattern_tests::Server;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The gateway's request timeout here: a JavaScript or Python component
/// (megabytes) compiles in tens of seconds in the debug module on a busy
/// 2-core machine, more than the default 30 s.
const UPLOAD_TIMEOUT_MS: &str = "180000";

/// A fresh, empty directory for one test.
fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pattern-scaffold-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `pattern-engine <args>` in `dir`: success, stdout, stderr.
fn cli(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(gateway_path())
        .args(["--config", "/nonexistent/engine.toml"])
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The Rust guest builds share one target directory across runs, so a
/// rerun does not compile the SDK again.
fn shared_cargo_target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/scaffold")
}

fn new_test_deploy_call(lang: &str, test: &[&str]) {
    let started = Instant::now();
    let dir = temp_dir(lang);
    let name = format!("demo_{lang}");
    let (ok, out, err) = cli(&dir, &["new", "--lang", lang, &name]);
    assert!(ok, "{out}{err}");
    let project = dir.join(&name);
    assert!(project.join("pattern.toml").is_file());

    let tested = Command::new(test[0])
        .args(&test[1..])
        .current_dir(&project)
        .env("CARGO_TARGET_DIR", shared_cargo_target())
        .output()
        .unwrap();
    assert!(
        tested.status.success(),
        "{lang} project's own test failed: {}{}",
        String::from_utf8_lossy(&tested.stdout),
        String::from_utf8_lossy(&tested.stderr)
    );

    let server = Server::start();
    let gateway = Gateway::start(
        &[
            "serve",
            "--redis-url",
            &server.url(),
            "--listen",
            "127.0.0.1:0",
        ],
        &[(
            "PATTERN_ENGINE_GATEWAY_REQUEST_TIMEOUT_MS",
            UPLOAD_TIMEOUT_MS,
        )],
    );
    let output = Command::new(gateway_path())
        .args(["--config", "/nonexistent/engine.toml", "deploy"])
        .arg(&project)
        .args(["--url", &gateway.url])
        .env("CARGO_TARGET_DIR", shared_cargo_target())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && out.contains("\"outcome\": \"new\""),
        "deploy {lang}: {out}{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let body = json!({ "keys": ["visits"], "args": ["ada"] }).to_string();
    for visit in 1..=2 {
        let reply = gateway.request(
            "POST",
            &format!("/v1/call/{name}.greet"),
            None,
            body.as_bytes(),
        );
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(
            reply.json()["result"],
            json!(format!("hello ada, visit {visit}")),
            "{}",
            reply.text()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("{lang}: {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn rust_project_tests_builds_deploys_and_answers() {
    new_test_deploy_call("rust", &["cargo", "test", "--quiet"]);
}

#[test]
fn js_project_tests_builds_deploys_and_answers() {
    new_test_deploy_call("js", &["node", "--test"]);
}

#[test]
fn python_project_tests_builds_deploys_and_answers() {
    new_test_deploy_call("python", &["python3", "-m", "unittest"]);
}

#[test]
fn c_project_tests_builds_deploys_and_answers() {
    new_test_deploy_call("c", &["make", "--quiet", "test"]);
}

#[test]
fn bad_names_languages_and_directories_are_refused() {
    let dir = temp_dir("bad");
    for (args, message) in [
        (
            &["new", "--lang", "rust", "Bad-Name"][..],
            "invalid project name 'Bad-Name'",
        ),
        (
            &["new", "--lang", "cobol", "fine"][..],
            "unknown language 'cobol'",
        ),
        (
            &["new", "--lang", "js", "fine", "--sdk", "/nonexistent"][..],
            "no js kit at /nonexistent",
        ),
    ] {
        let (ok, _, err) = cli(&dir, args);
        assert!(!ok, "{args:?} succeeded");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(message), "{err}");
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "something was created"
    );

    let (ok, _, err) = cli(
        &dir,
        &[
            "deploy",
            dir.to_str().unwrap(),
            "--url",
            "http://127.0.0.1:1",
        ],
    );
    assert!(!ok);
    assert!(err.contains("is not a project: no pattern.toml"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
