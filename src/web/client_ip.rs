//! The client's address: the peer, or — only behind `LANYARD_TRUSTED_PROXIES` —
//! the last untrusted hop of `X-Forwarded-For`.

use std::net::IpAddr;

use actix_web::HttpRequest;

use crate::config::Cidr;

pub fn client_ip(req: &HttpRequest, trusted: &[Cidr]) -> Option<String> {
    let peer = req.peer_addr()?.ip();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return Some(peer.to_string());
    }
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let hops: Vec<IpAddr> = forwarded.split(',').filter_map(|h| h.trim().parse().ok()).collect();
    let client = hops.into_iter().rev().find(|ip| !is_trusted(*ip)).unwrap_or(peer);
    Some(client.to_string())
}
