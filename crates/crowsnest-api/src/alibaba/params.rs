//! Typed access to RPC parameters with Alibaba's validation errors. An empty value counts as
//! absent, as the SDKs never send a parameter whose field is unset.

use axum::http::StatusCode;

use crate::error::{ApiError, Dialect};
use crate::form::Pairs;

/// `400 MissingParameter` for a mandatory parameter.
pub fn missing(name: &str) -> ApiError {
    ApiError::new(
        Dialect::Alibaba,
        StatusCode::BAD_REQUEST,
        "MissingParameter",
        format!("The input parameter \"{name}\" that is mandatory for processing this request is not supplied."),
    )
}

/// `400 InvalidParameter` naming the parameter and why.
pub fn invalid(name: &str, why: &str) -> ApiError {
    ApiError::new(
        Dialect::Alibaba,
        StatusCode::BAD_REQUEST,
        "InvalidParameter",
        format!("The specified parameter \"{name}\" is not valid: {why}."),
    )
}

/// The decoded parameters of one request.
pub struct Params<'a> {
    pairs: &'a Pairs,
}

impl<'a> Params<'a> {
    /// Wraps decoded pairs.
    pub fn new(pairs: &'a Pairs) -> Params<'a> {
        Params { pairs }
    }

    /// The raw pairs.
    pub fn pairs(&self) -> &'a Pairs {
        self.pairs
    }

    /// A text parameter, `None` when absent or empty.
    pub fn text(&self, name: &str) -> Option<&'a str> {
        self.pairs.get(name).filter(|v| !v.is_empty())
    }

    /// A text parameter of at most `max` characters.
    pub fn text_max(&self, name: &str, max: usize) -> Result<Option<&'a str>, ApiError> {
        match self.text(name) {
            Some(v) if v.chars().count() > max => {
                Err(invalid(name, &format!("longer than {max} characters")))
            }
            other => Ok(other),
        }
    }

    /// An integer in `min..=max`, `default` when absent.
    pub fn int(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        let Some(raw) = self.text(name) else {
            return Ok(default);
        };
        let v: i64 = raw
            .trim()
            .parse()
            .map_err(|_| invalid(name, "not an integer"))?;
        if v < min || v > max {
            return Err(invalid(name, &format!("must be between {min} and {max}")));
        }
        Ok(v)
    }

    /// A boolean: `true` or `false` in any case (the Python SDK sends `True`).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.text(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(invalid(name, "must be true or false")),
        }
    }

    /// A comma-separated list of at most `max_items` items of at most `max_len` characters;
    /// blanks around items are dropped, empty items refused.
    pub fn list(
        &self,
        name: &str,
        max_items: usize,
        max_len: usize,
    ) -> Result<Vec<String>, ApiError> {
        let Some(raw) = self.text(name) else {
            return Ok(Vec::new());
        };
        let items: Vec<String> = raw.split(',').map(|s| s.trim().to_owned()).collect();
        if items.len() > max_items {
            return Err(invalid(name, &format!("more than {max_items} values")));
        }
        if items.iter().any(String::is_empty) {
            return Err(invalid(name, "contains an empty value"));
        }
        if items.iter().any(|i| i.chars().count() > max_len) {
            return Err(invalid(
                name,
                &format!("a value is longer than {max_len} characters"),
            ));
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_parameters() {
        let pairs = Pairs::parse("A=5&B=True&C=x,+y&D=&E=a,,b&F=0").unwrap();
        let p = Params::new(&pairs);
        assert_eq!(p.int("A", 1, 1, 10).unwrap(), 5);
        assert_eq!(p.int("Z", 7, 1, 10).unwrap(), 7);
        assert_eq!(p.int("F", 1, 1, 10).unwrap_err().code(), "InvalidParameter");
        assert_eq!(p.bool("B").unwrap(), Some(true));
        assert_eq!(p.list("C", 5, 10).unwrap(), vec!["x", "y"]);
        assert!(p.text("D").is_none());
        assert!(p.list("E", 5, 10).is_err());
        assert!(p.list("C", 1, 10).is_err());
    }
}
