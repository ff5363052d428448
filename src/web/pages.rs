//! HTML pages: tera templates embedded in the binary, rendered with the
//! security headers and `Cache-Control: no-store`.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;
use serde::Serialize;
use tera::{Context, Tera};

/// Every template, embedded so the binary is self-contained.
const TEMPLATES: [(&str, &str); 36] = [
    ("base.html", include_str!("../../templates/base.html")),
    (
        "components/client.html",
        include_str!("../../templates/components/client.html"),
    ),
    ("pages/signin.html", include_str!("../../templates/pages/signin.html")),
    ("pages/consent.html", include_str!("../../templates/pages/consent.html")),
    (
        "pages/two_step_setup.html",
        include_str!("../../templates/pages/two_step_setup.html"),
    ),
    (
        "pages/recovery_codes.html",
        include_str!("../../templates/pages/recovery_codes.html"),
    ),
    (
        "pages/second_step.html",
        include_str!("../../templates/pages/second_step.html"),
    ),
    ("pages/logout.html", include_str!("../../templates/pages/logout.html")),
    (
        "pages/passkeys.html",
        include_str!("../../templates/pages/passkeys.html"),
    ),
    (
        "pages/signed_out.html",
        include_str!("../../templates/pages/signed_out.html"),
    ),
    (
        "pages/signed_in.html",
        include_str!("../../templates/pages/signed_in.html"),
    ),
    ("pages/error.html", include_str!("../../templates/pages/error.html")),
    (
        "pages/upstream_link.html",
        include_str!("../../templates/pages/upstream_link.html"),
    ),
    ("pages/forgot.html", include_str!("../../templates/pages/forgot.html")),
    ("pages/reset.html", include_str!("../../templates/pages/reset.html")),
    (
        "pages/register.html",
        include_str!("../../templates/pages/register.html"),
    ),
    (
        "pages/registered.html",
        include_str!("../../templates/pages/registered.html"),
    ),
    (
        "pages/verify_email.html",
        include_str!("../../templates/pages/verify_email.html"),
    ),
    (
        "pages/reset_done.html",
        include_str!("../../templates/pages/reset_done.html"),
    ),
    ("account/page.html", include_str!("../../templates/account/page.html")),
    (
        "account/factors.html",
        include_str!("../../templates/account/factors.html"),
    ),
    ("admin/layout.html", include_str!("../../templates/admin/layout.html")),
    ("admin/pager.html", include_str!("../../templates/admin/pager.html")),
    ("admin/home.html", include_str!("../../templates/admin/home.html")),
    ("admin/keys.html", include_str!("../../templates/admin/keys.html")),
    (
        "admin/upstreams.html",
        include_str!("../../templates/admin/upstreams.html"),
    ),
    (
        "admin/upstream.html",
        include_str!("../../templates/admin/upstream.html"),
    ),
    ("admin/users.html", include_str!("../../templates/admin/users.html")),
    ("admin/user.html", include_str!("../../templates/admin/user.html")),
    ("admin/clients.html", include_str!("../../templates/admin/clients.html")),
    ("admin/client.html", include_str!("../../templates/admin/client.html")),
    ("admin/audit.html", include_str!("../../templates/admin/audit.html")),
    ("admin/apis.html", include_str!("../../templates/admin/apis.html")),
    ("admin/lab.html", include_str!("../../templates/admin/lab.html")),
    ("admin/dry_run.html", include_str!("../../templates/admin/dry_run.html")),
    ("admin/api.html", include_str!("../../templates/admin/api.html")),
];

/// The stylesheet served at `/static/lanyard.css`.
pub const STYLESHEET: &str = include_str!("../../static/lanyard.css");
/// The admin pages' optional script, served at `/static/admin.js`.
pub const ADMIN_SCRIPT: &str = include_str!("../../static/admin.js");
/// The passkey ceremonies' script (WebAuthn needs one), served at
/// `/static/passkeys.js`.
pub const PASSKEYS_SCRIPT: &str = include_str!("../../static/passkeys.js");

/// Percent-encodes every byte but RFC 3986 §2.3's unreserved characters, so
/// a value is one path segment or one query value whatever it holds.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub struct Pages {
    tera: Tera,
}

impl Pages {
    /// Parses every template (autoescaping stays on for `.html`).
    pub fn load() -> Result<Self, tera::Error> {
        let mut tera = Tera::new();
        tera.register_filter("urlencode", |s: &str, _: tera::Kwargs, _: &tera::State| {
            percent_encode(s)
        });
        tera.add_raw_templates(TEMPLATES)?;
        Ok(Self { tera })
    }

    /// Renders a page; a template failure is logged and answered with a plain 500.
    pub fn render(&self, status: StatusCode, template: &str, context: &impl Serialize) -> HttpResponse {
        let rendered = Context::from_serialize(context).and_then(|ctx| self.tera.render(template, &ctx));
        match rendered {
            Ok(html) => HttpResponse::build(status)
                .content_type("text/html; charset=utf-8")
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body(html),
            Err(e) => {
                tracing::error!(error = %e, template, "template failed");
                HttpResponse::InternalServerError()
                    .content_type("text/plain; charset=utf-8")
                    .body("Internal error\n")
            }
        }
    }

    /// Lanyard's error page.
    pub fn error(&self, status: StatusCode, title: &str, message: &str) -> HttpResponse {
        #[derive(Serialize)]
        struct ErrorPage<'a> {
            title: &'a str,
            message: &'a str,
            hint: &'a str,
        }
        let hint = match status.as_u16() {
            400 => "Go back to the application and try again. If this keeps happening, tell its developers.",
            429 => "Wait a few minutes before trying again.",
            503 => "Lanyard cannot reach its database right now. Try again in a moment.",
            _ => "",
        };
        self.render(status, "pages/error.html", &ErrorPage { title, message, hint })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_and_escape_html() {
        let pages = Pages::load().unwrap();
        let res = pages.error(StatusCode::BAD_REQUEST, "Oops", "<script>alert(1)</script>");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let body = actix_web::body::to_bytes(res.into_body());
        let body = futures_executor(body);
        assert!(
            body.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;") || body.contains("&lt;script&gt;"),
            "{body}"
        );
        assert!(!body.contains("<script>"), "{body}");
    }

    fn futures_executor<F: std::future::Future<Output = Result<actix_web::web::Bytes, E>>, E: std::fmt::Debug>(
        f: F,
    ) -> String {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        String::from_utf8(rt.block_on(f).unwrap().to_vec()).unwrap()
    }
}
