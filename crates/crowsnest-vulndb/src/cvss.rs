//! CVSS vectors: parsing, and base scores per the FIRST specifications.
//!
//! v3.0 and v3.1 base scores are computed with the specification's formulas (v3.1's `Roundup`
//! avoids floating-point artefacts; v3.0 rounds up to one decimal directly). v4.0 vectors are
//! parsed and validated, but their base score needs the specification's MacroVector lookup table,
//! which this crate does not carry yet: for v4.0 [`base_score`] gives `None` and the finding's
//! severity falls back to the database's word.

use std::collections::BTreeMap;

use crowsnest_model::CvssScore;

/// Why a vector could not be scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CvssError {
    /// No `CVSS:3.x/` or `CVSS:4.0/` prefix.
    #[error("not a CVSS v3/v4 vector: {0:?}")]
    UnknownVersion(String),
    /// A metric is missing, repeated, or has a value outside its domain.
    #[error("invalid CVSS vector {vector:?}: {reason}")]
    Invalid {
        /// The vector.
        vector: String,
        /// What is wrong.
        reason: String,
    },
}

/// A parsed vector: its version and the metric values by abbreviation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CvssVector {
    /// `3.0`, `3.1` or `4.0`.
    pub version: String,
    /// Metric abbreviation to value, e.g. `AV` => `N`.
    pub metrics: BTreeMap<String, String>,
    /// The vector as given.
    pub raw: String,
}

const V3_BASE: [(&str, &[&str]); 8] = [
    ("AV", &["N", "A", "L", "P"]),
    ("AC", &["L", "H"]),
    ("PR", &["N", "L", "H"]),
    ("UI", &["N", "R"]),
    ("S", &["U", "C"]),
    ("C", &["H", "L", "N"]),
    ("I", &["H", "L", "N"]),
    ("A", &["H", "L", "N"]),
];

const V4_BASE: [(&str, &[&str]); 11] = [
    ("AV", &["N", "A", "L", "P"]),
    ("AC", &["L", "H"]),
    ("AT", &["N", "P"]),
    ("PR", &["N", "L", "H"]),
    ("UI", &["N", "P", "A"]),
    ("VC", &["H", "L", "N"]),
    ("VI", &["H", "L", "N"]),
    ("VA", &["H", "L", "N"]),
    ("SC", &["H", "L", "N"]),
    ("SI", &["H", "L", "N"]),
    ("SA", &["H", "L", "N"]),
];

impl CvssVector {
    /// Parses a v3.0, v3.1 or v4.0 vector, checking that every base metric is present once with
    /// a legal value. Temporal, environmental and supplemental metrics are kept unchecked.
    pub fn parse(vector: &str) -> Result<CvssVector, CvssError> {
        let vector = vector.trim();
        let invalid = |reason: String| CvssError::Invalid {
            vector: vector.to_owned(),
            reason,
        };
        let (version, rest) = if let Some(r) = vector.strip_prefix("CVSS:3.1/") {
            ("3.1", r)
        } else if let Some(r) = vector.strip_prefix("CVSS:3.0/") {
            ("3.0", r)
        } else if let Some(r) = vector.strip_prefix("CVSS:4.0/") {
            ("4.0", r)
        } else {
            return Err(CvssError::UnknownVersion(vector.to_owned()));
        };
        let mut metrics = BTreeMap::new();
        for part in rest.split('/') {
            let (k, v) = part
                .split_once(':')
                .ok_or_else(|| invalid(format!("metric {part:?} has no value")))?;
            if metrics.insert(k.to_owned(), v.to_owned()).is_some() {
                return Err(invalid(format!("metric {k} repeated")));
            }
        }
        let base: &[(&str, &[&str])] = if version == "4.0" { &V4_BASE } else { &V3_BASE };
        for (name, allowed) in base {
            match metrics.get(*name) {
                None => return Err(invalid(format!("base metric {name} missing"))),
                Some(v) if !allowed.contains(&v.as_str()) => {
                    return Err(invalid(format!("{name}:{v} is not a legal value")))
                }
                Some(_) => {}
            }
        }
        Ok(CvssVector {
            version: version.to_owned(),
            metrics,
            raw: vector.to_owned(),
        })
    }

