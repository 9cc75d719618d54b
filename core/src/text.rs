//! Strings joined and split by hand: `[&str]::concat` and `join` are one generic routine of about
//! 1 KB of wasm (specialised copying for any element type), and `str::split` with a `char`
//! brings a searcher and memchr (0.3 KB gzip); these loops are a fraction of that. The
//! separators are ASCII bytes, so every piece stays valid UTF-8.

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

/// `s` split at the first `sep`, as `str::split_once` with an ASCII character.
pub fn split_once(s: &str, sep: u8) -> Option<(&str, &str)> {
    let i = s.bytes().position(|b| b == sep)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// The pieces of `s` between the `sep`s, as `str::split` with an ASCII character.
pub fn split(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    core::iter::from_fn(move || {
        let r = rest?;
        Some(match split_once(r, sep) {
            Some((piece, tail)) => {
                rest = Some(tail);
                piece
            }
            None => {
                rest = None;
                r
            }
        })
    })
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

    #[test]
    fn splits_like_std() {
        for s in ["", "a", ";", "a;b", ";a;;b;", "é;ü=x;;", "k=v=w"] {
            assert_eq!(
                split(s, b';').collect::<Vec<_>>(),
                s.split(';').collect::<Vec<_>>()
            );
            assert_eq!(split_once(s, b'='), s.split_once('='));
            assert_eq!(split_once(s, b';'), s.split_once(';'));
        }
    }
}
