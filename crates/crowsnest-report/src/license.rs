//! Declared licences as SBOM formats want them: a valid SPDX expression, a single SPDX id, or
//! (when the metadata held free text) only a name.
//!
//! Package metadata is hostile and sloppy (`GPL-2+`, `BSD`, `see COPYING`), and an SBOM with an
//! invalid expression is rejected by validators, so nothing is passed on as an expression unless
//! the `spdx` crate's strict parser accepts it. The only rewrite applied is the exact one for
//! deprecated GNU ids (`GPL-2.0` -> `GPL-2.0-only`, `GPL-2.0+` -> `GPL-2.0-or-later`); guessing
//! from imprecise names (`BSD` -> `BSD-2-Clause`) would invent facts, so it is not done.

use spdx::lexer::{Lexer, Token};
use spdx::{Expression, ParseMode};

/// Longer "expressions" are free text, not worth the parser's time.
const MAX_EXPRESSION_LEN: usize = 1024;

/// One declared licence, classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DeclaredLicense {
    /// A single SPDX licence id from the licence list, e.g. `MIT`.
    Id(&'static str),
    /// A valid compound SPDX expression, e.g. `MIT OR Apache-2.0`.
    Expression(String),
    /// Anything else, kept as the text the metadata gave (trimmed).
    Text(String),
}

/// Classifies one declared licence string.
pub(crate) fn classify(raw: &str) -> DeclaredLicense {
    let text = raw.trim();
    match spdx_expression(text) {
        Some(expr) => match spdx::license_id(&expr) {
            Some(id) if id.name == expr => DeclaredLicense::Id(id.name),
            _ => DeclaredLicense::Expression(expr),
        },
        None => DeclaredLicense::Text(text.to_owned()),
    }
}

/// All of `licenses` joined with `AND` as one valid SPDX expression, or `None` when there are
/// none or any of them is not a valid expression.
pub(crate) fn combined_expression(licenses: &[String]) -> Option<String> {
    let parts: Vec<String> = licenses
        .iter()
        .map(|l| spdx_expression(l.trim()))
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        many => {
            let mut joined: Vec<String> = Vec::with_capacity(many.len());
            for p in many {
                let wrapped = if p.contains(' ') {
                    format!("({p})")
                } else {
                    p.clone()
                };
                if !joined.contains(&wrapped) {
                    joined.push(wrapped);
                }
            }
            let expr = joined.join(" AND ");
            Expression::parse(&expr).ok().map(|_| expr)
        }
    }
}

/// The canonical form of `text` when it is a valid SPDX expression made only of licence-list
/// ids and exceptions (no `LicenseRef-`, which would need a definition in the document).
fn spdx_expression(text: &str) -> Option<String> {
    if text.is_empty() || text.len() > MAX_EXPRESSION_LEN {
        return None;
    }
    let mode = ParseMode {
        allow_slash_as_or_operator: false,
        allow_imprecise_license_names: false,
        allow_postfix_plus_on_gpl: true,
        allow_deprecated: true,
        allow_unknown: false,
    };
    let mut canonical = String::with_capacity(text.len() + 8);
    let mut pending: Option<spdx::LicenseId> = None;
    for token in Lexer::new_mode(text, mode) {
        let token = token.ok()?.token;
        if !matches!(token, Token::Plus) {
            if let Some(id) = pending.take() {
                push_id(&mut canonical, id, false);
            }
        }
        match token {
            Token::Spdx(id) => pending = Some(id),
            Token::Plus => push_id(&mut canonical, pending.take()?, true),
            Token::And => canonical.push_str(" AND "),
            Token::Or => canonical.push_str(" OR "),
            Token::With => canonical.push_str(" WITH "),
            Token::OpenParen => canonical.push('('),
            Token::CloseParen => canonical.push(')'),
            Token::Exception(e) => canonical.push_str(e.name),
            Token::LicenseRef { .. } | Token::AdditionRef { .. } | Token::Unknown(_) => {
                return None
            }
        }
    }
    if let Some(id) = pending {
        push_id(&mut canonical, id, false);
    }
    // The strict parse is the real check: it refuses deprecated non-GNU ids, unbalanced
    // parentheses and dangling operators that the token walk above lets through.
    Expression::parse(&canonical).ok().map(|_| canonical)
}

fn push_id(out: &mut String, id: spdx::LicenseId, or_later: bool) {
    let name = id.name;
    let gnu_bare = id.is_gnu() && !name.ends_with("-only") && !name.ends_with("-or-later");
    if gnu_bare {
        out.push_str(name);
        out.push_str(if or_later { "-or-later" } else { "-only" });
    } else if or_later {
        if let Some(base) = name.strip_suffix("-only") {
            out.push_str(base);
            out.push_str("-or-later");
        } else {
            out.push_str(name);
            out.push('+');
        }
    } else {
        out.push_str(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_ids_expressions_and_text() {
        assert_eq!(classify(" MIT "), DeclaredLicense::Id("MIT"));
        assert_eq!(
            classify("MIT OR Apache-2.0"),
            DeclaredLicense::Expression("MIT OR Apache-2.0".into())
        );
        assert_eq!(
            classify("see COPYING"),
            DeclaredLicense::Text("see COPYING".into())
        );
        // Imprecise names are not guessed.
        assert_eq!(classify("BSD"), DeclaredLicense::Text("BSD".into()));
        assert_eq!(classify("GPL-2+"), DeclaredLicense::Text("GPL-2+".into()));
        assert!(matches!(
            classify("LicenseRef-acme"),
            DeclaredLicense::Text(_)
        ));
        assert!(matches!(classify("MIT AND"), DeclaredLicense::Text(_)));
        assert!(matches!(classify("(MIT"), DeclaredLicense::Text(_)));
    }

    #[test]
    fn deprecated_gnu_ids_get_their_exact_replacement() {
        assert_eq!(classify("GPL-2.0"), DeclaredLicense::Id("GPL-2.0-only"));
        assert_eq!(
            classify("GPL-2.0+"),
            DeclaredLicense::Id("GPL-2.0-or-later")
        );
        assert_eq!(
            classify("LGPL-2.1-only+"),
            DeclaredLicense::Id("LGPL-2.1-or-later")
        );
        assert_eq!(
            classify("GPL-3.0 with GCC-exception-3.1"),
            DeclaredLicense::Expression("GPL-3.0-only WITH GCC-exception-3.1".into())
        );
    }

    #[test]
    fn combination_needs_every_part_valid() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            combined_expression(&l(&["MIT", "Apache-2.0 OR MIT", "MIT"])),
            Some("MIT AND (Apache-2.0 OR MIT)".into())
        );
        assert_eq!(combined_expression(&l(&["MIT", "public domain"])), None);
        assert_eq!(combined_expression(&[]), None);
    }
}
