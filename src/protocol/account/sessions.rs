//! A person's live sign-in sessions: listed with a readable device, the
//! address and times; one ended, or all but this browser's. Ending one does
//! what signing out does (`session::end_in`): its grants without
//! `offline_access` end with it (OIDC Core §11).

use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::{AccountError, Person, when};
use crate::protocol::Provider;
use crate::protocol::error::OAuthError;
use crate::protocol::session::{self, CurrentSession};
use crate::store::sessions::{self as store, SessionLine};

/// A session as the account page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub id: Uuid,
    pub device: String,
    pub address: String,
    pub started: String,
    pub last_seen: String,
    /// The session of the browser looking at the page.
    pub current: bool,
}

/// The person's live sessions, this browser's first.
pub async fn list(p: &Provider, session: &CurrentSession) -> Result<Vec<SessionView>, OAuthError> {
    let idle = p.config.lifetimes.session_idle.num_seconds();
    let rows = store::list_live_of_user(&mut *p.pool.acquire().await?, session.user.id, p.now(), idle).await?;
    let mut views: Vec<SessionView> = rows.into_iter().map(|row| view(row, session.id)).collect();
    views.sort_by_key(|v| !v.current);
    Ok(views)
}

fn view(row: SessionLine, current: Uuid) -> SessionView {
    SessionView {
        id: row.id,
        device: device(row.user_agent.as_deref()),
        address: row.ip.unwrap_or_else(|| "unknown".into()),
        started: when(row.created_at),
        last_seen: when(row.last_seen_at),
        current: row.id == current,
    }
}

/// Ends one of the person's other sessions (this browser's ends with "Sign out").
pub async fn end_one(person: &Person<'_>, id: Uuid) -> Result<(), AccountError> {
    let p = person.provider;
    if id == person.session.id {
        let message = "this browser's session ends with Sign out";
        return Err(AccountError::invalid("session", message));
    }
    let mut tx = p.pool.begin().await?;
    if !store::is_open_of_user(&mut tx, id, person.session.user.id).await? {
        return Err(AccountError::NotFound("no such session"));
    }
    session::end_in(&mut tx, id, p.now()).await?;
    tx.commit().await?;
    person.audit("ok", "end session", None, json!({ "session": id }));
    Ok(())
}

/// Ends every session of the person but this browser's; returns how many.
pub async fn end_others(person: &Person<'_>) -> Result<usize, AccountError> {
    let p = person.provider;
    let now = p.now();
    let mut tx = p.pool.begin().await?;
    let others = store::open_ids_of_user_except(&mut tx, person.session.user.id, person.session.id).await?;
    for id in &others {
        session::end_in(&mut tx, *id, now).await?;
    }
    tx.commit().await?;
    person.audit("ok", "end other sessions", None, json!({ "sessions": others }));
    Ok(others.len())
}

/// A user agent shortened to something a person recognises: "Firefox on
/// Windows"; an unknown one to its first 40 characters.
pub fn device(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.filter(|ua| !ua.trim().is_empty()) else {
        return "Unknown device".into();
    };
    let browsers = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("HeadlessChrome/", "Chrome (headless)"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("CriOS/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ];
    let systems = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("CrOS", "ChromeOS"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("Linux", "Linux"),
    ];
    let find = |table: &[(&str, &'static str)]| table.iter().find(|(m, _)| ua.contains(m)).map(|(_, n)| *n);
    match (find(&browsers), find(&systems)) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(s)) => format!("A browser on {s}"),
        (None, None) => {
            let short: String = ua.chars().filter(|c| !c.is_control()).take(40).collect();
            match ua.chars().count() > 40 {
                true => format!("{short}…"),
                false => short,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::device;

    #[test]
    fn user_agents_become_readable_devices() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox on Windows",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                "Edge on Windows",
            ),
            ("curl/8.5.0", "curl"),
            ("", "Unknown device"),
            ("some-robot/1.0", "some-robot/1.0"),
        ];
        for (ua, expected) in cases {
            assert_eq!(device(Some(ua)), expected, "{ua}");
        }
        assert_eq!(device(None), "Unknown device");
        assert!(device(Some(&"x".repeat(300))).ends_with('…'));
    }
}
