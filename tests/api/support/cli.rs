//! The `lanyard` binary as the CLI tests run it: a clean environment, stdin,
//! exit code and output, and `lanyard serve` started until it listens.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::db::{TestDb, master_key};

/// What one run of the `lanyard` binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The one JSON document `--json` prints.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is one JSON document ({e}): {self:?}"))
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }

    /// Refused: a non-zero exit and exactly one line on stderr that mentions `needle`.
    #[track_caller]
    pub fn assert_refused(&self, needle: &str) {
        self.assert_refused_in("the command", needle);
    }

    /// `assert_refused` for one case of a table: each failure names its case.
    #[track_caller]
    pub fn assert_refused_in(&self, case: &str, needle: &str) {
        assert_ne!(self.code, 0, "{case}: refused: {self:?}");
        let lines: Vec<&str> = self.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{case}: one line on stderr: {self:?}");
        assert!(
            lines[0].contains(needle),
            "{case}: stderr mentions `{needle}`: {self:?}"
        );
    }
}

/// A `lanyard` command with a clean environment (no inherited LANYARD_* or DATABASE_URL).
pub struct Lanyard {
    cmd: tokio::process::Command,
    stdin: Option<String>,
}

pub fn lanyard(args: &[&str]) -> Lanyard {
    let mut cmd = tokio::process::Command::new(binary());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LANYARD_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    Lanyard { cmd, stdin: None }
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lanyard"))
}

impl Lanyard {
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// DATABASE_URL and the test master key.
    pub fn db(self, db: &TestDb) -> Self {
        self.env("DATABASE_URL", &db.url)
            .env("LANYARD_MASTER_KEY", &master_key().encode())
    }

    /// Runs against a test database (DATABASE_URL and the test master key).
    pub async fn run_on(self, db: &TestDb) -> Run {
        self.db(db).run().await
    }

    pub fn stdin(mut self, input: &str) -> Self {
        self.stdin = Some(input.to_owned());
        self.cmd.stdin(Stdio::piped());
        self
    }

    pub fn command(self) -> tokio::process::Command {
        self.cmd
    }

    pub async fn run(mut self) -> Run {
        let mut child = self.cmd.spawn().expect("the lanyard binary starts");
        if let (Some(input), Some(mut pipe)) = (self.stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes()).await.expect("write stdin");
        }
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("lanyard finishes within 60 s")
            .expect("lanyard output");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Starts `lanyard serve` on port 0 and waits for its "listening" line.
pub async fn serve_until_listening(db: &TestDb) -> tokio::process::Child {
    serve_listening(lanyard(&["serve"]).db(db).env("LANYARD_BIND", "127.0.0.1:0"))
        .await
        .0
}

/// Starts a prepared `lanyard serve`; returns it with the address it listens on.
pub async fn serve_listening(cmd: Lanyard) -> (tokio::process::Child, String) {
    let mut cmd = cmd.command();
    let mut child = cmd.spawn().expect("lanyard serve starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let listening = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("listening on ").nth(1) {
                return rest.split(' ').next().map(str::to_owned);
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    let address = listening.expect("lanyard serve came up");
    // Keep draining stderr so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, address)
}
