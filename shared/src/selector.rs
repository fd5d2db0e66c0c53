//! Label selectors (FlameQL): `app.cpu{env="staging",region=~"us-.*"}` (legacy form) or
//! `process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="app"}` (current form).
//!
//! Operators `=`, `!=`, `=~`, `!~`; matchers are ANDed, several on one key included; regexes
//! are RE2 syntax and fully anchored; `{}` matches everything; a missing label matches as "".

use regex::Regex;

use crate::profile::{ProfileType, SERVICE_NAME, Series};

/// Why a selector was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// The text does not follow the grammar.
    #[error("invalid selector `{selector}`: {expected} at offset {at}")]
    Syntax {
        /// The whole selector.
        selector: String,
        /// Byte offset of the problem.
        at: usize,
        /// What was expected there.
        expected: String,
    },
    /// A `=~`/`!~` value is not a valid RE2 regex.
    #[error("invalid regex `{regex}` in selector: {message}")]
    Regex {
        /// The regex.
        regex: String,
        /// The regex engine's complaint.
        message: String,
    },
    /// The name before `{` is neither a profile type ID nor `app.<known suffix>`.
    #[error("unknown profile type `{name}` in selector")]
    UnknownProfileType {
        /// The name as written.
        name: String,
    },
    /// The query needs a profile type and names none.
    #[error(
        "selector `{selector}` names no profile type: write `type:sample:unit:period:unit{{…}}` or `app.cpu{{…}}`"
    )]
    MissingProfileType {
        /// The whole selector.
        selector: String,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    NotEq,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

/// One `name op "value"` condition.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The operator.
    pub op: Op,
    /// The value as written (unescaped).
    pub value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// Builds a matcher, compiling the regex of `=~`/`!~` fully anchored.
    pub fn new(name: &str, op: Op, value: &str) -> Result<Self, SelectorError> {
        let regex = match op {
            Op::Regex | Op::NotRegex => {
                Some(Regex::new(&format!("^(?:{value})$")).map_err(|e| {
                    SelectorError::Regex {
                        regex: value.to_string(),
                        message: e
                            .to_string()
                            .lines()
                            .last()
                            .unwrap_or("")
                            .trim()
                            .to_string(),
                    }
                })?)
            }
            Op::Eq | Op::NotEq => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            regex,
        })
    }

    /// Tells whether a label value (`None` when the label is absent) satisfies this matcher.
    pub fn matches(&self, value: Option<&str>) -> bool {
        let value = value.unwrap_or("");
        match (self.op, &self.regex) {
            (Op::Eq, _) => value == self.value,
            (Op::NotEq, _) => value != self.value,
            (Op::Regex, Some(re)) => re.is_match(value),
            (Op::NotRegex, Some(re)) => !re.is_match(value),
            (Op::Regex | Op::NotRegex, None) => false,
        }
    }
}

/// A parsed selector: an optional profile type and label matchers.
#[derive(Debug, Clone)]
pub struct Selector {
    /// The profile type named before `{`, if any.
    pub profile_type: Option<ProfileType>,
    /// The matchers, ANDed.
    pub matchers: Vec<Matcher>,
}

impl Selector {
    /// Parses a selector in either form. An empty string is `{}`.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        Parser { text, pos: 0 }.selector()
    }

    /// Parses a selector that must name a profile type (render, flame graphs).
    pub fn parse_with_type(text: &str) -> Result<(ProfileType, Self), SelectorError> {
        let selector = Self::parse(text)?;
        match selector.profile_type.clone() {
            Some(t) => Ok((t, selector)),
            None => Err(SelectorError::MissingProfileType {
                selector: text.to_string(),
            }),
        }
    }

    /// Tells whether a series matches: its type (if one was named) and every matcher.
    pub fn matches(&self, series: &Series) -> bool {
        if let Some(t) = &self.profile_type
            && *t != series.profile_type
        {
            return false;
        }
        self.matchers
            .iter()
            .all(|m| m.matches(series.label(&m.name).as_deref()))
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, expected: &str) -> SelectorError {
        SelectorError::Syntax {
            selector: self.text.to_string(),
            at: self.pos,
            expected: expected.to_string(),
        }
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn selector(mut self) -> Result<Selector, SelectorError> {
        self.skip_ws();
        let name_len = self
            .rest()
            .find(|c: char| c == '{' || c.is_whitespace())
            .unwrap_or(self.rest().len());
        let name = self.rest()[..name_len].to_string();
        self.pos += name_len;
        let mut matchers = Vec::new();
        let profile_type = if name.is_empty() {
            None
        } else {
            let (t, app) = name_to_type(&name)?;
            if let Some(app) = app {
                matchers.push(Matcher::new(SERVICE_NAME, Op::Eq, &app)?);
            }
            Some(t)
        };
        self.skip_ws();
        if self.eat("{") {
            loop {
                self.skip_ws();
                if self.eat("}") {
                    break;
                }
                matchers.push(self.matcher()?);
                self.skip_ws();
                if self.eat(",") {
                    continue;
                }
                if self.eat("}") {
                    break;
                }
                return Err(self.error("expected `,` or `}`"));
            }
        } else if name.is_empty() && !self.rest().is_empty() {
            return Err(self.error("expected `{`"));
        }
        self.skip_ws();
        if !self.rest().is_empty() {
            return Err(self.error("expected end of selector"));
        }
        Ok(Selector {
            profile_type,
            matchers,
        })
    }

    fn matcher(&mut self) -> Result<Matcher, SelectorError> {
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.rest().len());
        if len == 0 || self.rest().as_bytes()[0].is_ascii_digit() {
            return Err(self.error("expected a label name"));
        }
        let name = self.rest()[..len].to_string();
        self.pos += len;
        self.skip_ws();
        let op = if self.eat("=~") {
            Op::Regex
        } else if self.eat("!~") {
            Op::NotRegex
        } else if self.eat("!=") {
            Op::NotEq
        } else if self.eat("=") {
            Op::Eq
        } else {
            return Err(self.error("expected one of `=`, `!=`, `=~`, `!~`"));
        };
        self.skip_ws();
        let value = self.string()?;
        Matcher::new(&name, op, &value)
    }

    fn string(&mut self) -> Result<String, SelectorError> {
        let quote = match self.rest().chars().next() {
            Some(q @ ('"' | '\'' | '`')) => q,
            _ => return Err(self.error("expected a quoted value")),
        };
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos += i + 1;
                return Ok(out);
            }
            if c == '\\' && quote != '`' {
                match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, e)) => out.push(e),
                    None => break,
                }
            } else {
                out.push(c);
            }
        }
        self.pos = start;
        Err(self.error("unterminated quoted value"))
    }
}

