//! A real registry for tests: Debian's `docker-registry` (the CNCF distribution registry)
//! started on 127.0.0.1 on a free port, with its own storage directory and htpasswd (bcrypt)
//! auth, or token auth against [`crate::token::TokenServer`], stopped when the handle drops.
//! Images are pushed with `skopeo`.

// Test support: a failed setup step is reported by panicking in the test that asked for it.
#![allow(clippy::expect_used)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user name every test registry accepts.
pub const USER: &str = "crow";
/// Its password.
pub const PASSWORD: &str = "nest-pass-1";

/// A running `docker-registry`.
pub struct TestRegistry {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    /// The token service of a registry started with [`TestRegistry::start_with_token_auth`].
    token: Option<crate::token::TokenServer>,
}

impl TestRegistry {
    /// Starts a registry, or returns `None` when `docker-registry`, `htpasswd` or `skopeo` is
    /// missing (see [`crate::require_tool`]: under CI that panics instead).
    pub fn start() -> Option<TestRegistry> {
        if !crate::require_tool("docker-registry")
            || !crate::require_tool("htpasswd")
            || !crate::require_tool("skopeo")
        {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir for the registry");
        let htpasswd = Command::new("htpasswd")
            .args(["-Bbn", USER, PASSWORD])
            .output()
            .expect("running htpasswd");
        assert!(htpasswd.status.success(), "htpasswd failed");
        std::fs::write(dir.path().join("htpasswd"), &htpasswd.stdout).expect("writing htpasswd");
        let mut registry = TestRegistry {
            child: None,
            dir,
            port: free_port(),
            token: None,
        };
        registry.spawn();
        Some(registry)
    }

    /// Starts a registry configured with `auth: token`: clients are sent to a
    /// [`crate::token::TokenServer`] (same [`USER`] and [`PASSWORD`]) for Bearer tokens.
    /// `None` when `docker-registry`, `skopeo` or `openssl` is missing.
    pub fn start_with_token_auth() -> Option<TestRegistry> {
        if !crate::require_tool("docker-registry") || !crate::require_tool("skopeo") {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir for the registry");
        let token = crate::token::TokenServer::start(dir.path(), USER, PASSWORD)?;
        let mut registry = TestRegistry {
            child: None,
            dir,
            port: free_port(),
            token: Some(token),
        };
        registry.spawn();
        Some(registry)
    }

    /// The token service, for a registry started with token auth.
    pub fn token_server(&self) -> Option<&crate::token::TokenServer> {
        self.token.as_ref()
    }

    fn spawn(&mut self) {
        let auth = match &self.token {
            Some(token) => token.registry_auth_config(),
            None => format!(
                "auth:\n  htpasswd:\n    realm: crowsnest-test\n    path: {}\n",
                self.dir.path().join("htpasswd").display()
            ),
        };
        let config = format!(
            "version: 0.1\n\
             log:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n\
             {auth}\
             compatibility:\n  schema1:\n    enabled: true\n",
            storage = self.storage_dir().display(),
            port = self.port,
        );
        let config_path = self.dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("writing the registry config");
        let log = std::fs::File::create(self.dir.path().join("registry.log")).expect("log file");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting docker-registry");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {} within 20 s: {}",
                self.port,
                std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The registry's storage root.
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Where the registry keeps the bytes of blob `digest` (`sha256:…`).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.storage_dir()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Copies `source` (a skopeo transport reference, e.g. `oci-archive:/x.tar` or
    /// `oci:/layout:tag`) to `REPOSITORY:TAG` on this registry; `extra` adds skopeo flags
    /// (`--all`, `--format v2s1`). Panics with skopeo's output when the copy fails.
    pub fn push(&self, source: &str, repository_tag: &str, extra: &[&str]) {
        let output = self.try_push(source, repository_tag, extra);
        assert!(
            output.status.success(),
            "skopeo copy {source} -> {repository_tag} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// [`TestRegistry::push`] returning skopeo's output instead of asserting success.
    pub fn try_push(
        &self,
        source: &str,
        repository_tag: &str,
        extra: &[&str],
    ) -> std::process::Output {
        let dest = format!("docker://{}/{repository_tag}", self.host());
        let creds = format!("{USER}:{PASSWORD}");
        Command::new("skopeo")
            .args([
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
                "--dest-creds",
                &creds,
            ])
            .args(extra)
            .arg(source)
            .arg(&dest)
            .output()
            .expect("running skopeo")
    }

    /// Kills the registry process (for "registry went away" tests); [`TestRegistry::restart`]
    /// starts it again on the same port and storage.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the registry again after [`TestRegistry::kill`].
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// The registry's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The directory holding config, htpasswd, log and storage.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nothing listens on right now (the OS picks it; released before the registry binds).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("local address").port()
}

/// A skopeo `docker-archive:` reference for a gzip-compressed `docker save` fixture
/// (`images/alpine-310.tar.gz`): skopeo reads only plain tars, so the fixture is decompressed
/// once into the test cache (written beside and renamed, so concurrent tests never see half).
pub fn docker_archive(fixture_gz: &str) -> String {
    let source = crate::fixture(fixture_gz);
    let name = Path::new(fixture_gz)
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a fixture file name")
        .trim_end_matches(".gz")
        .to_owned();
    let target = crate::cache_dir("registry").join(&name);
    if !target.is_file() {
        // Tests of one binary are threads of one process: the counter tells them apart.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let partial = target.with_extension(format!("partial-{}-{n}", std::process::id()));
        let file = std::fs::File::create(&partial).expect("creating the decompressed copy");
        let status = Command::new("gzip")
            .arg("-dc")
            .arg(&source)
            .stdout(file)
            .status()
            .expect("running gzip");
        assert!(status.success(), "gzip -dc {} failed", source.display());
        std::fs::rename(&partial, &target).expect("renaming the decompressed copy");
    }
    format!("docker-archive:{}", target.display())
}
