//! The lead across frames: a clickscript in an iframe (a form embedded from another origin) asks
//! its parent for the lead, and a parent running the same campaign hands over the transaction,
//! the once-per-lead events it has fired and its attribution. Both sides accept only the
//! campaign's allowed origins, named one by one: the transaction and the attribution are the
//! publisher's, and a page that frames the form (or a frame in the page) must not read or set them.

use super::event::{Attribution, Fields};

/// What a frame posts to its parent to ask for the lead.
pub const HELLO: &str = "pt:hello";
/// What the parent posts back.
pub const LEAD: &str = "pt:lead";
/// How long a frame waits for its parent's answer before it starts a lead of its own (ms). A
/// parent page without the clickscript never answers: its frames' Base Events wait this long.
pub const WAIT_MS: u64 = 1000;
/// How often the frame asks again while it waits (ms): the parent's clickscript may not be
/// running yet when the frame's is.
pub const ASK_EVERY_MS: u32 = 200;

/// Whether `origin` (a message's, as the browser gives it) is one the campaign shares its lead
/// with: listed exactly among its allowed origins. `*` shares with no frame: a campaign that
/// takes events from anywhere does not hand its leads to any page that frames it.
pub fn shares_with(origin: &str, allowed: &[String]) -> bool {
    origin != "null" && origin != "*" && allowed.iter().any(|o| o == origin)
}

/// The attribution a frame takes from its parent: the parent's (where the visitor landed, with
/// the ad's parameters), with the frame's own parameters over it (what the embed's URL says).
pub fn attribution(parent: &Attribution, frame: &Attribution) -> Attribution {
    let overlay = |base: &Fields<String>, own: &Fields<String>| {
        let mut out = base.clone();
        for (k, v) in own.iter() {
            if !v.is_empty() {
                out.insert(k.clone(), v.clone());
            }
        }
        out
    };
    Attribution {
        params: overlay(&parent.params, &frame.params),
        click_ids: overlay(&parent.click_ids, &frame.click_ids),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_origins_listed_one_by_one_share_the_lead() {
        let allowed = vec![
            "https://lp.example".to_string(),
            "https://forms.example:8443".to_string(),
            "*".to_string(),
        ];
        assert!(shares_with("https://lp.example", &allowed));
        assert!(shares_with("https://forms.example:8443", &allowed));
        for other in [
            "https://evil.example",
            "http://lp.example",
            "https://lp.example.evil.example",
            "null",
            "*",
            "",
        ] {
            assert!(!shares_with(other, &allowed), "{other}");
        }
        assert!(!shares_with("https://x.example", &["*".to_string()]));
    }

    #[test]
    fn the_frame_takes_the_parents_attribution_with_its_own_over_it() {
        let mut parent = Attribution::default();
        parent.params.insert("utm_source".into(), "google".into());
        parent.params.insert("sub1".into(), "a".into());
        parent.click_ids.insert("gclid".into(), "G1".into());
        let mut frame = Attribution::default();
        frame.params.insert("sub1".into(), "embed".into());
        frame.params.insert("utm_source".into(), String::new());
        let a = attribution(&parent, &frame);
        assert_eq!(a.params["utm_source"], "google");
        assert_eq!(a.params["sub1"], "embed");
        assert_eq!(a.click_ids["gclid"], "G1");
    }
}
