//! The `reference=` filter's patterns: exactly Go's `path.Match`, which docker uses.
//!
//! `*` matches any run of non-`/` characters, `?` one non-`/` character, `[...]` one character
//! from a class (ranges `a-z`, negation with a leading `^`, `\` escapes inside), `\c` the
//! character `c`; the pattern must match the whole name. Like Go's, the matcher commits to the
//! first place each star's chunk matches and never returns to an earlier star, so a name of
//! length n and a pattern of length m cost O(n·m), whatever the pattern: a naive backtracking
//! glob takes minutes on `*a*a*a*a*a*a*a*a*a*a*a*a*b` against 47 `a`s.

/// A malformed pattern (Go's `path.ErrBadPattern`, with its message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub(crate) struct BadPattern;

/// Whether `name` matches `pattern`. A malformed pattern is an error whatever the name, as in
/// Go, so checking a pattern once against any name tells whether it is well formed.
pub(crate) fn matches(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    matches_counting(pattern.as_bytes(), name.as_bytes(), &mut 0)
}

/// Whether `pattern` is well formed (Go reports a malformed one whatever the name).
pub(crate) fn check(pattern: &str) -> Result<(), BadPattern> {
    matches(pattern, "").map(drop)
}

/// [`matches`], adding to `tries` each attempt to match a chunk, so tests can bound the work.
fn matches_counting(
    mut pattern: &[u8],
    mut name: &[u8],
    tries: &mut usize,
) -> Result<bool, BadPattern> {
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing star matches the rest of the name unless it has a `/`.
            return Ok(!name.contains(&b'/'));
        }
        // The chunk where we are; if it is the last one it must use up the name.
        *tries += 1;
        if let Some(t) = match_chunk(chunk, name)?
            && (t.is_empty() || !pattern.is_empty())
        {
            name = t;
            continue;
        }
        if star {
            // Or after skipping i+1 bytes, which the star matches (never a `/`).
            let mut i = 0;
            while i < name.len() && name[i] != b'/' {
                *tries += 1;
                if let Some(t) = match_chunk(chunk, &name[i + 1..])?
                    && (t.is_empty() || !pattern.is_empty())
                {
                    name = t;
                    continue 'pattern;
                }
                i += 1;
            }
        }
        // No match; the rest of the pattern must still be well formed.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, b"")?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Splits off the next chunk: leading stars (whether there were any), then the pattern up to the
/// next star outside a class.
fn scan_chunk(pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let stars = pattern.iter().take_while(|&&b| b == b'*').count();
    let rest = &pattern[stars..];
    let mut in_class = false;
    let mut i = 0;
    while i < rest.len() {
        match rest[i] {
            // A trailing lone `\` is reported by match_chunk.
            b'\\' if i + 1 < rest.len() => i += 1,
            b'[' => in_class = true,
            b']' => in_class = false,
            b'*' if !in_class => return (stars > 0, &rest[..i], &rest[i..]),
            _ => {}
        }
        i += 1;
    }
    (stars > 0, rest, &[])
}

