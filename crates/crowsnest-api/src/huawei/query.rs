//! Typed access to Huawei query parameters with HSS's validation errors. Ranges are the
//! documented ones; a value outside its range or allowed set is refused rather than ignored,
//! so a client never mistakes an ignored filter for an empty result.

use axum::http::StatusCode;

use crate::error::{ApiError, Dialect};
use crate::form::Pairs;

/// `400` with [`super::CODE_INVALID_PARAMETER`] naming the parameter and why.
pub fn invalid(name: &str, why: &str) -> ApiError {
    ApiError::new(
        Dialect::Huawei,
        StatusCode::BAD_REQUEST,
        super::CODE_INVALID_PARAMETER,
        format!("Invalid parameter {name}: {why}."),
    )
}

/// The decoded query of one request.
pub struct Query<'a> {
    pairs: &'a Pairs,
}

impl<'a> Query<'a> {
    /// Wraps decoded pairs.
    pub fn new(pairs: &'a Pairs) -> Query<'a> {
        Query { pairs }
    }

    /// A text parameter of `min..=max` characters; `None` when absent.
    pub fn text(&self, name: &str, min: usize, max: usize) -> Result<Option<&'a str>, ApiError> {
        let Some(v) = self.pairs.get(name) else {
            return Ok(None);
        };
        let n = v.chars().count();
        if n < min || n > max {
            return Err(invalid(
                name,
                &format!("must have {min} to {max} characters"),
            ));
        }
        Ok(Some(v))
    }

    /// A text parameter whose characters all satisfy `allowed`.
    pub fn text_charset(
        &self,
        name: &str,
        min: usize,
        max: usize,
        allowed: fn(char) -> bool,
        described: &str,
    ) -> Result<Option<&'a str>, ApiError> {
        let v = self.text(name, min, max)?;
        if let Some(v) = v {
            if !v.chars().all(allowed) {
                return Err(invalid(name, &format!("may contain only {described}")));
            }
        }
        Ok(v)
    }

    /// One of `allowed`, case-sensitive.
    pub fn one_of(&self, name: &str, allowed: &[&str]) -> Result<Option<&'a str>, ApiError> {
        match self.pairs.get(name) {
            None => Ok(None),
            Some(v) if allowed.contains(&v) => Ok(Some(v)),
            Some(_) => Err(invalid(
                name,
                &format!("must be one of {}", allowed.join(", ")),
            )),
        }
    }

    /// An integer in `min..=max`, `None` when absent.
    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        let Some(raw) = self.pairs.get(name) else {
            return Ok(None);
        };
        let v: i64 = raw
            .parse()
            .map_err(|_| invalid(name, "must be an integer"))?;
        if v < min || v > max {
            return Err(invalid(name, &format!("must be between {min} and {max}")));
        }
        Ok(Some(v))
    }

    /// `true` or `false`.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.pairs.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(invalid(name, "must be true or false")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_query() {
        let pairs = Pairs::parse("limit=5&b=true&c=True&s=ab&e=").unwrap();
        let q = Query::new(&pairs);
        assert_eq!(q.int("limit", 1, 10).unwrap(), Some(5));
        assert!(q.int("limit", 10, 200).is_err());
        assert_eq!(q.bool("b").unwrap(), Some(true));
        assert!(q.bool("c").is_err());
        assert!(q.text("e", 1, 5).is_err());
        assert_eq!(q.one_of("s", &["ab"]).unwrap(), Some("ab"));
        assert!(q.one_of("s", &["AB"]).is_err());
    }
}
