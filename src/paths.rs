//! Every path Lanyard serves, in one place: routes, discovery, templates and tests use these.

pub const DISCOVERY: &str = "/.well-known/openid-configuration";
pub const AUTHORIZATION_SERVER_METADATA: &str = "/.well-known/oauth-authorization-server";
pub const JWKS: &str = "/jwks";
pub const AUTHORIZE: &str = "/authorize";
pub const TOKEN: &str = "/token";
pub const USERINFO: &str = "/userinfo";
pub const INTROSPECT: &str = "/introspect";
pub const REVOKE: &str = "/revoke";
pub const LOGOUT: &str = "/logout";
pub const SIGNIN: &str = "/signin";
pub const CONSENT: &str = "/consent";
/// The second step of a sign-in (a code), or a step-up of the current session.
pub const SECOND_STEP: &str = "/signin/step";
pub const ADMIN: &str = "/admin";
/// A person's own account page, and its forms.
pub const ACCOUNT: &str = "/account";
pub const ACCOUNT_PROFILE: &str = "/account/profile";
pub const ACCOUNT_PASSWORD: &str = "/account/password";
pub const ACCOUNT_SESSION_END: &str = "/account/sessions/end";
pub const ACCOUNT_SESSIONS_END_OTHERS: &str = "/account/sessions/end-others";
pub const ACCOUNT_APP_WITHDRAW: &str = "/account/apps/withdraw";
/// Setting up an authenticator app (TOTP) from the account page.
pub const TWO_STEP: &str = "/account/two-step";
pub const TWO_STEP_REMOVE: &str = "/account/two-step/remove";
pub const RECOVERY_CODES: &str = "/account/recovery-codes";
pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const METRICS: &str = "/metrics";
pub const STYLESHEET: &str = "/static/lanyard.css";
pub const ADMIN_SCRIPT: &str = "/static/admin.js";
