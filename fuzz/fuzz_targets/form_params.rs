//! The form and query parser: any input parses; what it reads encodes and
//! parses back to the same; client credentials in `Authorization: Basic`
//! parse or are refused, never panic.
#![no_main]

use lanyard::protocol::client_auth::Basic;
use lanyard::protocol::params::{Params, duration};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let params = Params::parse(&text);
    let again = Params::parse(&params.encode());
    assert_eq!(again, params, "encoding is lossless");
    for name in ["state", "scope", "resource", "max_age", "client_id"] {
        let _ = params.one(name);
        let _ = params.all(name);
    }
    if let Ok(Some(raw)) = params.one("max_age") {
        let _ = duration(raw, chrono::TimeDelta::seconds(1));
        let _ = duration(raw, chrono::TimeDelta::hours(1));
    }
    let _ = params.first_repeated(&["resource", "audience"]);
    match Basic::parse(Some(&text)) {
        Basic::Given { client_id, .. } => assert!(!client_id.is_empty()),
        Basic::Absent => unreachable!("a header was given"),
        Basic::Malformed => {}
    }
});
