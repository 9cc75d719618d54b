//! Strings joined by hand: `[&str]::concat` and `join` are one generic routine of about 1 KB of
//! wasm (specialised copying for any element type); these loops are a tenth of that.

use crate::prelude::*;

/// The parts one after the other.
pub fn concat(parts: &[&str]) -> String {
    join(parts, "")
}

/// The parts with `sep` between them.
pub fn join(parts: &[&str], sep: &str) -> String {
    let mut s = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            s.push_str(sep);
        }
        s.push_str(p);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_like_std() {
        for parts in [&[][..], &["a"], &["a", "", "bc"]] {
            assert_eq!(concat(parts), parts.concat());
            assert_eq!(join(parts, ", "), parts.join(", "));
        }
    }
}
