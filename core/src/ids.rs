//! Identifiers: transaction, visitor and session IDs are UUIDv4, event `uid`s UUIDv7 (time
//! ordered, so the collector's index stays append-mostly). Randomness comes from the caller
//! (`crypto.getRandomValues` in the browser) so that this stays pure.

use uuid::{Builder, Uuid};

use super::limits::MAX_ID_LEN;

/// A random UUIDv4 in its lowercase hyphenated form.
pub fn uuid_v4(random: [u8; 16]) -> String {
    hyphenated(Builder::from_random_bytes(random).into_uuid())
}

/// A UUIDv7 for `unix_ms` with the given random bits.
pub fn uuid_v7(unix_ms: u64, random: [u8; 16]) -> String {
    // Copied by zip: `copy_from_slice` and indexing carry formatted panics.
    let mut tail = [0u8; 10];
    for (t, r) in tail.iter_mut().zip(random) {
        *t = r;
    }
    hyphenated(Builder::from_unix_timestamp_millis(unix_ms, &tail).into_uuid())
}

fn hyphenated(id: Uuid) -> String {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    id.hyphenated().encode_lower(&mut buf).to_owned()
}

/// Whether `s` is a UUID in hyphenated form (what the clickscript accepts as a transaction ID
/// from a URL or a cookie).
pub fn is_uuid(s: &str) -> bool {
    // Checked by hand: uuid's parser brings its error formatting (and char Debug) into the wasm.
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Whether `s` may be an event, campaign or organization ID: 1 to 64 characters of
/// `A-Z a-z 0-9 _ - . :`. The narrow alphabet keeps IDs safe in cookies, storage records and URLs.
pub fn is_valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_and_v7_are_valid_uuids_of_their_version() {
        let v4 = uuid_v4([7; 16]);
        assert!(is_uuid(&v4));
        assert_eq!(&v4[14..15], "4");
        let v7 = uuid_v7(1_764_190_000_123, [9; 16]);
        assert!(is_uuid(&v7));
        assert_eq!(&v7[14..15], "7");
        assert_eq!(
            Uuid::parse_str(&v7)
                .unwrap()
                .get_timestamp()
                .unwrap()
                .to_unix()
                .0,
            1_764_190_000
        );
    }

    #[test]
    fn v7_sorts_by_time() {
        assert!(uuid_v7(1_000, [255; 16]) < uuid_v7(2_000, [0; 16]));
    }

    #[test]
    fn ids_are_checked() {
        assert!(is_valid_id("base_event"));
        assert!(is_valid_id("org:lead-1.2"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("a b"));
        assert!(!is_valid_id("a|b"));
        assert!(!is_valid_id(&"x".repeat(65)));
        assert!(!is_uuid("not-a-uuid"));
        assert!(!is_uuid("0193b8a2f00c7c1e8e4a1c2b3d4e5f60"));
        assert!(!is_uuid("0193b8a2-f00c-7c1e-8e4a-1c2b3d4e5f6g"));
        assert!(!is_uuid("0193b8a2-f00c-7c1e-8e4a1-c2b3d4e5f60"));
        assert!(is_uuid("0193B8A2-F00C-7C1E-8E4A-1C2B3D4E5F60"));
    }
}
