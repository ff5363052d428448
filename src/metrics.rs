//! What `/metrics` reports beyond the token counts: requests by route and
//! status with a latency histogram, exchange decisions, sign-ins and reuse
//! detection — counted in memory by this process since it started.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Latency histogram bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default, Clone)]
struct Histogram {
    /// Observations at most each bound (not cumulative; summed when rendered).
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// A counter with labels, each label set rendered once as `{k="v",…}`.
#[derive(Default)]
struct Family(Mutex<BTreeMap<String, u64>>);

impl Family {
    fn add(&self, labels: &[(&str, &str)]) {
        let key = render_labels(labels);
        *self.0.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_default() += 1;
    }

    fn write(&self, out: &mut String, name: &str, help: &str) {
        write_header(out, name, "counter", help);
        for (labels, n) in self.0.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "{name}{labels} {n}");
        }
    }
}

#[derive(Default)]
pub struct Metrics {
    /// route → status → histogram (nested, so counting allocates nothing).
    requests: Mutex<BTreeMap<String, BTreeMap<u16, Histogram>>>,
    exchanges: Family,
    sign_ins: Family,
    reuse: Family,
    mail: Family,
    logout_deliveries: Family,
    client_registrations: Family,
    previous_secret_uses: Family,
    metadata_document_fetches: Family,
}

impl Metrics {
    /// One HTTP request: its route pattern (never the raw path, whose ids and
    /// tokens would make endless series), status and duration.
    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let by_status = match requests.get_mut(route) {
            Some(by_status) => by_status,
            None => requests.entry(route.to_owned()).or_default(),
        };
        let h = by_status.entry(status).or_default();
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            h.buckets[i] += 1;
        }
        h.sum += seconds;
        h.count += 1;
    }

    /// A token exchange decision; `reason` is the error code of a denial.
    pub fn exchange(&self, allowed: bool, reason: &str) {
        let outcome = if allowed { "allowed" } else { "denied" };
        self.exchanges.add(&[("outcome", outcome), ("reason", reason)]);
    }

    /// A sign-in attempt: `ok`, `failed`, `disabled` or `throttled`.
    pub fn sign_in(&self, outcome: &str) {
        self.sign_ins.add(&[("outcome", outcome)]);
    }

    /// A single-use credential used again: `code_reuse` or `refresh_token_reuse`.
    pub fn reuse(&self, kind: &str) {
        self.reuse.add(&[("kind", kind)]);
    }

    /// A message of the outbox: `sent`, `failed` (to be retried) or `gave_up`.
    pub fn mail(&self, outcome: &str) {
        self.mail.add(&[("outcome", outcome)]);
    }

    /// A back-channel logout delivery attempt: `sent`, `failed` (to be
    /// retried), `gave_up`, or `dropped` (the queue was full).
    pub fn logout_delivery(&self, outcome: &str) {
        self.logout_deliveries.add(&[("outcome", outcome)]);
    }

    /// A dynamic client registration change (RFC 7591/7592): `registered`,
    /// `updated` or `deleted`.
    pub fn client_registration(&self, event: &str) {
        self.client_registrations.add(&[("event", event)]);
    }

    /// A fetch of a client's metadata document: `resolved` or `refused`.
    pub fn metadata_document_fetch(&self, outcome: &str) {
        self.metadata_document_fetches.add(&[("outcome", outcome)]);
    }

    /// A client authenticated with its previous secret, during its grace,
    /// at `endpoint` (a path).
    pub fn previous_secret_use(&self, endpoint: &str) {
        self.previous_secret_uses.add(&[("endpoint", endpoint)]);
    }

    /// Appends these families in the Prometheus text format.
    pub fn write(&self, out: &mut String) {
        let name = "lanyard_http_request_duration_seconds";
        write_header(
            out,
            name,
            "histogram",
            "HTTP requests by route and status, and how long they took.",
        );
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        for (route, status, h) in requests
            .iter()
            .flat_map(|(route, by_status)| by_status.iter().map(move |(status, h)| (route, status, h)))
        {
            let labels = format!("route=\"{}\",status=\"{status}\"", escape(route));
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
            }
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
        }
        self.exchanges.write(
            out,
            "lanyard_token_exchanges_total",
            "Token exchange decisions, allowed or denied, by reason (the error code).",
        );
        self.sign_ins
            .write(out, "lanyard_sign_ins_total", "Sign-in attempts by outcome.");
        self.reuse.write(
            out,
            "lanyard_reuse_detected_total",
            "Authorization codes and refresh tokens used again (their grants were revoked).",
        );
        self.mail.write(
            out,
            "lanyard_mail_total",
            "Attempts to send mail from the outbox by outcome (sent, failed and retried later, gave up).",
        );
        self.logout_deliveries.write(
            out,
            "lanyard_logout_deliveries_total",
            "Back-channel logout deliveries by outcome (sent, failed and retried later, gave_up, dropped when the queue was full).",
        );
        self.client_registrations.write(
            out,
            "lanyard_client_registrations_total",
            "Dynamic client registrations (RFC 7591) and their changes (RFC 7592) by event: registered, updated, deleted.",
        );
        self.previous_secret_uses.write(
            out,
            "lanyard_previous_secret_uses_total",
            "Client authentications with a previous secret during its grace, by endpoint.",
        );
        self.metadata_document_fetches.write(
            out,
            "lanyard_client_metadata_document_fetches_total",
            "Fetches of clients' metadata documents (a URL as client_id) by outcome: resolved, refused.",
        );
    }
}

/// A metric family's `# HELP` and `# TYPE` lines (`kind`: counter, gauge, histogram).
pub fn write_header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn render_labels(labels: &[(&str, &str)]) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    format!("{{{}}}", inner.join(","))
}

/// A label value in the text format: backslash, double quote and newline escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_the_count() {
        let m = Metrics::default();
        m.request("/token", 200, 0.0007);
        m.request("/token", 200, 0.02);
        m.request("/token", 200, 9.0);
        let mut out = String::new();
        m.write(&mut out);
        let line = |le: &str| {
            format!("lanyard_http_request_duration_seconds_bucket{{route=\"/token\",status=\"200\",le=\"{le}\"}}")
        };
        assert!(out.contains(&format!("{} 0\n", line("0.0005"))));
        assert!(out.contains(&format!("{} 1\n", line("0.001"))));
        assert!(out.contains(&format!("{} 2\n", line("0.025"))));
        assert!(out.contains(&format!("{} 2\n", line("2.5"))));
        assert!(out.contains(&format!("{} 3\n", line("+Inf"))));
        assert!(out.contains("lanyard_http_request_duration_seconds_count{route=\"/token\",status=\"200\"} 3\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(
            render_labels(&[("reason", "a\"b\\c\nd")]),
            "{reason=\"a\\\"b\\\\c\\nd\"}"
        );
    }
}
