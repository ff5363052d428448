//! Every path Lanyard serves, in one place: routes, discovery, templates and tests use these.

pub const DISCOVERY: &str = "/.well-known/openid-configuration";
pub const AUTHORIZATION_SERVER_METADATA: &str = "/.well-known/oauth-authorization-server";
pub const JWKS: &str = "/jwks";
pub const AUTHORIZE: &str = "/authorize";
pub const TOKEN: &str = "/token";
/// Pushed authorization requests (RFC 9126 §2).
pub const PAR: &str = "/par";
pub const USERINFO: &str = "/userinfo";
pub const INTROSPECT: &str = "/introspect";
pub const REVOKE: &str = "/revoke";
pub const LOGOUT: &str = "/logout";
pub const SIGNIN: &str = "/signin";
pub const CONSENT: &str = "/consent";
/// The second step of a sign-in (a code), or a step-up of the current session.
pub const SECOND_STEP: &str = "/signin/step";
/// Asking for a password reset link by email.
pub const FORGOT: &str = "/signin/forgot";
/// Where a password reset link leads.
pub const RESET: &str = "/signin/reset";
/// Self-registration (`LANYARD_SIGNUP`), with `?invite=TOKEN` for an invitation.
pub const REGISTER: &str = "/signin/register";
/// Where an email verification link leads.
pub const VERIFY_EMAIL: &str = "/signin/verify-email";
/// Signing in through an upstream OpenID provider: `/signin/upstream/ID`
/// starts it, `/signin/upstream/ID/callback` is the redirect URI registered
/// at the upstream.
pub const UPSTREAM_SIGNIN: &str = "/signin/upstream/{id}";
pub const UPSTREAM_CALLBACK: &str = "/signin/upstream/{id}/callback";
/// The confirmation of a link to an existing account (a form).
pub const UPSTREAM_LINK: &str = "/signin/upstream-link";
pub const ADMIN: &str = "/admin";
/// The admin page's "Invite someone" form.
pub const ADMIN_INVITATIONS: &str = "/admin/invitations";
/// The admin page's "Withdraw" of a pending invitation.
pub const ADMIN_INVITATION_WITHDRAW: &str = "/admin/invitations/withdraw";
/// A person's own account page, and its forms.
pub const ACCOUNT: &str = "/account";
pub const ACCOUNT_PROFILE: &str = "/account/profile";
pub const ACCOUNT_PASSWORD: &str = "/account/password";
/// A new email address, verified by a mailed link before it counts.
pub const ACCOUNT_EMAIL: &str = "/account/email";
pub const ACCOUNT_SESSION_END: &str = "/account/sessions/end";
pub const ACCOUNT_SESSIONS_END_OTHERS: &str = "/account/sessions/end-others";
pub const ACCOUNT_APP_WITHDRAW: &str = "/account/apps/withdraw";
/// Removing one of a person's links to an upstream provider.
pub const ACCOUNT_UPSTREAM_UNLINK: &str = "/account/upstreams/unlink";
/// Setting up an authenticator app (TOTP) from the account page.
pub const TWO_STEP: &str = "/account/two-step";
pub const TWO_STEP_REMOVE: &str = "/account/two-step/remove";
pub const RECOVERY_CODES: &str = "/account/recovery-codes";
/// A person's passkeys: the list, and the forms to rename and remove one.
pub const PASSKEYS: &str = "/account/passkeys";
pub const PASSKEYS_RENAME: &str = "/account/passkeys/rename";
pub const PASSKEYS_REMOVE: &str = "/account/passkeys/remove";
/// JSON: options to create a passkey, then the new credential.
pub const PASSKEYS_OPTIONS: &str = "/account/passkeys/options";
pub const PASSKEYS_REGISTER: &str = "/account/passkeys/register";
/// JSON: a passwordless sign-in's options, then its assertion.
pub const PASSKEY_SIGNIN_OPTIONS: &str = "/signin/passkey/options";
pub const PASSKEY_SIGNIN: &str = "/signin/passkey";
/// JSON: a passkey as the second step (or a step-up): options, then the assertion.
pub const PASSKEY_STEP_OPTIONS: &str = "/signin/passkey/step/options";
pub const PASSKEY_STEP: &str = "/signin/passkey/step";
/// Dynamic client registration (RFC 7591 §3), and a registered client's
/// configuration endpoint (RFC 7592 §2: `registration_client_uri`).
pub const CLIENT_REGISTRATION: &str = "/register";
pub const CLIENT_CONFIGURATION: &str = "/register/{client_id}";
pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const METRICS: &str = "/metrics";
pub const STYLESHEET: &str = "/static/lanyard.css";
pub const ADMIN_SCRIPT: &str = "/static/admin.js";
pub const PASSKEYS_SCRIPT: &str = "/static/passkeys.js";

/// Where a sign-in through upstream `id` starts.
pub fn upstream_signin(id: &str) -> String {
    UPSTREAM_SIGNIN.replace("{id}", id)
}

/// The redirect URI path of upstream `id` (under the issuer).
pub fn upstream_callback(id: &str) -> String {
    UPSTREAM_CALLBACK.replace("{id}", id)
}

/// A registered client's configuration endpoint path (RFC 7592 §2).
pub fn client_configuration(client_id: &str) -> String {
    CLIENT_CONFIGURATION.replace("{client_id}", client_id)
}
