//! Integers in decimal, by hand: an integer's `to_string()` brings core's formatting machinery
//! (padding, flags, `Formatter`) into the wasm for what is a ten-line loop.

use crate::prelude::*;

/// Appends `n` in decimal.
pub fn push(s: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for d in &digits[i..] {
        s.push(*d as char);
    }
}

/// `n` in decimal.
pub fn string(n: u64) -> String {
    let mut s = String::new();
    push(&mut s, n);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_written_in_decimal() {
        for n in [0, 7, 10, 99, 100, 1_764_190_000_123, u64::MAX] {
            assert_eq!(string(n), n.to_string());
        }
    }
}