    fn get(&self, k: &str) -> &str {
        self.metrics.get(k).map(String::as_str).unwrap_or("")
    }

    /// The base score, or `None` for v4.0 (see the module documentation).
    pub fn base_score(&self) -> Option<f64> {
        match self.version.as_str() {
            "3.0" | "3.1" => Some(self.v3_base_score()),
            _ => None,
        }
    }

    fn v3_base_score(&self) -> f64 {
        let changed = self.get("S") == "C";
        let av = match self.get("AV") {
            "N" => 0.85,
            "A" => 0.62,
            "L" => 0.55,
            _ => 0.2,
        };
        let ac = if self.get("AC") == "L" { 0.77 } else { 0.44 };
        let pr = match (self.get("PR"), changed) {
            ("N", _) => 0.85,
            ("L", false) => 0.62,
            ("L", true) => 0.68,
            (_, false) => 0.27,
            (_, true) => 0.5,
        };
        let ui = if self.get("UI") == "N" { 0.85 } else { 0.62 };
        let cia = |k: &str| match self.get(k) {
            "H" => 0.56,
            "L" => 0.22,
            _ => 0.0,
        };
        let iss = 1.0 - (1.0 - cia("C")) * (1.0 - cia("I")) * (1.0 - cia("A"));
        let impact = if changed {
            7.52 * (iss - 0.029) - 3.25 * (iss - 0.02f64).powi(15)
        } else {
            6.42 * iss
        };
        let exploitability = 8.22 * av * ac * pr * ui;
        if impact <= 0.0 {
            return 0.0;
        }
        let raw = if changed {
            (1.08 * (impact + exploitability)).min(10.0)
        } else {
            (impact + exploitability).min(10.0)
        };
        if self.version == "3.0" {
            (raw * 10.0).ceil() / 10.0
        } else {
            roundup_v31(raw)
        }
    }
}

/// CVSS v3.1 Appendix A `Roundup`: the smallest one-decimal number >= the input, computed on
/// integers so that 4.000000001 does not become 4.1 through floating-point noise.
fn roundup_v31(x: f64) -> f64 {
    let int_input = (x * 100_000.0).round() as i64;
    if int_input % 10_000 == 0 {
        int_input as f64 / 100_000.0
    } else {
        ((int_input / 10_000) + 1) as f64 / 10.0
    }
}

/// Parses a vector and computes its score, as a [`CvssScore`] for a finding. `None` when the
/// vector is invalid or cannot be scored.
pub fn score(vector: &str) -> Option<CvssScore> {
    let v = CvssVector::parse(vector).ok()?;
    let base_score = v.base_score()?;
    Some(CvssScore {
        version: v.version,
        vector: v.raw,
        base_score,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> f64 {
        CvssVector::parse(v).unwrap().base_score().unwrap()
    }

    #[test]
    fn rejects_bad_vectors() {
        assert!(CvssVector::parse("AV:N/AC:L").is_err());
        assert!(CvssVector::parse("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H").is_err());
        assert!(CvssVector::parse("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").is_err());
        assert!(CvssVector::parse("CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").is_err());
    }

    #[test]
    fn roundup_avoids_float_noise() {
        assert_eq!(roundup_v31(4.000_000_01), 4.0);
        assert_eq!(roundup_v31(4.02), 4.1);
    }

    #[test]
    fn v4_is_parsed_but_not_scored() {
        let v =
            CvssVector::parse("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")
                .unwrap();
        assert_eq!(v.version, "4.0");
        assert_eq!(v.base_score(), None);
    }

    #[test]
    fn zero_impact_scores_zero() {
        assert_eq!(s("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"), 0.0);
    }
}