/// Matches `chunk` (no stars: literals, `?`, classes, escapes) against the start of `s` and
/// returns what follows the match. After a mismatch it keeps reading the chunk, so a malformed
/// chunk is an error whatever `s` is.
fn match_chunk<'s>(mut chunk: &[u8], mut s: &'s [u8]) -> Result<Option<&'s [u8]>, BadPattern> {
    let mut failed = false;
    while let Some(&c) = chunk.first() {
        if s.is_empty() {
            failed = true;
        }
        match c {
            b'[' => {
                let mut r = 0;
                if !failed {
                    let (decoded, n) = decode(s);
                    r = decoded;
                    s = &s[n..];
                }
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&b'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut in_class = false;
                let mut ranges = 0;
                loop {
                    if chunk.first() == Some(&b']') && ranges > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = class_char(chunk)?;
                    let (hi, rest) = match rest {
                        [b'-', hi @ ..] => class_char(hi)?,
                        _ => (lo, rest),
                    };
                    chunk = rest;
                    in_class |= lo <= r && r <= hi;
                    ranges += 1;
                }
                if in_class == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s[0] == b'/' {
                        failed = true;
                    }
                    s = &s[decode(s).1..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                let literal = if c == b'\\' {
                    chunk = &chunk[1..];
                    *chunk.first().ok_or(BadPattern)?
                } else {
                    c
                };
                if !failed {
                    if s[0] != literal {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    Ok((!failed).then_some(s))
}

/// One possibly escaped character of a class and what follows it; the class must go on after
/// it (at least its `]`), and `-` or `]` cannot start a range.
fn class_char(chunk: &[u8]) -> Result<(u32, &[u8]), BadPattern> {
    let chunk = match chunk {
        [] | [b'-' | b']', ..] | [b'\\'] => return Err(BadPattern),
        [b'\\', rest @ ..] => rest,
        _ => chunk,
    };
    let (r, n) = decode(chunk);
    let rest = &chunk[n..];
    if (r == u32::from(char::REPLACEMENT_CHARACTER) && n == 1) || rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

/// The character `s` starts with and its length in bytes; an invalid byte is U+FFFD of length 1
/// (Go's `utf8.DecodeRune`: a star may skip into the middle of a character).
fn decode(s: &[u8]) -> (u32, usize) {
    let head = &s[..s.len().min(4)];
    match head
        .utf8_chunks()
        .next()
        .and_then(|c| c.valid().chars().next())
    {
        Some(c) => (u32::from(c), c.len_utf8()),
        None => (u32::from(char::REPLACEMENT_CHARACTER), 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's `src/path/match_test.go` table: pattern, name, match, malformed.
    const GO_MATCH_TESTS: &[(&str, &str, bool, bool)] = &[
        ("abc", "abc", true, false),
        ("*", "abc", true, false),
        ("*c", "abc", true, false),
        ("a*", "a", true, false),
        ("a*", "abc", true, false),
        ("a*", "ab/c", false, false),
        ("a*/b", "abc/b", true, false),
        ("a*/b", "a/c/b", false, false),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", true, false),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true, false),
        ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false, false),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false, false),
        ("a*b?c*x", "abxbbxdbxebxczzx", true, false),
        ("a*b?c*x", "abxbbxdbxebxczzy", false, false),
        ("ab[c]", "abc", true, false),
        ("ab[b-d]", "abc", true, false),
        ("ab[e-g]", "abc", false, false),
        ("ab[^c]", "abc", false, false),
        ("ab[^b-d]", "abc", false, false),
        ("ab[^e-g]", "abc", true, false),
        ("a\\*b", "a*b", true, false),
        ("a\\*b", "ab", false, false),
        ("a?b", "a☺b", true, false),
        ("a[^a]b", "a☺b", true, false),
        ("a???b", "a☺b", false, false),
        ("a[^a][^a][^a]b", "a☺b", false, false),
        ("[a-ζ]*", "α", true, false),
        ("*[a-ζ]", "A", false, false),
        ("a?b", "a/b", false, false),
        ("a*b", "a/b", false, false),
        ("[\\]a]", "]", true, false),
        ("[\\-]", "-", true, false),
        ("[x\\-]", "x", true, false),
        ("[x\\-]", "-", true, false),
        ("[x\\-]", "z", false, false),
        ("[\\-x]", "x", true, false),
        ("[\\-x]", "-", true, false),
        ("[\\-x]", "a", false, false),
        ("[]a]", "]", false, true),
        ("[-]", "-", false, true),
        ("[x-]", "x", false, true),
        ("[x-]", "-", false, true),
        ("[x-]", "z", false, true),
        ("[-x]", "x", false, true),
        ("[-x]", "-", false, true),
        ("[-x]", "a", false, true),
        ("\\", "a", false, true),
        ("[a-b-c]", "a", false, true),
        ("[", "a", false, true),
        ("[^", "a", false, true),
        ("[^bc", "a", false, true),
        ("a[", "a", false, true),
        ("a[", "ab", false, true),
        ("a[", "x", false, true),
        ("a/b[", "x", false, true),
        ("*x", "xxx", true, false),
    ];

    #[test]
    fn go_path_match_table() {
        for &(pattern, name, want, malformed) in GO_MATCH_TESTS {
            let got = matches(pattern, name);
            let want = if malformed { Err(BadPattern) } else { Ok(want) };
            assert_eq!(got, want, "Match({pattern:?}, {name:?})");
        }
    }

    #[test]
    fn reference_names() {
        assert_eq!(matches("busy*", "busybox"), Ok(true));
        assert_eq!(matches("b?sybox", "busybox"), Ok(true));
        assert_eq!(matches("*", "a/b"), Ok(false));
        assert_eq!(matches("*/*", "a/b"), Ok(true));
        assert_eq!(matches("busy", "busybox"), Ok(false));
        assert_eq!(matches("*/busybox:*", "library/busybox:1.36"), Ok(true));
        // Go knows `^` only: `!` in a class is the character itself.
        assert_eq!(matches("[!a]", "!"), Ok(true));
        assert_eq!(matches("[!a]", "b"), Ok(false));
        // A malformed tail is an error even when the name already failed to match.
        assert_eq!(matches("x*[", "abc"), Err(BadPattern));
        assert_eq!(matches("x*[", ""), Err(BadPattern));
        assert_eq!(matches("", ""), Ok(true));
        assert_eq!(matches("", "a"), Ok(false));
    }

    #[test]
    fn backtracking_patterns_cost_at_most_one_try_per_star_and_name_position() {
        let name = "a".repeat(47);
        for (pattern, want) in [
            ("*a*a*a*a*a*a*a*a*a*a*a*a*b", false),
            ("*a*a*a*a*a*a*a*a*a*a*a*a", true),
            ("*a*a*a*a*a*a*a*a*a*a*a*a*", true),
            ("*?*?*?*?*?*?*?*?*?*?*?*?*b", false),
            ("*[a]*[^b]*a*a*a*a*a*a*a*a*a*ab", false),
        ] {
            let mut tries = 0;
            let got = matches_counting(pattern.as_bytes(), name.as_bytes(), &mut tries);
            assert_eq!(got, Ok(want), "{pattern}");
            // A naive glob makes ~6e11 calls on the first pattern.
            let stars = pattern.matches('*').count();
            assert!(
                tries <= (stars + 1) * (name.len() + 1),
                "{pattern}: {tries} chunk matches"
            );
        }
        let long = format!("{}b", "a".repeat(10_000));
        let pattern = "*a".repeat(500) + "*c";
        assert_eq!(matches(&pattern, &long), Ok(false));
    }
}