/// Resolves the name before `{`: a profile type ID, or a legacy `app.suffix` (which also
/// yields the application name to match as `service_name`).
fn name_to_type(name: &str) -> Result<(ProfileType, Option<String>), SelectorError> {
    let unknown = || SelectorError::UnknownProfileType {
        name: name.to_string(),
    };
    if name.contains(':') {
        return ProfileType::parse(name)
            .map(|t| (t, None))
            .map_err(|_| unknown());
    }
    let (app, suffix) = match name.rsplit_once('.') {
        Some((app, suffix)) => (app, Some(suffix)),
        None => (name, None),
    };
    let valid_app = !app.is_empty()
        && app
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !valid_app {
        return Err(unknown());
    }
    let (t, _) = ProfileType::from_legacy_suffix(suffix).ok_or_else(unknown)?;
    Ok((t, Some(app.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Labels;

    fn series(labels: &[(&str, &str)]) -> Series {
        let labels: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Series {
            profile_type: ProfileType::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds")
                .unwrap(),
            labels,
        }
    }

    #[test]
    fn both_forms() {
        let s = series(&[("service_name", "app"), ("env", "staging")]);
        assert!(Selector::parse("app.cpu{}").unwrap().matches(&s));
        assert!(Selector::parse("app.cpu").unwrap().matches(&s));
        assert!(Selector::parse("app{env=\"staging\"}").unwrap().matches(&s));
        assert!(!Selector::parse("other.cpu{}").unwrap().matches(&s));
        assert!(!Selector::parse("app.alloc_objects{}").unwrap().matches(&s));
        let current = "process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"app\"}";
        assert!(Selector::parse(current).unwrap().matches(&s));
        assert!(Selector::parse("{}").unwrap().matches(&s));
        assert!(Selector::parse("").unwrap().matches(&s));
    }

    #[test]
    fn operators_and_anchoring() {
        let s = series(&[("service_name", "app"), ("region", "us-east")]);
        let m = |q: &str| Selector::parse(q).unwrap().matches(&s);
        assert!(m(r#"{region=~"us-.*"}"#));
        assert!(!m(r#"{region=~"us"}"#), "regex is anchored");
        assert!(m(r#"{region!~"eu-.*"}"#));
        assert!(m(r#"{region!="eu"}"#));
        assert!(!m(r#"{region!="us-east"}"#));
        assert!(m(r#"{region=~"us-.*", region!="us-west"}"#));
        assert!(!m(r#"{region=~"us-.*", region!="us-east"}"#));
        assert!(m(r#"{missing=""}"#), "absent label matches empty");
        assert!(m(
            r#"{__profile_type__="process_cpu:cpu:nanoseconds:cpu:nanoseconds"}"#
        ));
        assert!(m(r#"{ region = 'us-east' , }"#));
    }

    #[test]
    fn errors() {
        for bad in [
            "{region}",
            "{region=us}",
            "{region==\"x\"}",
            "{region=\"x\"",
            "{1a=\"x\"}",
            "app.cpu{} extra",
            "{region=~\"(\"}",
            "app.bogus{}",
            "foo:bar{}",
        ] {
            assert!(Selector::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            Selector::parse_with_type("{service_name=\"a\"}"),
            Err(SelectorError::MissingProfileType { .. })
        ));
    }
}
