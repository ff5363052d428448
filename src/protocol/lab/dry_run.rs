//! The exchange dry run of the admin page: what `/token` would answer to an
//! RFC 8693 exchange for a client — the same evaluation, minting nothing,
//! auditing nothing.

use serde_json::{Value, json};

use crate::model::{AuthLevel, GrantType};
use crate::protocol::Provider;
use crate::protocol::api_tokens;
use crate::protocol::error::OAuthError;
use crate::protocol::params::Params;
use crate::protocol::token::exchange::{self, Decision, Evaluated, ExchangeRequest, Possession, SubjectSource};
use crate::protocol::token::may_use;

/// What the admin page's dry run shows: the claims an exchange would put in
/// the access token, or the error and the rule that decided.
#[derive(Debug, serde::Serialize)]
pub struct DryRun {
    pub allowed: bool,
    pub outcome: String,
    pub claims: Value,
}

impl DryRun {
    fn refused(e: &OAuthError) -> Self {
        Self {
            allowed: false,
            outcome: format!("{}: {}", e.code.as_str(), e.description),
            claims: Value::Null,
        }
    }
}

/// Evaluates an exchange for `client_id` exactly as `/token` would after
/// authenticating the client.
pub async fn dry_run(
    p: &Provider,
    client_id: &str,
    params: &Params,
    source: SubjectSource,
) -> Result<DryRun, OAuthError> {
    let Some(client) = p.catalog.client(client_id) else {
        return Ok(DryRun {
            allowed: false,
            outcome: format!("invalid_client: no client `{client_id}`"),
            claims: Value::Null,
        });
    };
    if let Err(e) = may_use(&client, GrantType::TokenExchange) {
        return Ok(DryRun::refused(&e));
    }
    let mut decision = Decision::default();
    let evaluated = match ExchangeRequest::parse(params, source) {
        Ok(req) => match exchange::evaluate(p, &client, &req, Possession::AssumedForDryRun, &mut decision).await {
            Ok(mut e) => e.subject.settle(p).await.map(|()| e),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let Evaluated {
        subject,
        api,
        scopes,
        jkt,
        ..
    } = match evaluated {
        Ok(evaluated) => evaluated,
        Err(e) => return Ok(DryRun::refused(&e)),
    };
    // RFC 9470: as /token, a sign-in below the API's level is refused.
    if let Err(e) = api_tokens::require_level(p, &api, &subject.amr) {
        return Ok(DryRun::refused(&e));
    }
    let now = p.now();
    let lifetime = api_tokens::lifetime(p, &api, now, subject.until());
    let mut claims = json!({
        "iss": p.config.issuer.as_str(), "sub": subject.user_id.to_string(), "aud": api.audience,
        "client_id": client.client_id, "scope": scopes.join(" "), "iat": now.timestamp(),
        "exp": (now + lifetime).timestamp(), "auth_time": subject.auth_time().map(|t| t.timestamp()),
        "acr": AuthLevel::of_methods(&subject.amr).as_str(), "amr": subject.amr,
        "jti": "(minted at issuance)", "grant_id": "(made at issuance)",
    });
    let mut outcome = format!(
        "allowed: an access token for {} ({}, {lifetime})",
        api.audience, api.alg
    );
    outcome.push_str(&binding(&mut claims, jkt, api.dpop.required || client.dpop.required));
    Ok(DryRun {
        allowed: true,
        outcome,
        claims,
    })
}

/// What the outcome says of DPoP: the subject's key binds the token (RFC
/// 9449 §6.1, named in `cnf.jkt`), or the client or API asks for a proof
/// (§5.2, the API's own rule): then no bearer token is issued.
fn binding(claims: &mut Value, jkt: Option<String>, proof_required: bool) -> String {
    match jkt {
        Some(jkt) => {
            let said =
                format!(", bound to the DPoP key {jkt} of the subject token: /token needs a DPoP proof of that key");
            claims["cnf"] = json!({ "jkt": jkt });
            said
        }
        None if proof_required => {
            ", only DPoP-bound: /token needs a DPoP proof, and the token names its key (cnf.jkt)".to_owned()
        }
        None => String::new(),
    }
}
