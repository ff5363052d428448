//! Mail that leaves Lanyard (README "Email and password reset"): how a
//! message goes out (SMTP, a directory under `lanyard dev`, or not at all),
//! and the worker that sends what waits in the `mail_outbox` table.

pub mod worker;

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Config;
use crate::store::mail_outbox::MailRow;

/// How long one SMTP conversation may take before it counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a message did not leave (recorded on its row; never shown to a browser).
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail is off (no LANYARD_SMTP_URL)")]
    Off,
    #[error("the message cannot be built: {0}")]
    Build(String),
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("cannot write the message: {0}")]
    Io(#[from] std::io::Error),
}

/// Where mail goes.
pub enum Mailer {
    /// Through an SMTP server (`LANYARD_SMTP_URL`).
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    /// Into a directory, one `.eml` file per message, its first link logged
    /// (`lanyard dev` without an SMTP server).
    Files { dir: PathBuf, from: Mailbox },
    /// Nowhere: features that need mail say so.
    Off,
}

impl Mailer {
    /// The mailer the configuration asks for.
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let from = config.mail_from.clone();
        if let Some(url) = &config.smtp_url {
            let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                .map_err(|_| "LANYARD_SMTP_URL: not an SMTP URL".to_owned())?
                .timeout(Some(SMTP_TIMEOUT))
                .build();
            return Ok(Self::Smtp { transport, from });
        }
        Ok(match &config.mail_dir {
            Some(dir) => Self::Files { dir: dir.clone(), from },
            None => Self::Off,
        })
    }

    /// Whether mail can go out at all.
    pub fn is_on(&self) -> bool {
        !matches!(self, Self::Off)
    }

    /// Sends one message of the outbox.
    pub async fn send(&self, mail: &MailRow) -> Result<(), MailError> {
        match self {
            Self::Smtp { transport, from } => {
                transport.send(message(from, mail)?).await?;
                Ok(())
            }
            Self::Files { dir, from } => {
                let formatted = message(from, mail)?.formatted();
                tokio::fs::create_dir_all(dir).await?;
                let name = format!("{}-{}.eml", mail.created_at.format("%Y%m%dT%H%M%S"), mail.id);
                let path = dir.join(name);
                tokio::fs::write(&path, formatted).await?;
                tracing::info!(
                    to = %mail.recipient,
                    file = %path.display(),
                    link = first_link(&mail.body).unwrap_or("(none)"),
                    "mail written (no LANYARD_SMTP_URL)"
                );
                Ok(())
            }
            Self::Off => Err(MailError::Off),
        }
    }
}

/// The message as it leaves: plain text, 7bit when it is ASCII with lines
/// within RFC 5322 §2.1.1's 998 characters, so a link stays whole (lettre
/// would pick quoted-printable past 76, breaking it with soft line breaks
/// that a reader's mail program undoes but a plain copy does not).
fn message(from: &Mailbox, mail: &MailRow) -> Result<Message, MailError> {
    let to: Mailbox = mail
        .recipient
        .parse()
        .map_err(|e: lettre::address::AddressError| MailError::Build(e.to_string()))?;
    let plain = mail.body.is_ascii() && mail.body.lines().all(|l| l.len() <= 998);
    let body = match plain {
        true => {
            let crlf = mail.body.lines().map(|l| format!("{l}\r\n")).collect::<String>();
            Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::SevenBit)
        }
        false => Body::new(mail.body.clone()),
    };
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| MailError::Build(e.to_string()))
}

/// A link a message carries: `path` on the issuer, with `token` as its
/// `param` query parameter (built, never concatenated).
pub fn link(issuer: &crate::config::Issuer, path: &str, param: &str, token: &str) -> Result<url::Url, url::ParseError> {
    let mut link = url::Url::parse(&format!("{}{path}", issuer.as_str()))?;
    link.query_pairs_mut().append_pair(param, token);
    Ok(link)
}

/// The first `http(s)://` link of a text.
pub fn first_link(text: &str) -> Option<&str> {
    text.split_whitespace()
        .find(|w| w.starts_with("https://") || w.starts_with("http://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_link_finds_the_link() {
        assert_eq!(
            first_link("Open\nhttp://localhost:8080/signin/reset?token=abc\nsoon"),
            Some("http://localhost:8080/signin/reset?token=abc")
        );
        assert_eq!(first_link("no link"), None);
    }
}
