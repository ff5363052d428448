//! The client's address: the peer, or — only behind `LANYARD_TRUSTED_PROXIES` —
//! the last untrusted hop of `X-Forwarded-For` (all its lines, in order).

use std::net::IpAddr;

use actix_web::HttpRequest;

use crate::config::Cidr;

pub fn client_ip(req: &HttpRequest, trusted: &[Cidr]) -> Option<String> {
    let peer = req.peer_addr()?.ip();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return Some(peer.to_string());
    }
    // RFC 9110 §5.3: several lines of a list header are one list, in order.
    // Each line is read byte by byte, so a stray byte spoils only its own
    // element (never a whole line, which would hand the proxy's own address
    // to whoever sent it).
    let hops: Vec<String> = req
        .headers()
        .get_all("x-forwarded-for")
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(',')
                .map(|h| h.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    // From the right, the first hop that is not a trusted proxy is the
    // client; one a trusted proxy wrote that does not parse leaves only the peer.
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip) => continue,
            Ok(ip) => return Some(ip.to_string()),
            Err(_) => break,
        }
    }
    Some(peer.to_string())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn trusted() -> Vec<Cidr> {
        vec![Cidr::parse("10.0.0.0/8").unwrap()]
    }

    #[test]
    fn several_x_forwarded_for_lines_are_one_list_read_from_the_right() {
        // RFC 9110 §5.3: two lines are the same as one joined with a comma.
        let req = TestRequest::default()
            .peer_addr("10.0.0.1:443".parse().unwrap())
            .append_header(("X-Forwarded-For", "198.51.100.7, 10.0.0.9"))
            .append_header(("X-Forwarded-For", "203.0.113.5, 10.0.0.2"))
            .to_http_request();
        assert_eq!(client_ip(&req, &trusted()).as_deref(), Some("203.0.113.5"));
    }

    /// Found in review: a byte that is not visible ASCII in the client's
    /// part of the line used to drop the whole line, and the proxy became the
    /// client (its address throttled for everyone behind it).
    #[test]
    fn a_stray_byte_spoils_only_its_own_element() {
        let line = actix_web::http::header::HeaderValue::from_bytes(b"\x80evil, 203.0.113.5").unwrap();
        let req = TestRequest::default()
            .peer_addr("10.0.0.1:443".parse().unwrap())
            .append_header(("X-Forwarded-For", line))
            .to_http_request();
        assert_eq!(client_ip(&req, &trusted()).as_deref(), Some("203.0.113.5"));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let req = TestRequest::default()
            .peer_addr("192.0.2.1:443".parse().unwrap())
            .append_header(("X-Forwarded-For", "203.0.113.5"))
            .to_http_request();
        assert_eq!(client_ip(&req, &trusted()).as_deref(), Some("192.0.2.1"));
    }
}
