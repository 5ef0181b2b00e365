//! Language ecosystems: Python, npm, Java, Go, Rust, Ruby, PHP.

use crate::Cataloger;

/// The language catalogers, in the order they run.
pub fn catalogers() -> Vec<Box<dyn Cataloger>> {
    vec![]
}
