//! `MergedFs::from_rootfs` over root directories built in the test: symlinks that point out of
//! the root, fifos and sockets, files and directories swapped after the walk, and mounts inside
//! the root.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up helpers outside #[test] fns

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use crowsnest_image::{Limits, MergedFs};
use crowsnest_model::{FileKind, FileMeta, ImageFs, ImagePath};

const SECRET: &str = "outside the root\n";

fn p(s: &str) -> ImagePath {
    ImagePath::parse(s).unwrap()
}

fn all(_: &ImagePath, _: &FileMeta) -> bool {
    true
}

fn read(fs: &MergedFs, path: &str) -> io::Result<String> {
    let mut s = String::new();
    fs.open(&p(path))?.read_to_string(&mut s)?;
    Ok(s)
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

/// Indexes `root` on another thread, failing the test if that blocks (on a fifo, say).
fn index(root: &Path) -> MergedFs {
    let (tx, rx) = mpsc::channel();
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        let fs = MergedFs::from_rootfs(&root, &all, &Limits::default());
        let _ = tx.send(fs);
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the walk blocked")
        .unwrap()
}

/// A temporary directory with `root/` (the tree to index) and `outside/secret` beside it.
struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("root/etc")).unwrap();
        fs::create_dir_all(dir.path().join("outside/sub")).unwrap();
        fs::write(dir.path().join("outside/secret"), SECRET).unwrap();
        fs::write(dir.path().join("outside/sub/deeper"), SECRET).unwrap();
        Host { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }
}

#[test]
fn symlinks_out_of_the_root_are_recorded_never_followed() {
    let host = Host::new();
    let root = host.root();
    fs::write(root.join("etc/os-release"), "ID=test\n").unwrap();
    fs::create_dir_all(root.join("usr/lib")).unwrap();
    fs::write(root.join("usr/lib/libc.so"), "elf").unwrap();
    symlink("usr/lib", root.join("lib")).unwrap();
    symlink("../../..", root.join("escape")).unwrap();
    symlink(host.outside(), root.join("outside-dir")).unwrap();
    symlink(host.outside().join("secret"), root.join("etc/secret")).unwrap();
    symlink("/etc/passwd", root.join("etc/host-passwd")).unwrap();
    symlink("../../outside/secret", root.join("etc/relative")).unwrap();

    let fs = index(&root);
    assert_eq!(read(&fs, "etc/os-release").unwrap(), "ID=test\n");
    assert_eq!(read(&fs, "lib/libc.so").unwrap(), "elf");
    for link in [
        "escape",
        "outside-dir",
        "etc/secret",
        "etc/host-passwd",
        "etc/relative",
    ] {
        assert_eq!(
            fs.metadata(&p(link)).unwrap().kind,
            FileKind::Symlink,
            "{link}"
        );
    }
    for path in [
        "etc/secret",
        "etc/relative",
        "etc/host-passwd",
        "outside-dir/secret",
        "outside-dir/sub/deeper",
        "escape/etc/passwd",
    ] {
        let err = read(&fs, path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{path}: {err}");
    }
    // Nothing behind the links was walked.
    let paths: Vec<&str> = fs.entries().map(|(p, _)| p.as_str()).collect();
    assert!(
        !paths
            .iter()
            .any(|p| p.contains("secret") && !p.starts_with("etc/") || p.contains("deeper")),
        "{paths:?}"
    );
    assert!(fs.read_dir(&p("outside-dir")).is_empty());
    assert_eq!(fs.sandbox_dir(), None);
}

#[test]
fn fifos_and_sockets_do_not_block_the_walk_or_the_reads() {
    let host = Host::new();
    let root = host.root();
    fs::create_dir_all(root.join("run")).unwrap();
    mkfifo(&root.join("run/fifo"));
    // A fifo where a cataloger would want a file.
    mkfifo(&root.join("etc/os-release"));
    let _socket = std::os::unix::net::UnixListener::bind(root.join("run/socket")).unwrap();
    fs::write(root.join("etc/passwd"), "root:x:0:0\n").unwrap();

    let fs = index(&root);
    for fifo in ["run/fifo", "etc/os-release"] {
        assert_eq!(fs.metadata(&p(fifo)).unwrap().kind, FileKind::Fifo);
        let err = read(&fs, fifo).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{fifo}: {err}");
    }
    assert!(
        fs.metadata(&p("run/socket")).is_none(),
        "sockets are not indexed"
    );
    assert_eq!(read(&fs, "etc/passwd").unwrap(), "root:x:0:0\n");
}

#[test]
fn files_swapped_after_the_walk_are_not_read() {
    let host = Host::new();
    let root = host.root();
    fs::create_dir_all(root.join("d")).unwrap();
    fs::create_dir_all(root.join("e")).unwrap();
    fs::create_dir_all(root.join("f")).unwrap();
    for dir in ["d", "e", "f"] {
        fs::write(root.join(dir).join("wanted"), "indexed\n").unwrap();
    }
    fs::write(root.join("etc/fifo-later"), "a file at first\n").unwrap();
    fs::write(host.outside().join("wanted"), SECRET).unwrap();
    let fs = index(&root);
    assert_eq!(read(&fs, "d/wanted").unwrap(), "indexed\n");

    // A directory swapped for a link to the outside, one swapped for a link to itself (same
    // inode, reached through a symlink), a file replaced by another, a file by a fifo.
    fs::rename(root.join("d"), root.join("d-old")).unwrap();
    symlink(host.outside(), root.join("d")).unwrap();
    fs::rename(root.join("e"), root.join("e-old")).unwrap();
    symlink("e-old", root.join("e")).unwrap();
    // (The old file is kept so its inode number cannot be reused for the new one.)
    fs::rename(root.join("f/wanted"), root.join("f/wanted-old")).unwrap();
    fs::write(root.join("f/wanted"), "replaced\n").unwrap();
    fs::remove_file(root.join("etc/fifo-later")).unwrap();
    mkfifo(&root.join("etc/fifo-later"));

    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let results: Vec<io::Result<String>> =
            ["d/wanted", "e/wanted", "f/wanted", "etc/fifo-later"]
                .iter()
                .map(|path| read(&fs, path))
                .collect();
        let _ = tx.send(results);
    });
    let results = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("a read blocked");
    for result in results {
        let err = result.expect_err("a swapped file was read");
        assert!(!err.to_string().contains("outside the root"));
    }
}

