//! The cookies Lanyard sets: the session, the CSRF secret, the device cookie,
//! a sign-in pending its second step and the binding of sign-ins at upstream providers. Every one is
//! HttpOnly with a SameSite attribute; `Secure` and `__Host-` when the issuer is https.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration};

/// Names and flags, decided once from the issuer's scheme.
#[derive(Debug, Clone)]
pub struct CookieJar {
    secure: bool,
}

impl CookieJar {
    pub fn new(secure: bool) -> Self {
        Self { secure }
    }

    pub fn session_name(&self) -> &'static str {
        if self.secure {
            "__Host-lanyard_session"
        } else {
            "lanyard_session"
        }
    }

    pub fn csrf_name(&self) -> &'static str {
        if self.secure {
            "__Host-lanyard_csrf"
        } else {
            "lanyard_csrf"
        }
    }

    pub fn device_name(&self) -> &'static str {
        if self.secure {
            "__Host-lanyard_device"
        } else {
            "lanyard_device"
        }
    }

    pub fn pending_name(&self) -> &'static str {
        if self.secure {
            "__Host-lanyard_pending"
        } else {
            "lanyard_pending"
        }
    }

    pub fn upstream_name(&self) -> &'static str {
        if self.secure {
            "__Host-lanyard_upstream"
        } else {
            "lanyard_upstream"
        }
    }

    pub fn link_name(&self) -> &'static str {
        if self.secure {
            "__Host-lanyard_link"
        } else {
            "lanyard_link"
        }
    }

    /// The pending link to an existing account this browser is signing in
    /// to make ("Sign in to connect"): made once it signs in to that account.
    pub fn link(&self, req: &HttpRequest) -> Option<String> {
        req.cookie(self.link_name())
            .map(|c| c.value().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// `SameSite=Strict`: only Lanyard's own sign-in forms carry it.
    pub fn new_link(&self, value: String) -> Cookie<'static> {
        let mut cookie = self.build(self.link_name(), value, SameSite::Strict);
        let lifetime = crate::protocol::upstream::FLOW_LIFETIME.num_seconds();
        cookie.set_max_age(Duration::seconds(lifetime));
        cookie
    }

    pub fn end_link(&self) -> Cookie<'static> {
        let mut cookie = self.build(self.link_name(), String::new(), SameSite::Strict);
        cookie.set_max_age(Duration::ZERO);
        cookie
    }

    /// The random value that binds sign-ins at upstream providers (and
    /// their pending links) to this browser.
    pub fn upstream(&self, req: &HttpRequest) -> Option<String> {
        req.cookie(self.upstream_name())
            .map(|c| c.value().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// `SameSite=Lax`: the upstream's redirect back is a cross-site
    /// top-level GET, which must carry it. Lives as long as such a sign-in.
    pub fn new_upstream(&self, value: String) -> Cookie<'static> {
        let mut cookie = self.build(self.upstream_name(), value, SameSite::Lax);
        let lifetime = crate::protocol::upstream::FLOW_LIFETIME.num_seconds();
        cookie.set_max_age(Duration::seconds(lifetime));
        cookie
    }

    /// The sign-in waiting for its second step, if any.
    pub fn pending(&self, req: &HttpRequest) -> Option<String> {
        req.cookie(self.pending_name()).map(|c| c.value().to_owned())
    }

    /// Lives as long as the second step may take; only Lanyard's own pages
    /// (same site) send it.
    pub fn new_pending(&self, value: String) -> Cookie<'static> {
        let mut cookie = self.build(self.pending_name(), value, SameSite::Strict);
        let lifetime = crate::protocol::factors::pending::LIFETIME.num_seconds();
        cookie.set_max_age(Duration::seconds(lifetime));
        cookie
    }

    pub fn end_pending(&self) -> Cookie<'static> {
        let mut cookie = self.build(self.pending_name(), String::new(), SameSite::Strict);
        cookie.set_max_age(Duration::ZERO);
        cookie
    }

    /// The session cookie value a request carries.
    pub fn session(&self, req: &HttpRequest) -> Option<String> {
        req.cookie(self.session_name()).map(|c| c.value().to_owned())
    }

    pub fn csrf(&self, req: &HttpRequest) -> Option<String> {
        req.cookie(self.csrf_name()).map(|c| c.value().to_owned())
    }

    /// `SameSite=Lax`: a cross-site POST to /authorize or /logout arrives without it.
    pub fn new_session(&self, value: String) -> Cookie<'static> {
        self.build(self.session_name(), value, SameSite::Lax)
    }

    pub fn end_session(&self) -> Cookie<'static> {
        let mut cookie = self.build(self.session_name(), String::new(), SameSite::Lax);
        cookie.set_max_age(Duration::ZERO);
        cookie
    }

    /// The device cookie value a request carries (the sign-in throttle's).
    pub fn device(&self, req: &HttpRequest) -> Option<String> {
        req.cookie(self.device_name()).map(|c| c.value().to_owned())
    }

    /// Long-lived: it vouches for this browser at sign-in for a year. Only the
    /// sign-in form (same site) needs it: `SameSite=Strict`.
    pub fn new_device(&self, value: String) -> Cookie<'static> {
        let mut cookie = self.build(self.device_name(), value, SameSite::Strict);
        let lifetime = crate::protocol::device::LIFETIME.num_seconds();
        cookie.set_max_age(Duration::seconds(lifetime));
        cookie
    }

    pub fn new_csrf(&self, value: String) -> Cookie<'static> {
        self.build(self.csrf_name(), value, SameSite::Strict)
    }

    fn build(&self, name: &'static str, value: String, same_site: SameSite) -> Cookie<'static> {
        Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(same_site)
            .finish()
    }
}
