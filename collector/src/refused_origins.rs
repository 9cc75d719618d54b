//! The page origins that ingest refuses for a campaign, told in the log once per (campaign,
//! origin) with the fix, not at every batch: a page left out of `allowed_origins` sends one
//! batch after another, and its operator needs the one line that says what to change.

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

/// The most pairs remembered. Past it the memory starts over, so that a client sending from ever
/// new origins cannot grow it (a pair may then be told again).
pub const REMEMBERED: usize = 4096;

/// The (campaign, origin) pairs told so far, each by its hash: a few bytes a pair, however long
/// the origin a client sends.
#[derive(Debug, Default)]
pub struct Told {
    pairs: BTreeSet<u64>,
}

impl Told {
    /// Nothing told yet.
    pub const fn new() -> Told {
        Told {
            pairs: BTreeSet::new(),
        }
    }

    /// Whether the pair is to be told: the first time it is refused since the memory started.
    pub fn first(&mut self, campaign: &str, origin: &str) -> bool {
        let mut hasher = DefaultHasher::new();
        (campaign, origin).hash(&mut hasher);
        if self.pairs.len() >= REMEMBERED {
            self.pairs.clear();
        }
        self.pairs.insert(hasher.finish())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.pairs.len()
    }
}

/// The collector's: the log is the process's.
static TOLD: Mutex<Told> = Mutex::new(Told::new());

/// Logs, the first time, that ingest refuses `origin`'s events for `campaign`, and the fix.
pub fn log(campaign: &str, origin: &str) {
    let first = TOLD
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .first(campaign, origin);
    if first {
        warn_line!(
            "ingest: refusing events for campaign {campaign:?} from origin {origin:?}: add it to the campaign's allowed_origins"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_pair_is_told_once() {
        let mut told = Told::new();
        assert!(told.first("c1", "https://new.example"));
        assert!(!told.first("c1", "https://new.example"));
        assert!(told.first("c2", "https://new.example"), "another campaign");
        assert!(told.first("c1", "https://other.example"), "another origin");
        assert!(!told.first("c2", "https://new.example"));
        // The pair is the pair, not the concatenation.
        assert!(told.first("c1h", "ttps://new.example"));
        assert_eq!(told.len(), 4);
    }

    #[test]
    fn the_memory_is_bounded() {
        let mut told = Told::new();
        assert!(told.first("c1", "https://new.example"));
        for n in 0..10 * REMEMBERED {
            told.first("c1", &format!("https://{n}.example"));
            assert!(told.len() <= REMEMBERED);
        }
        assert!(
            told.first("c1", "https://new.example"),
            "forgotten once the memory started over"
        );
        assert!(!told.first("c1", "https://new.example"));
    }
}
