//! `lanyard dev`: the README's first command.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{binary, fetch_json};

/// Runs `lanyard dev` in `dir` until its banner is out; returns the child and the banner.
async fn start_dev(dir: &Path, port: u16) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(binary())
        .args(["dev", "--bind", &format!("127.0.0.1:{port}")])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LANYARD_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(
            std::fs::File::create(dir.join("dev.stderr"))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        )
        .kill_on_drop(true)
        .spawn()
        .expect("lanyard dev starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = tokio::time::timeout(Duration::from_secs(120), async {
        let mut banner = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            banner.push_str(&line);
            banner.push('\n');
            if line.contains("Ctrl-C stops") {
                break;
            }
        }
        banner
    })
    .await
    .expect("the banner within 120 s");
    (child, banner)
}

/// Ctrl-C, as a terminal would send it.
async fn interrupt(child: &mut tokio::process::Child) -> i32 {
    let pid = child.id().unwrap().to_string();
    let sent = tokio::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stops within 30 s")
        .unwrap();
    status.code().unwrap_or(-1)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn dev_serves_demo_data_and_a_second_run_reuses_the_cluster() {
    let dir = std::env::temp_dir().join(format!("lanyard-dev-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();

    let (mut first, banner) = start_dev(&dir, port).await;
    let issuer = format!("http://localhost:{port}");
    assert!(banner.contains(&format!("issuer      {issuer}")), "{banner}");
    let password_line = banner.lines().find(|l| l.contains("admin user")).unwrap().to_owned();
    assert!(
        !password_line.contains("shown on the first run"),
        "a fresh password: {banner}"
    );
    assert!(banner.contains("demo client     demo / "), "{banner}");
    assert!(
        dir.join(".lanyard/demo.secret").exists(),
        "the demo can read its secret"
    );
    let doc: serde_json::Value = fetch_json(&format!("http://127.0.0.1:{port}/.well-known/openid-configuration")).await;
    assert_eq!(doc["issuer"], issuer.as_str());
    assert_eq!(interrupt(&mut first).await, 0, "Ctrl-C stops dev cleanly");
    assert!(dir.join(".lanyard/master.key").exists());
    assert!(
        !dir.join(".lanyard/pg/data/postmaster.pid").exists(),
        "the cluster stopped too"
    );

    // Another port: a parallel test may have taken the first one meanwhile.
    let port = free_port();
    let (mut second, banner) = start_dev(&dir, port).await;
    let stderr = std::fs::read_to_string(dir.join("dev.stderr")).unwrap_or_default();
    let again = banner
        .lines()
        .find(|l| l.contains("admin user"))
        .unwrap_or_else(|| panic!("no banner: {stderr}"));
    assert!(
        again.contains("shown on the first run"),
        "the same admin, not a new one: {banner}"
    );
    let jwks: serde_json::Value = fetch_json(&format!("http://127.0.0.1:{port}/jwks")).await;
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        6,
        "the keys of the first run, no new ones"
    );
    assert_eq!(interrupt(&mut second).await, 0);
    std::fs::remove_dir_all(&dir).ok();
}
