//! The one configuration struct, from flags and environment (each default documented on its
//! flag in `cli.rs`).

use std::path::PathBuf;

use crate::cli::GlobalArgs;

/// Settings shared by every command.
#[derive(Debug, Clone)]
pub struct Config {
    /// The vulnerability database file (DATA_DIR/vulndb.sqlite unless --db says otherwise).
    pub vulndb: PathBuf,
    /// The state directory; the default SQLite store lives here.
    pub data_dir: PathBuf,
}

/// The ecosystems `db update` downloads by default: the distributions and languages the
/// catalogers report, named as osv.dev names its per-ecosystem archives.
pub const DEFAULT_ECOSYSTEMS: &[&str] = &[
    "Alpine",
    "Debian",
    "Ubuntu",
    "AlmaLinux",
    "Rocky Linux",
    "Red Hat",
    "SUSE",
    "PyPI",
    "npm",
    "Maven",
    "Go",
    "crates.io",
    "RubyGems",
    "Packagist",
];

impl Config {
    /// Resolves the configuration from parsed flags (which already include the environment).
    pub fn load(global: &GlobalArgs) -> Config {
        let data_dir = global.data_dir.clone().unwrap_or_else(default_data_dir);
        let vulndb = global
            .db
            .clone()
            .unwrap_or_else(|| data_dir.join("vulndb.sqlite"));
        Config { vulndb, data_dir }
    }
}

impl Config {
    /// Opens the inventory store named by `--database`, else the SQLite file in the data
    /// directory (created, with migrations applied, on first use).
    pub fn open_store(
        &self,
        args: &crate::cli::StoreArgs,
    ) -> anyhow::Result<crowsnest_store::Store> {
        use anyhow::Context;
        match &args.database {
            Some(location) => crowsnest_store::Store::open(location)
                .context("opening the store named by --database"),
            None => crowsnest_store::Store::open_data_dir(&self.data_dir)
                .with_context(|| format!("opening the store in {}", self.data_dir.display())),
        }
    }
}

fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("crowsnest");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".local/share/crowsnest");
    }
    PathBuf::from(".crowsnest")
}
