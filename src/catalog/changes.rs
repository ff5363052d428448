//! What the catalog's NOTIFYs say changed (migration 0021's payloads),
//! gathered while they arrive so one reload serves a burst of them.

use std::collections::HashSet;

/// Past this many clients in one burst, reading everything is cheaper than
/// asking for each (and a full reload is always correct).
pub const MOST_CLIENTS_AT_ONCE: usize = 2_000;

/// The changes noticed since the last reload.
#[derive(Debug, Default)]
pub struct Pending {
    pub everything: bool,
    pub apis: bool,
    pub upstreams: bool,
    pub clients: HashSet<String>,
    /// The highest of this node's own markers seen (`Catalog::catch_up`):
    /// every change committed before it is in this burst.
    pub synced: Option<u64>,
}

impl Pending {
    /// Read everything (a new listener, the safety net, a failed read).
    pub fn everything() -> Self {
        Self {
            everything: true,
            ..Self::default()
        }
    }

    /// Adds one payload. `node` is this node's marker name: markers of other
    /// nodes change nothing. A payload not understood (an older or newer
    /// release's) reloads everything.
    pub fn note(&mut self, payload: &str, node: &str) {
        if let Some(ids) = payload.strip_prefix("clients ") {
            self.clients
                .extend(ids.split(' ').filter(|id| !id.is_empty()).map(str::to_owned));
        } else if let Some(marker) = payload.strip_prefix("sync ") {
            if let Some((from, n)) = marker.split_once(' ')
                && from == node
                && let Ok(n) = n.parse::<u64>()
            {
                self.synced = self.synced.max(Some(n));
            }
        } else {
            match payload {
                "apis" => self.apis = true,
                "upstreams" => self.upstreams = true,
                _ => self.everything = true,
            }
        }
    }

    /// Whether this burst is better served by reading every client.
    pub fn needs_everything(&self) -> bool {
        self.everything || self.clients.len() > MOST_CLIENTS_AT_ONCE
    }

    /// Whether anything but a marker arrived.
    pub fn changes_anything(&self) -> bool {
        self.everything || self.apis || self.upstreams || !self.clients.is_empty()
    }
}

/// The payload of a marker from `node`, number `n`.
pub fn marker(node: &str, n: u64) -> String {
    format!("sync {node} {n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(payloads: &[&str]) -> Pending {
        let mut p = Pending::default();
        for payload in payloads {
            p.note(payload, "n1");
        }
        p
    }

    #[test]
    fn a_client_change_names_only_its_clients() {
        let p = pending(&["clients a b", "clients b c"]);
        let mut ids: Vec<_> = p.clients.iter().map(String::as_str).collect();
        ids.sort();
        assert_eq!(ids, ["a", "b", "c"]);
        assert!(!p.needs_everything() && !p.apis && !p.upstreams);
    }

    #[test]
    fn a_payload_not_understood_reloads_everything() {
        for payload in ["all", "clients", "client_trusts", "", "something new"] {
            assert!(pending(&[payload]).needs_everything(), "{payload}");
        }
        assert!(pending(&["apis"]).apis && pending(&["upstreams"]).upstreams);
    }

    #[test]
    fn a_burst_of_many_clients_reads_every_client() {
        let ids: Vec<String> = (0..=MOST_CLIENTS_AT_ONCE).map(|i| format!("c{i}")).collect();
        assert!(pending(&[&format!("clients {}", ids.join(" "))]).needs_everything());
    }

    #[test]
    fn only_this_nodes_markers_count_and_the_highest_wins() {
        let p = pending(&[&marker("n1", 3), &marker("n2", 9), &marker("n1", 5), "sync n1 x"]);
        assert_eq!(p.synced, Some(5));
        assert!(!p.changes_anything());
    }
}
