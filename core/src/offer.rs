//! Offer links: a click on a link to one of the campaign's offer domains carries the lead to the
//! offer (the transaction ID and the page's sub parameters added to the link before the
//! browser follows it). The rules are here; the extension rewrites the link with the browser's
//! own URL parser.

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::event::Fields;
use crate::limits::{MAX_FIELDS, MAX_KEY_LEN};
use crate::{decimal, text};

fn transaction_id() -> String {
    "transaction_id".to_owned()
}

/// What a campaign says of its offer links: served as `offers` beside its configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OfferRules {
    /// The offer domains: a link to one of them, or to a subdomain of one, is decorated.
    #[serde(default)]
    pub domains: Vec<String>,
    /// The query parameter the transaction ID travels in.
    #[serde(default = "transaction_id")]
    pub param: String,
    /// The page's query parameters that travel with it, under their own names (`sub1`,
    /// `utm_source`, ...), when the page has them: like the events' attribution, the current
    /// page's, so a landing page's links carry the landing parameters.
    #[serde(default)]
    pub subs: Vec<String>,
}

impl Default for OfferRules {
    fn default() -> Self {
        OfferRules {
            domains: Vec::new(),
            param: transaction_id(),
            subs: Vec::new(),
        }
    }
}

impl OfferRules {
    /// Whether `host` (a URL's host name) is one of the offer domains or below one.
    pub fn is_offer_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').as_bytes();
        self.domains.iter().any(|d| {
            let d = d.trim_end_matches('.').as_bytes();
            // Bytes, not str slices: a host name is ASCII (the URL parser writes punycode).
            let below = host.len() > d.len()
                && host.get(host.len() - d.len() - 1) == Some(&b'.')
                && host
                    .get(host.len() - d.len()..)
                    .is_some_and(|tail| tail.eq_ignore_ascii_case(d));
            !d.is_empty() && (host.eq_ignore_ascii_case(d) || below)
        })
    }

    /// The parameters an offer link gets: the transaction ID, then each configured sub parameter
    /// the landing page had (`landing`: its query parameters, as the attribution parsed them).
    pub fn params(&self, txn: &str, landing: &Fields<String>) -> Vec<(String, String)> {
        let mut out = vec![(self.param.clone(), txn.to_owned())];
        for sub in &self.subs {
            if let Some(v) = landing.get(sub) {
                out.push((sub.clone(), v.clone()));
            }
        }
        out
    }

    /// Every problem of these rules, with paths under `at`.
    pub fn validate(&self, at: &str, errors: &mut Vec<ConfigError>) {
        let mut fail = |field: &str, i: Option<usize>, reason| {
            let index = i.map(|i| text::concat(&["[", &decimal::string(i as u64), "]"]));
            errors.push(ConfigError {
                path: text::concat(&[at, ".", field, index.as_deref().unwrap_or("")]),
                reason,
            })
        };
        for (i, d) in self.domains.iter().enumerate() {
            let ok = !d.is_empty()
                && d.len() <= 253
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                && !d.starts_with('.');
            if !ok {
                fail(
                    "domains",
                    Some(i),
                    "must be a domain name, like offers.example.com",
                );
            }
        }
        if !param_name(&self.param) {
            fail("param", None, "must be a parameter name of 1 to 64 bytes");
        }
        if self.subs.len() > MAX_FIELDS {
            fail("subs", None, "has more than 50 names");
        }
        for (i, s) in self.subs.iter().enumerate() {
            if !param_name(s) {
                fail("subs", Some(i), "must be a parameter name of 1 to 64 bytes");
            }
        }
    }
}

fn param_name(name: &str) -> bool {
    !name.trim().is_empty() && name.len() <= MAX_KEY_LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> OfferRules {
        OfferRules {
            domains: vec!["offers.example".into(), "Buyer.TEST".into()],
            param: "transaction_id".into(),
            subs: vec!["sub1".into(), "utm_source".into()],
        }
    }

    #[test]
    fn offer_hosts_are_the_domains_and_their_subdomains() {
        let r = rules();
        for host in [
            "offers.example",
            "www.offers.example",
            "a.b.offers.example",
            "buyer.test",
            "OFFERS.EXAMPLE.",
        ] {
            assert!(r.is_offer_host(host), "{host}");
        }
        for host in [
            "example",
            "notoffers.example",
            "offers.example.evil.test",
            "buyer.test.evil",
            "",
        ] {
            assert!(!r.is_offer_host(host), "{host}");
        }
        assert!(!OfferRules::default().is_offer_host("offers.example"));
    }

    #[test]
    fn an_offer_link_gets_the_transaction_and_the_subs_the_landing_had() {
        let landing = Fields::from([
            ("utm_source".to_owned(), "google".to_owned()),
            ("gclid_like".to_owned(), "x".to_owned()),
        ]);
        assert_eq!(
            rules().params("TXN", &landing),
            [
                ("transaction_id".to_owned(), "TXN".to_owned()),
                ("utm_source".to_owned(), "google".to_owned())
            ]
        );
    }

    #[test]
    fn defaults_and_bad_rules() {
        let r: OfferRules = serde_json::from_str(r#"{"domains":["offers.example"]}"#).unwrap();
        assert_eq!(r.param, "transaction_id");
        let bad: OfferRules = serde_json::from_str(
            r#"{"domains":["ok.example","http://x.test/"],"param":"","subs":[" "]}"#,
        )
        .unwrap();
        let mut errors = Vec::new();
        bad.validate("offers", &mut errors);
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["offers.domains[1]", "offers.param", "offers.subs[0]"]
        );
    }
}
