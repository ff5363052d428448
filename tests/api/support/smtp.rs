//! A small SMTP sink (RFC 5321 §3–4, just enough: EHLO/HELO, MAIL, RCPT,
//! DATA, RSET, NOOP, QUIT): it collects each message it accepts and can be
//! told to refuse mail for a while (a transient `451`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One accepted message: its envelope and its text (headers and body).
#[derive(Debug, Clone)]
pub struct SunkMail {
    pub to: Vec<String>,
    pub data: String,
}

impl SunkMail {
    /// The first `http(s)://` link of the message.
    pub fn link(&self) -> Option<String> {
        self.data
            .split_whitespace()
            .find(|w| w.starts_with("http://") || w.starts_with("https://"))
            .map(str::to_owned)
    }
}

#[derive(Clone, Default)]
pub struct SmtpSink {
    pub port: u16,
    messages: Arc<Mutex<Vec<SunkMail>>>,
    failing: Arc<AtomicBool>,
}

impl SmtpSink {
    /// Listens on a free port of 127.0.0.1.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the sink");
        let sink = SmtpSink {
            port: listener.local_addr().expect("sink address").port(),
            ..Self::default()
        };
        let serving = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let conn = serving.clone();
                tokio::spawn(async move {
                    let _ = conn.converse(stream).await;
                });
            }
        });
        sink
    }

    /// The URL Lanyard sends through (plain SMTP, no TLS).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Refuses (`451`) or accepts mail from now on.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    pub fn messages(&self) -> Vec<SunkMail> {
        self.messages.lock().expect("sink lock").clone()
    }

    async fn converse(&self, stream: TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        write.write_all(b"220 sink ESMTP\r\n").await?;
        let mut to = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                "HELO" | "NOOP" => b"250 ok\r\n",
                "RSET" => {
                    to.clear();
                    b"250 ok\r\n"
                }
                "MAIL" if self.failing.load(Ordering::SeqCst) => b"451 try again later\r\n",
                "MAIL" => b"250 ok\r\n",
                "RCPT" => {
                    to.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
                    b"250 ok\r\n"
                }
                "DATA" => {
                    write.write_all(b"354 go ahead\r\n").await?;
                    let data = read_data(&mut lines).await?;
                    self.messages.lock().expect("sink lock").push(SunkMail {
                        to: std::mem::take(&mut to),
                        data,
                    });
                    b"250 queued\r\n"
                }
                "QUIT" => {
                    write.write_all(b"221 bye\r\n").await?;
                    return Ok(());
                }
                _ => b"502 not implemented\r\n",
            };
            write.write_all(reply).await?;
        }
    }
}

/// The message up to the line holding a single dot, dot-unstuffed (RFC 5321 §4.5.2).
async fn read_data(lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> std::io::Result<String> {
    let mut data = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 || line == ".\r\n" {
            return Ok(data);
        }
        data.push_str(line.strip_prefix('.').unwrap_or(&line));
    }
}
