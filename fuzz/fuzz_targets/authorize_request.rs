//! The authorization request: any query string, for a public and a
//! confidential client, is read or refused with an OAuth error; what is read
//! keeps PKCE, scope and prompt rules.
#![no_main]

use lanyard::crypto::Alg;
use lanyard::model::{AuthMethod, Client, GrantType, OidcScope};
use lanyard::protocol::authorize;
use lanyard::protocol::params::Params;
use libfuzzer_sys::fuzz_target;

fn client(public: bool) -> Client {
    Client {
        client_id: "rp".into(),
        name: "RP".into(),
        auth_method: if public { AuthMethod::None } else { AuthMethod::ClientSecretBasic },
        secret_hash: None,
        redirect_uris: vec!["https://rp.example/cb".into()],
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: OidcScope::ALL.to_vec(),
        first_party: !public,
        id_token_alg: Alg::RS256,
    }
}

fuzz_target!(|data: &[u8]| {
    let params = Params::parse(&String::from_utf8_lossy(data));
    for public in [true, false] {
        let Ok(read) = authorize::read(&client(public), &params) else { continue };
        if public {
            assert!(read.code_challenge.is_some(), "PKCE is required of public clients");
        }
        if let Some(challenge) = &read.code_challenge {
            assert!(authorize::is_pkce_value(challenge), "{challenge}");
        }
        assert!(!(read.prompt.none && (read.prompt.login || read.prompt.consent)));
        assert!(read.nonce.as_ref().is_none_or(|n| n.len() <= authorize::MAX_ECHO_LEN));
        for s in &read.scopes {
            assert!(s.parse::<OidcScope>().is_ok(), "{s}");
        }
        assert_eq!(params.one("response_type").ok().flatten(), Some("code"));
    }
});
