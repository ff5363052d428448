//! CSRF protection for every form: a random secret in a cookie, and in each
//! form an HMAC of it with the form's purpose. The token decides; a
//! `Sec-Fetch-Site: cross-site` POST to a page is refused as well.

use actix_web::HttpRequest;
use actix_web::cookie::Cookie;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::cookies::CookieJar;
use super::random::Random;
use crate::crypto::secret;

pub struct Csrf {
    key: [u8; 32],
}

/// The token for one form, and the cookie to set if the browser had none.
pub struct FormToken {
    pub token: String,
    pub set_cookie: Option<Cookie<'static>>,
}

impl Csrf {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac(&self, browser_secret: &str, purpose: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!("any key length"));
        mac.update(purpose.as_bytes());
        mac.update(b"|");
        mac.update(browser_secret.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The token a form with this purpose carries.
    pub fn issue(&self, req: &HttpRequest, cookies: &CookieJar, random: &Random, purpose: &str) -> FormToken {
        match cookies.csrf(req) {
            Some(existing) => FormToken {
                token: self.mac(&existing, purpose),
                set_cookie: None,
            },
            None => {
                let fresh = secret::random_token(&mut random.rng());
                FormToken {
                    token: self.mac(&fresh, purpose),
                    set_cookie: Some(cookies.new_csrf(fresh)),
                }
            }
        }
    }

    /// Whether the submitted token belongs to this browser and form.
    pub fn check(&self, req: &HttpRequest, cookies: &CookieJar, purpose: &str, submitted: Option<&str>) -> bool {
        match (cookies.csrf(req), submitted) {
            (Some(browser), Some(token)) => {
                secret::constant_time_eq(self.mac(&browser, purpose).as_bytes(), token.as_bytes())
            }
            _ => false,
        }
    }
}

/// A page POST from another site (Fetch Metadata). Requests without the
/// header (many HTTP clients) are judged by the token alone.
pub fn is_cross_site(req: &HttpRequest) -> bool {
    req.headers()
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
}
