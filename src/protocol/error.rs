//! OAuth 2.0 and OpenID Connect error codes, and the error every flow returns.

use std::fmt;

use crate::store::StoreError;

/// An error code of RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, OIDC Core §3.1.2.6,
/// RFC 8707 §2 and RFC 7009 §2.2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// A parameter is missing, invalid, repeated, or the request is otherwise malformed.
    InvalidRequest,
    /// Client authentication failed (RFC 6749 §5.2): 401.
    InvalidClient,
    /// The grant (code, refresh token, subject token) is invalid, expired, revoked or not this client's.
    InvalidGrant,
    /// The client may not use this grant or response type.
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    /// The scope is invalid, unknown, or beyond what may be granted.
    InvalidScope,
    /// The resource owner denied the request.
    AccessDenied,
    /// `prompt=none` and the user must sign in (OIDC Core §3.1.2.6).
    LoginRequired,
    /// `prompt=none` and the user must consent.
    ConsentRequired,
    /// The `request` parameter is not supported (OIDC Core §6).
    RequestNotSupported,
    /// The `request_uri` parameter is not supported.
    RequestUriNotSupported,
    /// The resource is invalid or not allowed (RFC 8707 §2).
    InvalidTarget,
    /// The access token is invalid (RFC 6750 §3.1): 401.
    InvalidToken,
    /// The access token lacks a scope the resource needs (RFC 6750 §3.1): 403.
    InsufficientScope,
    /// An unexpected condition; details are logged, never sent.
    ServerError,
    /// The database is unreachable, or a bounded table is full: 503.
    TemporarilyUnavailable,
    /// Too many requests from one address or client (RFC 6585 §4: 429 with
    /// `Retry-After`; RFC 9126 §2.3 names 429 for the PAR endpoint, and the
    /// code is RFC 8628 §3.5's, as the registration endpoint answers).
    SlowDown,
    /// The `DPoP` proof is missing where required, malformed or invalid (RFC 9449 §5, §12.2).
    InvalidDpopProof,
    /// The `DPoP` proof lacks the server's current nonce (RFC 9449 §8): the
    /// answer carries one in `DPoP-Nonce`.
    UseDpopNonce,
    /// The sign-in is below the level the API requires (RFC 9470 §3).
    InsufficientUserAuthentication,
    /// An essential `acr` the sign-in cannot satisfy (OIDC Core §5.5.1.1;
    /// the code is OpenID Connect Core Error Code `unmet_authentication_requirements`).
    UnmetAuthenticationRequirements,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
            ErrorCode::InsufficientUserAuthentication => "insufficient_user_authentication",
            ErrorCode::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
        }
    }

    /// The HTTP status of a JSON error response with this code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => 401,
            ErrorCode::InsufficientScope => 403,
            ErrorCode::ServerError => 500,
            ErrorCode::TemporarilyUnavailable => 503,
            ErrorCode::SlowDown => 429,
            _ => 400,
        }
    }
}

/// A protocol error: a code and a description safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
    /// A fresh server nonce to send in `DPoP-Nonce` (RFC 9449 §8).
    pub dpop_nonce: Option<String>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            dpop_nonce: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// An unexpected failure: logged with its cause, answered as an opaque
    /// `server_error`.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::ServerError, "internal error")
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::error::Error for OAuthError {}

/// Database trouble: logged with its cause, answered as `temporarily_unavailable`
/// when the database cannot be reached, else an opaque `server_error`.
impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        if e.is_bad_input() {
            tracing::warn!(error = %e, "the database refused a value of the request");
            return OAuthError::invalid_request("a parameter holds a value that cannot be stored");
        }
        if e.is_unreachable() {
            tracing::warn!(error = %e, "database unreachable");
            OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "the service is briefly unavailable; retry shortly",
            )
        } else {
            tracing::error!(error = %e, "internal error");
            OAuthError::new(ErrorCode::ServerError, "internal error")
        }
    }
}

/// The audit buffer is full (the database has been away a while): refuse
/// rather than act unaudited.
impl From<super::audit_buffer::BufferFull> for OAuthError {
    fn from(e: super::audit_buffer::BufferFull) -> Self {
        tracing::warn!(error = %e, "refused a request that would add an audit event");
        OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            "the service is briefly unavailable; retry shortly",
        )
    }
}

impl From<sqlx::Error> for OAuthError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Db(e).into()
    }
}

impl From<crate::crypto::CryptoError> for OAuthError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        tracing::error!(error = %e, "crypto failure");
        OAuthError::new(ErrorCode::ServerError, "internal error")
    }
}