/// Unmounts on drop, so a failing test does not leave a mount behind.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount(args: &[&str], at: &Path) -> Option<Mounted> {
    let ok = Command::new("mount")
        .args(args)
        .arg(at)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| Mounted(at.to_path_buf()))
}

#[test]
fn other_mounts_inside_the_root_are_not_descended() {
    let host = Host::new();
    let root = host.root();
    fs::create_dir_all(root.join("mnt/tmpfs")).unwrap();
    fs::create_dir_all(root.join("mnt/bind")).unwrap();
    fs::write(root.join("etc/os-release"), "ID=test\n").unwrap();
    let outside = host.outside();
    let Some(_tmpfs) = mount(&["-t", "tmpfs", "none"], &root.join("mnt/tmpfs")) else {
        eprintln!("skipped: cannot mount here (needs CAP_SYS_ADMIN)");
        return;
    };
    fs::write(root.join("mnt/tmpfs/on-tmpfs"), "x").unwrap();
    // A bind mount is the same device: only the mount id tells it apart.
    let _bind = mount(
        &["--bind", outside.to_str().unwrap()],
        &root.join("mnt/bind"),
    )
    .unwrap();

    let fs = index(&root);
    assert_eq!(read(&fs, "etc/os-release").unwrap(), "ID=test\n");
    for dir in ["mnt/tmpfs", "mnt/bind"] {
        assert_eq!(fs.metadata(&p(dir)).unwrap().kind, FileKind::Dir, "{dir}");
        assert!(fs.read_dir(&p(dir)).is_empty(), "{dir} was descended");
    }
    assert!(fs.metadata(&p("mnt/bind/secret")).is_none());
}
