//! Integers in decimal, by hand: an integer's `to_string()` brings core's formatting machinery
//! (padding, flags, `Formatter`) into the wasm for what is a ten-line loop.

/// Appends `n` in decimal.
pub fn push(s: &mut String, mut n: u64) {
    // Collected backwards without indexing (an index that can fail carries a formatted panic).
    let mut digits = [0u8; 20];
    let mut len = 0;
    for d in digits.iter_mut() {
        *d = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for d in digits.iter().take(len).rev() {
        s.push(*d as char);
    }
}

/// `n` in decimal.
pub fn string(n: u64) -> String {
    let mut s = String::new();
    push(&mut s, n);
    s
}

/// Reads a whole non-negative decimal (no sign, no spaces); `None` when it is not one or does
/// not fit. `str::parse` would bring an instance of the generic parser per integer type.
pub fn parse(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for b in s.bytes() {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(d.into())?;
    }
    Some(n)
}

/// [`parse`] for a `u32`.
pub fn parse_u32(s: &str) -> Option<u32> {
    parse(s)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_written_in_decimal() {
        for n in [0, 7, 10, 99, 100, 1_764_190_000_123, u64::MAX] {
            assert_eq!(string(n), n.to_string());
            assert_eq!(parse(&string(n)), Some(n));
        }
    }

    #[test]
    fn only_whole_decimals_are_read() {
        for bad in [
            "",
            "-1",
            "+1",
            " 1",
            "1 ",
            "1.5",
            "1e3",
            "18446744073709551616",
            "x",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(parse("007"), Some(7));
        assert_eq!(parse_u32("4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32("4294967296"), None);
    }
}
