//! Text formats: **folded** (`a;b;c 123` per line, the count after the last space) and
//! **lines** (one stack per line, each worth 1).

use crate::profile::NamedSample;
use crate::{Error, Result};

use super::IngestError;

fn stack(text: &str) -> Vec<String> {
    text.split(';')
        .filter(|f| !f.is_empty())
        .map(String::from)
        .collect()
}

fn lines(body: &str) -> impl Iterator<Item = (usize, &str)> {
    body.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty())
}

/// Parses folded stacks. Any malformed line rejects the whole body.
pub fn parse_folded(body: &str) -> Result<Vec<NamedSample>> {
    let mut out = Vec::new();
    for (n, line) in lines(body) {
        let bad = |reason: &str| -> Error {
            IngestError::InvalidFoldedLine {
                line: n,
                reason: reason.to_string(),
                text: line.escape_default().to_string(),
            }
            .into()
        };
        let (frames, count) = line
            .trim_end()
            .rsplit_once([' ', '\t'])
            .ok_or_else(|| bad("expected `frame;frame;… count`"))?;
        let value: i64 = count
            .parse()
            .map_err(|_| bad(&format!("count `{count}` is not a whole number")))?;
        if value < 0 {
            return Err(bad("count is negative"));
        }
        let stack = stack(frames.trim());
        if stack.is_empty() {
            return Err(bad("empty stack"));
        }
        out.push(NamedSample { stack, value });
    }
    Ok(out)
}

/// Parses one stack per line, each with value 1.
pub fn parse_lines(body: &str) -> Result<Vec<NamedSample>> {
    Ok(lines(body)
        .map(|(_, l)| NamedSample {
            stack: stack(l.trim()),
            value: 1,
        })
        .filter(|s| !s.stack.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded() {
        let s = parse_folded("a;b;c 3\r\n\nfoo bar;baz 2\n").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].stack, ["a", "b", "c"]);
        assert_eq!(
            s[1].stack,
            ["foo bar", "baz"],
            "spaces inside frames are kept"
        );
        assert_eq!(s[1].value, 2);
        for bad in ["a;b", "a;b x", "a;b -1", " 5", "a;b 1.5"] {
            assert!(parse_folded(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lines_format() {
        let s = parse_lines("a;b\na;b\n\nc\n").unwrap();
        assert_eq!(s.len(), 3);
        assert!(s.iter().all(|s| s.value == 1));
    }
}
