//! What `process.name` must be for a query to match at all, read off the query's top level.
//!
//! Nearly every Elastic Linux rule says, at its top level, which programs it is about
//! (`process.name in ("curl", "wget")`, `process.name like "python*"`). A rule set can then skip a
//! rule without evaluating it when the event's program is not one of them; see
//! [`crate::rule::set::RuleSet`]. The requirement is derived conservatively: when any part of the
//! query could match some other name, there is no requirement and the rule is always evaluated.

use super::ast::{CmpOp, Expr, Literal, PatternOp, Value};

/// The field the prefilter reads.
pub const FIELD: &str = "process.name";

/// Names a query can match: any one of these alternatives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameRequirement {
    /// Exact, case-sensitive names (`==`, `in`, `like` without wildcards).
    pub exact: Vec<String>,
    /// Exact names compared without ASCII case (`in~`, `like~`, `:`), stored lowercased.
    pub folded: Vec<String>,
    /// Case-sensitive prefixes (`like "python*"`).
    pub prefixes: Vec<String>,
    /// Prefixes compared without ASCII case, stored lowercased.
    pub folded_prefixes: Vec<String>,
}

impl NameRequirement {
    fn merge(mut self, other: NameRequirement) -> NameRequirement {
        self.exact.extend(other.exact);
        self.folded.extend(other.folded);
        self.prefixes.extend(other.prefixes);
        self.folded_prefixes.extend(other.folded_prefixes);
        self
    }

    /// Whether `name` satisfies one of the alternatives (used by tests and as the reference for the
    /// rule set's index).
    pub fn admits(&self, name: &str) -> bool {
        self.exact.iter().any(|e| e == name)
            || self.folded.iter().any(|e| e.eq_ignore_ascii_case(name))
            || self.prefixes.iter().any(|p| name.starts_with(p.as_str()))
            || self.folded_prefixes.iter().any(|p| {
                name.len() >= p.len()
                    && name.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
            })
    }
}

/// The requirement `condition` puts on `process.name`, or `None` when it puts none that can be
/// relied on.
pub fn name_requirement(condition: &Expr) -> Option<NameRequirement> {
    match condition {
        // Any one conjunct that requires a name is enough; the first found is used.
        Expr::And(children) => children.iter().find_map(name_requirement),
        // Every branch must require a name; the requirement is their union.
        Expr::Or(children) => {
            let mut all = NameRequirement::default();
            for child in children {
                all = all.merge(name_requirement(child)?);
            }
            Some(all)
        }
        Expr::Compare {
            left,
            op: CmpOp::Eq,
            right,
            ..
        } => match (left, right) {
            (
                v,
                Value::Lit {
                    lit: Literal::Str(s),
                    ..
                },
            )
            | (
                Value::Lit {
                    lit: Literal::Str(s),
                    ..
                },
                v,
            ) if is_name(v) => Some(NameRequirement {
                exact: vec![s.clone()],
                ..NameRequirement::default()
            }),
            _ => None,
        },
        Expr::In {
            value,
            list,
            insensitive,
            negated: false,
            ..
        } if is_name(value) => {
            let mut req = NameRequirement::default();
            for item in list {
                match item {
                    Value::Lit {
                        lit: Literal::Str(s),
                        ..
                    } if *insensitive => req.folded.push(s.to_ascii_lowercase()),
                    Value::Lit {
                        lit: Literal::Str(s),
                        ..
                    } => req.exact.push(s.clone()),
                    // `null` in the list matches a missing name: not indexable. Numbers never match
                    // a string name, but stay conservative.
                    _ => return None,
                }
            }
            Some(req)
        }
        Expr::Pattern {
            value,
            op: op @ (PatternOp::Like | PatternOp::Seq),
            insensitive,
            patterns,
            ..
        } if is_name(value) => {
            // `:` is always case-insensitive.
            let fold = *insensitive || *op == PatternOp::Seq;
            let mut req = NameRequirement::default();
            for (lit, _) in patterns {
                let Literal::Str(p) = lit else { return None };
                let wildcard = p.find(['*', '?']);
                match wildcard {
                    None if fold => req.folded.push(p.to_ascii_lowercase()),
                    None => req.exact.push(p.clone()),
                    // A literal prefix followed by wildcards: `python*`, `python3.?`.
                    Some(i) if i > 0 && fold => {
                        req.folded_prefixes.push(p[..i].to_ascii_lowercase())
                    }
                    Some(i) if i > 0 => req.prefixes.push(p[..i].to_string()),
                    // Starts with a wildcard: any name might match.
                    Some(_) => return None,
                }
            }
            Some(req)
        }
        _ => None,
    }
}

fn is_name(value: &Value) -> bool {
    matches!(value, Value::Field { name, .. } if name == FIELD)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::eql::parser::parse;

    fn req(query: &str) -> Option<NameRequirement> {
        name_requirement(&parse(query).unwrap().condition)
    }

    #[test]
    fn top_level_name_conditions_are_found() {
        let r = req(r#"process where event.type == "start" and process.name in ("curl", "wget") and process.args == "-x""#)
            .unwrap();
        assert_eq!(r.exact, ["curl", "wget"]);
        let r = req(r#"process where (process.name like "python*" and process.args == "x") or process.name : "BASH""#).unwrap();
        assert_eq!(
            (r.prefixes.as_slice(), r.folded.as_slice()),
            (&["python".to_string()][..], &["bash".to_string()][..])
        );
        let r = req(r#"process where process.name in~ ("Nc", "ncat") and ?process.name == "nc""#)
            .unwrap();
        assert_eq!(r.folded, ["nc", "ncat"]);
        let r = req(r#"process where "sh" == process.name"#).unwrap();
        assert_eq!(r.exact, ["sh"]);
        let r = req(r#"process where process.name like~ ("PY*", "perl")"#).unwrap();
        assert_eq!(
            (r.folded_prefixes.as_slice(), r.folded.as_slice()),
            (&["py".to_string()][..], &["perl".to_string()][..])
        );
    }

    #[test]
    fn anything_that_could_match_another_name_gives_no_requirement() {
        for q in [
            r#"process where process.name != "sh""#,
            r#"process where not process.name == "sh""#,
            r#"process where process.name like "*sh""#,
            r#"process where process.name regex "sh""#,
            r#"process where process.name == "sh" or process.args == "-c""#,
            r#"process where process.name not in ("sh")"#,
            r#"process where process.name in ("sh", null)"#,
            r#"process where process.executable == "/bin/sh""#,
            r#"process where startsWith(process.name, "sh")"#,
        ] {
            assert_eq!(req(q), None, "{q}");
        }
    }

    #[test]
    fn admits_follows_each_kind_of_alternative() {
        let r = NameRequirement {
            exact: vec!["curl".into()],
            folded: vec!["bash".into()],
            prefixes: vec!["python".into()],
            folded_prefixes: vec!["perl".into()],
        };
        for (name, ok) in [
            ("curl", true),
            ("CURL", false),
            ("BaSh", true),
            ("python3.11", true),
            ("Python3", false),
            ("PERL5", true),
            ("pe", false),
            ("sh", false),
        ] {
            assert_eq!(r.admits(name), ok, "{name}");
        }
    }
}
