//! A relying party's back-channel logout endpoint (OpenID Connect
//! Back-Channel Logout 1.0 §2.5), just enough HTTP/1.1 to receive a POSTed
//! form: it records every request's path, content type and form, answers 200
//! (or what it is told), and can be told to fail the next N requests.

use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub content_type: String,
    pub form: Vec<(String, String)>,
}

impl Received {
    /// The `logout_token` form parameter.
    pub fn logout_token(&self) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == "logout_token")
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone)]
pub struct LogoutReceiver {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    /// How many of the next requests answer 503.
    failures_left: Arc<AtomicUsize>,
    /// The status of a request that does not fail (200 unless told).
    status: Arc<AtomicU16>,
}

impl LogoutReceiver {
    /// Listens on a free port of 127.0.0.1.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
        let receiver = LogoutReceiver {
            port: listener.local_addr().expect("receiver address").port(),
            received: Arc::default(),
            failures_left: Arc::default(),
            status: Arc::new(AtomicU16::new(200)),
        };
        let serving = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let conn = serving.clone();
                tokio::spawn(async move {
                    let _ = conn.serve(stream).await;
                });
            }
        });
        receiver
    }

    /// The URI a client registers as its `backchannel_logout_uri`.
    pub fn uri(&self, client: &str) -> String {
        format!("http://127.0.0.1:{}/bcl/{client}", self.port)
    }

    /// The next `n` requests answer 503.
    pub fn fail_next(&self, n: usize) {
        self.failures_left.store(n, Ordering::SeqCst);
    }

    /// Requests that do not fail answer `status` (e.g. 204, or 302).
    pub fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The logout tokens received at `client`'s URI, in order.
    pub fn tokens_for(&self, client: &str) -> Vec<String> {
        let path = format!("/bcl/{client}");
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .filter_map(|r| r.logout_token().map(str::to_owned))
            .collect()
    }

    /// Waits (up to 10 s) until `n` requests have arrived in all.
    pub async fn wait_for(&self, n: usize) -> bool {
        super::eventually(Duration::from_secs(10), || async { self.received().len() >= n }).await
    }

    async fn serve(&self, stream: TcpStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).await?;
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        let (mut length, mut content_type) = (0usize, String::new());
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).await?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "content-type" => content_type = value.trim().to_owned(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
        let form = url::form_urlencoded::parse(&body).into_owned().collect();
        self.received.lock().unwrap().push(Received {
            method,
            path,
            content_type,
            form,
        });
        let failing = self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let status = if failing {
            503
        } else {
            self.status.load(Ordering::SeqCst)
        };
        let extra = if status == 302 {
            "Location: http://127.0.0.1:1/elsewhere\r\n"
        } else {
            ""
        };
        let answer = format!("HTTP/1.1 {status} X\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n");
        reader.get_mut().write_all(answer.as_bytes()).await?;
        reader.get_mut().shutdown().await
    }
}
