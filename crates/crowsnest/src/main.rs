//! The `crowsnest` binary: command-line parsing and wiring; the logic lives in the library crates.

fn main() {
    println!("crowsnest {}", env!("CARGO_PKG_VERSION"));
}
