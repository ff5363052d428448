//! Which addresses are on the public internet: the rule for what Lanyard
//! fetches or posts to on behalf of clients that registered themselves
//! (their `jwks_uri`, `backchannel_logout_uri`), so a registration cannot
//! aim Lanyard at the operator's own network (RFC 7591 §5, Back-Channel
//! Logout §4). The URL's text is checked at registration (`public_https`);
//! the name is checked again when it is resolved for a fetch
//! (`protocol::remote`, every address it resolves to `is_public`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `https` to a host on the public internet: no `localhost` or
/// `*.localhost`, no IP literal outside the globally reachable space
/// (`is_public`). A name that resolves to such an address passes here; the
/// fetch refuses it (README "Dynamic client registration").
pub fn public_https(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|_| format!("`{raw}` is not an absolute URL"))?;
    let refused = || Err(format!("`{raw}` must be https to a public host"));
    if url.scheme() != "https" {
        return refused();
    }
    let public = match url.host() {
        None => false,
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d != "localhost" && !d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(v4)) => is_public(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => is_public(IpAddr::V6(v6)),
    };
    match public {
        true => Ok(()),
        false => refused(),
    }
}

/// Whether an address is globally reachable: none of the ranges of the IANA
/// IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890) that are not,
/// nor multicast. An IPv6 address that carries an IPv4 one — mapped
/// (`::ffff:0:0/96`, RFC 4291 §2.5.5.2), NAT64 (`64:ff9b::/96`, RFC 6052 §2.1)
/// or 6to4 (`2002::/16`, RFC 3056 §2) — is judged by that IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

/// `(network, prefix length)`: IPv4 ranges that are not globally reachable.
const NOT_PUBLIC_V4: [([u8; 4], u8); 16] = [
    ([0, 0, 0, 0], 8),          // "this network", RFC 791
    ([10, 0, 0, 0], 8),         // private, RFC 1918
    ([100, 64, 0, 0], 10),      // shared address space, RFC 6598
    ([127, 0, 0, 0], 8),        // loopback, RFC 1122
    ([169, 254, 0, 0], 16),     // link-local, RFC 3927
    ([172, 16, 0, 0], 12),      // private, RFC 1918
    ([192, 0, 0, 0], 24),       // IETF protocol assignments, RFC 6890
    ([192, 0, 2, 0], 24),       // documentation (TEST-NET-1), RFC 5737
    ([192, 88, 99, 0], 24),     // 6to4 relay anycast (deprecated), RFC 7526
    ([192, 168, 0, 0], 16),     // private, RFC 1918
    ([198, 18, 0, 0], 15),      // benchmarking, RFC 2544
    ([198, 51, 100, 0], 24),    // documentation (TEST-NET-2), RFC 5737
    ([203, 0, 113, 0], 24),     // documentation (TEST-NET-3), RFC 5737
    ([224, 0, 0, 0], 4),        // multicast, RFC 5771
    ([240, 0, 0, 0], 4),        // reserved, RFC 1112
    ([255, 255, 255, 255], 32), // limited broadcast, RFC 919
];

fn public_v4(v4: Ipv4Addr) -> bool {
    let address = u32::from(v4);
    !NOT_PUBLIC_V4.iter().any(|(network, len)| {
        let mask = u32::MAX << (32 - u32::from(*len));
        address & mask == u32::from_be_bytes(*network) & mask
    })
}

/// IPv6 ranges that are not globally reachable (the IPv4-carrying ones are
/// judged apart, in `public_v6`).
const NOT_PUBLIC_V6: [(u128, u8); 12] = [
    (0, 96),                           // ::/128, ::1/128 and the deprecated IPv4-compatible ::/96, RFC 4291
    (0x0064_ff9b_0001 << 80, 48),      // local-use IPv4/IPv6 translation, RFC 8215
    (0x0100 << 112, 64),               // discard-only, RFC 6666
    (0x2001 << 112, 23),               // IETF protocol assignments (Teredo, benchmarking, ORCHID…), RFC 2928
    (0x2001_0db8 << 96, 32),           // documentation, RFC 3849
    (0x3fff << 112, 20),               // documentation, RFC 9637
    (0x5f00 << 112, 16),               // segment routing SIDs, RFC 9602
    (0xfc00 << 112, 7),                // unique local, RFC 4193
    (0xfe80 << 112, 10),               // link-local, RFC 4291
    (0xfec0 << 112, 10),               // site-local (deprecated), RFC 3879
    (0xff00 << 112, 8),                // multicast, RFC 4291
    (0x0100_0000_0000_0001 << 64, 64), // dummy prefix (IANA IPv6 special-purpose registry)
];

fn public_v6(v6: Ipv6Addr) -> bool {
    let address = u128::from(v6);
    let s = v6.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    // IPv4-mapped, NAT64's well-known prefix, 6to4: the IPv4 address inside.
    if address >> 32 == 0xffff {
        return public_v4(embedded(s[6], s[7]));
    }
    if address >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
        return public_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return public_v4(embedded(s[1], s[2]));
    }
    !NOT_PUBLIC_V6.iter().any(|(network, len)| {
        let mask = u128::MAX << (128 - u32::from(*len));
        address & mask == network & mask
    })
}
#[cfg(test)]
mod tests {
    use super::public_https;

    #[test]
    fn public_https_refuses_local_and_private_hosts() {
        for ok in [
            "https://rp.example.com/bcl",
            "https://93.184.215.14/bcl",
            "https://8.8.8.8/x",
            "https://[2606:4700::1111]/x",
            // NAT64 (RFC 6052) and 6to4 (RFC 3056) of a public IPv4 address.
            "https://[64:ff9b::808:808]/x",
            "https://[2002:808:808::1]/x",
            "https://[::ffff:8.8.8.8]/x",
        ] {
            assert!(public_https(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://rp.example.com/bcl",
            "https://localhost/x",
            "https://a.localhost/x",
            "https://127.0.0.1:2375/containers",
            "https://10.1.2.3/x",
            "https://172.16.0.1/x",
            "https://192.168.0.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/x",
            "https://100.127.255.254/x",
            "https://0.0.0.0/x",
            "https://0.1.2.3/x",
            "https://192.0.0.8/x",
            "https://192.0.2.1/x",
            "https://198.18.0.1/x",
            "https://198.19.255.254/x",
            "https://198.51.100.7/x",
            "https://203.0.113.7/x",
            "https://224.0.0.1/x",
            "https://239.255.255.250/x",
            "https://240.0.0.1/x",
            "https://255.255.255.255/x",
            "https://[::]/x",
            "https://[::1]/x",
            "https://[::7f00:1]/x",
            "https://[fd00::1]/x",
            "https://[fc00::1]/x",
            "https://[fe80::1]/x",
            "https://[fec0::1]/x",
            "https://[ff02::1]/x",
            "https://[2001:db8::1]/x",
            "https://[2001::1]/x",
            "https://[100::1]/x",
            "https://[3fff::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://[::ffff:10.0.0.1]/x",
            "https://[64:ff9b::7f00:1]/x",
            "https://[64:ff9b::a9fe:a9fe]/x",
            "https://[64:ff9b:1::a00:1]/x",
            "https://[2002:7f00:1::1]/x",
            "https://[2002:a00:1::1]/x",
        ] {
            assert!(public_https(bad).is_err(), "{bad}");
        }
    }
}
