//! Size limits that the clickscript respects and the collector enforces: one source for both.

/// Longest event, campaign or organization ID.
pub const MAX_ID_LEN: usize = 64;
/// Longest URL (landing, referrer) kept on an event.
pub const MAX_URL_LEN: usize = 2048;
/// Longest page title, attribution value or free-data string value.
pub const MAX_TEXT_LEN: usize = 512;
/// Longest attribution parameter or data key.
pub const MAX_KEY_LEN: usize = 64;
/// Most attribution parameters (and, separately, most data keys) on one event.
pub const MAX_FIELDS: usize = 50;
/// Most events in one batch.
pub const MAX_BATCH_EVENTS: usize = 100;
/// Largest batch the clickscript sends: two fit in the 64 KiB of body that a page's beacons
/// (and keepalive requests) may have in flight, so the page's last moments can hand over two.
pub const MAX_BATCH_BYTES: usize = 30 * 1024;
/// Largest batch sent with `keepalive` (so that it outlives the page). Keepalive requests share
/// 64 KiB in flight, freed only once a response has been read, well after `fetch` resolved: a
/// backlog sent back to back with keepalive fails as network errors. The events of a normal
/// page are far smaller; a backlog (a burst, an outage) goes without, and what a leaving page
/// had not delivered stays in its outbox for the next page.
pub const MAX_KEEPALIVE_BYTES: usize = 16 * 1024;
/// Largest request body the collector reads; above it answers 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    // `get`, not indexing: indexing a str brings its panic message (and char formatting) along.
    s.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_keeps_whole_characters() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 3), "abc");
        // "é" is two bytes: cutting in its middle drops it whole.
        assert_eq!(truncate("aé", 2), "a");
    }
}
