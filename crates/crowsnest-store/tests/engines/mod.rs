//! Runs each store test on both engines: a SQLite file in a temporary directory, and a fresh
//! schema on the PostgreSQL server named by `CROWSNEST_TEST_POSTGRES` (a URL; `.ci/postgres`
//! starts one and prints it). Without that variable the PostgreSQL half is skipped, unless
//! `CROWSNEST_REQUIRE_TOOLS=1` (CI), where it fails.
//!
//! Each test gets its own schema (through the URL's `options=-csearch_path%3D…`), so tests run
//! in parallel on one database; the schema is dropped when the test's [`TestDb`] is.

#![allow(dead_code)] // each test binary uses a different part

use crowsnest_store::Store;

/// The variable naming the test server.
pub const POSTGRES_ENV: &str = "CROWSNEST_TEST_POSTGRES";

/// Where one test's store lives.
pub enum TestDb {
    /// A SQLite data directory.
    Sqlite(tempfile::TempDir),
    /// A schema of its own on the test server.
    Postgres {
        /// The server URL as given.
        admin_url: String,
        /// The schema created for this test.
        schema: String,
        /// `admin_url` with the schema as search path.
        url: String,
    },
}

impl TestDb {
    /// A fresh SQLite data directory.
    pub fn sqlite() -> TestDb {
        TestDb::Sqlite(tempfile::tempdir().expect("temp dir"))
    }

    /// A fresh schema on the test server, or None (after saying why) when there is none.
    pub fn postgres() -> Option<TestDb> {
        let admin_url = match std::env::var(POSTGRES_ENV) {
            Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
            _ => {
                if crowsnest_testkit::tools_required() {
                    panic!(
                        "{POSTGRES_ENV} is required under CI (CROWSNEST_REQUIRE_TOOLS=1); \
                         .ci/run starts a server with .ci/postgres"
                    );
                }
                eprintln!("skipping the PostgreSQL half: {POSTGRES_ENV} is not set (bash .ci/postgres starts a server)");
                return None;
            }
        };
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connecting to {POSTGRES_ENV}: {e}"));
        admin
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .expect("creating the test schema");
        let sep = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{sep}options=-csearch_path%3D{schema}");
        Some(TestDb::Postgres {
            admin_url,
            schema,
            url,
        })
    }

    /// Opens (again) the store of this test.
    pub fn open(&self) -> Store {
        match self {
            TestDb::Sqlite(dir) => Store::open_data_dir(&dir.path().join("data")),
            TestDb::Postgres { url, .. } => Store::open(url),
        }
        .expect("opening the test store")
    }

    /// The location string [`Store::open`] takes for this test's store.
    pub fn location(&self) -> String {
        match self {
            TestDb::Sqlite(dir) => dir
                .path()
                .join("data/crowsnest.db")
                .to_string_lossy()
                .into_owned(),
            TestDb::Postgres { url, .. } => url.clone(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres {
            admin_url, schema, ..
        } = self
        {
            if let Ok(mut admin) = postgres::Client::connect(admin_url, postgres::NoTls) {
                let _ = admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
            }
        }
    }
}

/// For each named `fn NAME(db: &TestDb)`, a module `NAME` with the tests `sqlite` and
/// `postgres` running it on each engine.
macro_rules! on_both_engines {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(&super::engines::TestDb::sqlite());
            }

            #[test]
            fn postgres() {
                if let Some(db) = super::engines::TestDb::postgres() {
                    super::$name(&db);
                }
            }
        }
    )+};
}
