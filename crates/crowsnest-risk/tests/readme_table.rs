//! The README's check table is generated from the code; this fails when the checked-in copy is
//! stale and prints the current one. `CROWSNEST_UPDATE_README=1` rewrites it in place.

#![allow(clippy::unwrap_used, clippy::expect_used)]

const START: &str = "<!-- risk-checks:start -->\n";
const END: &str = "<!-- risk-checks:end -->";

#[test]
fn readme_check_table_is_current() {
    let path = crowsnest_testkit::repo_root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme
        .find(START)
        .expect("README has the risk-checks:start marker")
        + START.len();
    let end = readme
        .find(END)
        .expect("README has the risk-checks:end marker");
    let table = crowsnest_risk::checks_markdown();
    if readme[start..end] != table {
        if std::env::var_os("CROWSNEST_UPDATE_README").is_some() {
            let updated = format!("{}{}{}", &readme[..start], table, &readme[end..]);
            std::fs::write(&path, updated).unwrap();
        } else {
            panic!("README.md's check table is stale; it should read:\n{table}");
        }
    }
}
