//! Redirect URIs, audiences, issuers and client ids: any input is accepted or
//! refused with a message; what is accepted keeps the promises of each type.
#![no_main]

use lanyard::config::Issuer;
use lanyard::model::{Audience, ClientId, RedirectUri};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    if let Ok(uri) = RedirectUri::parse(&raw) {
        assert_eq!(uri.as_str(), raw, "kept as the exact string registered");
        let url = url::Url::parse(&raw).expect("an accepted redirect URI is absolute");
        assert!(url.fragment().is_none(), "no fragment");
        assert!(url.username().is_empty() && url.password().is_none(), "no user information");
        assert!(!matches!(url.scheme(), "javascript" | "data" | "vbscript" | "file"), "{raw}");
    }
    if let Ok(aud) = Audience::parse(&raw) {
        assert_eq!(aud.to_string(), raw);
        assert!(url::Url::parse(&raw).is_ok_and(|u| u.fragment().is_none()));
    }
    if let Ok(issuer) = Issuer::parse(&raw) {
        let s = issuer.as_str();
        assert!(s.starts_with("https://") || s.starts_with("http://"), "{s}");
        assert!(!s.ends_with('/') && !s.contains('?') && !s.contains('#'), "{s}");
        assert_eq!(Issuer::parse(s).expect("its own form parses").as_str(), s, "canonical");
    }
    if let Ok(id) = ClientId::parse(&raw) {
        assert!((1..=64).contains(&id.as_str().len()));
        assert!(id.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)));
    }
});
