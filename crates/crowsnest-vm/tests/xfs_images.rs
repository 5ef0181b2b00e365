#![allow(clippy::unwrap_used, clippy::expect_used)]
//! XFS disks built without root from the debootstrap tree (`mkfs.xfs -p PROTOFILE`, changed
//! afterwards with `xfs_db -x`) and read back: the XFS reader must see exactly the tree that
//! went in (kinds, modes, owners, sizes, symlink targets, every file's bytes), inspection and
//! the catalogers must work on an XFS root as on ext4 (dpkg-query is the packages' oracle),
//! and hostile copies must end in clear errors. `xfs_db -r` says which on-disk forms the
//! images hold, so the test knows it covers shortform, block, leaf and B+tree directories and
//! inline and remote symlinks.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crowsnest_model::{FileKind, ImageFs, ImagePath, RiskKind, SourceInfo, SourceKind};
use crowsnest_testkit::disk::{self, Table};
use crowsnest_vm::{DiskLimits, VmImage};

const KERNEL: &str = "6.1.0-crowsnest";
/// Where the test's own additions live in the image.
const EXTRA: &str = "srv/crowsnest-xfs";
const BIG_DIR_FILES: usize = 5000;
const MID_DIR_FILES: usize = 300;

type Tree = BTreeMap<String, (FileKind, u32, u32, u32, u64, Option<String>)>;

struct Built {
    /// The debootstrap root and the tree of additions, merged by the protofile.
    roots: Vec<PathBuf>,
    dir: PathBuf,
    /// The v5 filesystem image (whole filesystem, no table).
    v5: PathBuf,
    /// The same tree as a v4 filesystem without file types in directory entries.
    v4: PathBuf,
    /// What the v5 image should hold.
    v5_expected: Tree,
    /// What the v4 image should hold (the v5 tree and a remote symlink).
    v4_expected: Tree,
}

fn long_target() -> String {
    "a-long-symlink-target/".repeat(30) + "end"
}

/// Builds an XFS image from the merged `roots` with `mkfs.xfs -p` and returns the tree it
/// should hold; xfs_repair -n must find nothing wrong with it.
fn make_xfs(roots: &[PathBuf], image: &Path, extra_args: &[&str]) -> Tree {
    let refs: Vec<&Path> = roots.iter().map(PathBuf::as_path).collect();
    let (body, skipped) = disk::xfs_protofile(&refs);
    let mut expected = Tree::new();
    for r in roots.iter().rev() {
        expected.extend(host_tree(r));
    }
    for s in &skipped {
        expected.retain(|k, _| k != s && !k.starts_with(&format!("{s}/")));
    }
    disk::mkfs_xfs(&body, image, 600, extra_args);
    // mkfs.xfs's protofile has no sticky bit; xfs_db sets it where the tree has it.
    let mut commands = Vec::new();
    for (k, v) in expected.iter().filter(|(_, v)| v.1 & 0o1000 != 0) {
        let kind = match v.0 {
            FileKind::Dir => 0o040000,
            FileKind::Regular => 0o100000,
            other => panic!("sticky {other:?} at {k}"),
        };
        commands.push(format!("path /{k}"));
        commands.push(format!("write core.mode 0{:o}", kind | v.1));
    }
    if !commands.is_empty() {
        disk::xfs_db_write(image, &commands);
    }
    let repair = Command::new("xfs_repair")
        .args(["-n", "-f"])
        .arg(image)
        .output()
        .unwrap();
    assert!(
        repair.status.success(),
        "xfs_repair -n {}: {}",
        image.display(),
        String::from_utf8_lossy(&repair.stderr)
    );
    expected
}

fn tools() -> bool {
    disk::require_disk_tools()
        && crowsnest_testkit::require_tool("mkfs.xfs")
        && crowsnest_testkit::require_tool("xfs_db")
        && crowsnest_testkit::require_tool("xfs_repair")
}

fn built() -> Option<&'static Built> {
    static BUILT: OnceLock<Option<Built>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if !tools() {
                return None;
            }
            let root = crowsnest_testkit::debian_rootfs()?;
            let dir = disk::scratch("xfs-disks");
            let extra = dir.join("extra");
            add_extras(&extra);
            // mkfs.xfs 6.1 writes a remote symlink of a v5 filesystem without the block
            // header v5 requires (xfs_repair -n flags it), so only the v4 image gets one.
            let extra_v4 = dir.join("extra-v4");
            std::fs::create_dir_all(extra_v4.join(EXTRA)).unwrap();
            std::os::unix::fs::symlink(long_target(), extra_v4.join(EXTRA).join("remote-link"))
                .unwrap();
            let v5_roots = vec![root.clone(), extra.clone()];
            let v4_roots = vec![root, extra, extra_v4];
            let v5 = dir.join("v5.xfs");
            let v4 = dir.join("v4.xfs");
            let v5_expected = make_xfs(&v5_roots, &v5, &[]);
            let v4_expected = make_xfs(
                &v4_roots,
                &v4,
                &["-m", "crc=0", "-i", "size=256", "-n", "ftype=0"],
            );
            Some(Built {
                roots: v4_roots,
                dir,
                v5,
                v4,
                v5_expected,
                v4_expected,
            })
        })
        .as_ref()
}

/// The test's additions: a kernel's driver files (nvme as a module the initramfs carries,
/// virtio_blk built in), a planted AWS key, directories large enough for the leaf and node
/// forms, a file of several megabytes, and a pair of directories for the loop case.
fn add_extras(extra: &Path) {
    let m = extra.join(format!("usr/lib/modules/{KERNEL}"));
    std::fs::create_dir_all(m.join("kernel/drivers/nvme/host")).unwrap();
    std::fs::write(
        m.join("kernel/drivers/nvme/host/nvme.ko.xz"),
        b"xz-compressed module stand-in",
    )
    .unwrap();
    std::fs::write(
        m.join("modules.builtin"),
        "kernel/drivers/block/virtio_blk.ko\nkernel/fs/xfs/xfs.ko\n",
    )
    .unwrap();
    let staging = extra.parent().unwrap().join("initramfs");
    let nvme_dir = staging.join(format!("usr/lib/modules/{KERNEL}/kernel/drivers/nvme/host"));
    std::fs::create_dir_all(&nvme_dir).unwrap();
    std::fs::write(nvme_dir.join("nvme.ko"), b"\x7fELF not really a module").unwrap();
    std::fs::create_dir_all(extra.join("boot")).unwrap();
    disk::initramfs_gz(&staging, &extra.join(format!("boot/initrd.img-{KERNEL}")));

    let x = extra.join(EXTRA);
    std::fs::create_dir_all(x.join("big")).unwrap();
    std::fs::create_dir_all(x.join("mid")).unwrap();
    std::fs::create_dir_all(x.join("loop/back")).unwrap();
    for i in 0..BIG_DIR_FILES {
        std::fs::write(
            x.join(format!("big/an-entry-with-a-longish-name-{i:05}")),
            format!("file {i}\n"),
        )
        .unwrap();
    }
    for i in 0..MID_DIR_FILES {
        std::fs::write(x.join(format!("mid/m{i}")), format!("{i}")).unwrap();
    }
    std::fs::write(
        x.join("deploy.env"),
        format!("AWS_ACCESS_KEY_ID={}{}\n", "AKIA", "Q3T7ZK2MVX4RB6WN"),
    )
    .unwrap();
    // Several megabytes, so the file spans many reads.
    let mut blob = Vec::new();
    for i in 0u32..(3 << 20) / 4 {
        blob.extend_from_slice(&i.wrapping_mul(2_654_435_761).to_le_bytes());
    }
    std::fs::write(x.join("blob.bin"), blob).unwrap();
}

/// Every entry under `root` on the host, as the XFS reader should show it.
fn host_tree(root: &Path) -> Tree {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = Tree::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let ft = meta.file_type();
            let kind = if ft.is_dir() {
                pending.push(path.clone());
                FileKind::Dir
            } else if ft.is_symlink() {
                FileKind::Symlink
            } else if ft.is_file() {
                FileKind::Regular
            } else if ft.is_char_device() {
                FileKind::CharDevice
            } else if ft.is_block_device() {
                FileKind::BlockDevice
            } else if ft.is_fifo() {
                FileKind::Fifo
            } else {
                continue;
            };
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let target = ft.is_symlink().then(|| {
                std::fs::read_link(&path)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned()
            });
            let size = if ft.is_file() { meta.len() } else { 0 };
            out.insert(
                rel,
                (
                    kind,
                    meta.mode() & 0o7777,
                    meta.uid(),
                    meta.gid(),
                    size,
                    target,
                ),
            );
        }
    }
    out
}

fn vm_tree(fs: &dyn ImageFs) -> Tree {
    fs.entries()
        .map(|(p, m)| {
            (
                p.as_str().to_owned(),
                (
                    m.kind,
                    m.mode,
                    m.uid as u32,
                    m.gid as u32,
                    m.size,
                    m.link_target.clone(),
                ),
            )
        })
        .collect()
}

fn assert_same_tree(fs: &dyn ImageFs, b: &Built, expected: &Tree) {
    let seen = vm_tree(fs);
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !seen.contains_key(*k))
        .take(5)
        .collect();
    let extra: Vec<_> = seen
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    for (path, want) in expected {
        assert_eq!(&seen[path], want, "{path}");
    }
    // Every regular file's bytes, from the root that provided it.
    let mut files = 0;
    for (path, want) in expected {
        if want.0 != FileKind::Regular {
            continue;
        }
        let source = b
            .roots
            .iter()
            .map(|r| r.join(path))
            .find(|p| p.symlink_metadata().is_ok())
            .unwrap();
        let mut got = Vec::new();
        fs.open(&ImagePath::parse(path).unwrap())
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        assert!(got == std::fs::read(&source).unwrap(), "{path} differs");
        files += 1;
    }
    assert!(files > BIG_DIR_FILES + 1000, "{files} files compared");
}

fn db(image: &Path, commands: &[&str]) -> String {
    let commands: Vec<String> = commands.iter().map(|c| (*c).to_owned()).collect();
    disk::xfs_db_print(image, &commands)
}

#[test]
fn images_hold_every_directory_and_symlink_form() {
    let Some(b) = built() else { return };
    for image in [&b.v5, &b.v4] {
        let shape = |path: &str| {
            db(
                image,
                &[&format!("path /{path}"), "print core.format core.nextents"],
            )
        };
        // Shortform: the entries inside the inode.
        assert!(shape("etc/apt").contains("(local)"), "{}", shape("etc/apt"));
        // Block: one directory block holding entries and their hash index.
        assert!(
            shape("etc").contains("core.nextents = 1"),
            "{}",
            shape("etc")
        );
        // Leaf: data blocks and one leaf block past 32 GiB.
        let mid = shape(&format!("{EXTRA}/mid"));
        assert!(
            mid.contains("(extents)") && mid.contains("core.nextents = 3"),
            "{mid}"
        );
        // Node: several leaf blocks, a free-space index past 64 GiB, and so many extents
        // that the data fork is a B+tree.
        let big = shape(&format!("{EXTRA}/big"));
        assert!(big.contains("(btree)"), "{big}");
        let bmap = db(image, &[&format!("path /{EXTRA}/big"), "bmap"]);
        let free_index_block = (64u64 << 30) / 4096;
        assert!(
            bmap.lines().any(|l| l
                .split_whitespace()
                .nth(2)
                .and_then(|o| o.parse::<u64>().ok())
                .is_some_and(|o| o >= free_index_block)),
            "{bmap}"
        );
        // An inline symlink.
        assert!(
            shape("usr/bin/awk").contains("(local)"),
            "{}",
            shape("usr/bin/awk")
        );
    }
    // A remote symlink (v4 only, see `built`).
    let link = db(
        &b.v4,
        &[&format!("path /{EXTRA}/remote-link"), "print core.format"],
    );
    assert!(link.contains("(extents)"), "{link}");
}

#[test]
fn v5_xfs_in_gpt_qcow2_reads_exactly_the_tree_and_inspects_like_ext4() {
    let Some(b) = built() else { return };
    let raw = b.dir.join("gpt.raw");
    let number = disk::partitioned(&b.v5, Table::GptWithEsp, &raw);
    let qcow = b.dir.join("gpt.qcow2");
    disk::qcow2(&raw, &qcow);
    let image = VmImage::open(&qcow, &DiskLimits::default()).unwrap();
    let fs = image.root_fs().expect("root filesystem found");
    assert_eq!(fs.fs_kind(), "xfs");
    assert!(fs.diagnostics().is_empty(), "{:?}", fs.diagnostics());
    assert_same_tree(fs, b, &b.v5_expected);

    let found = image.inspect();
    assert_eq!(found.root_partition, Some(number));
    let root = found
        .filesystems
        .iter()
        .find(|f| f.partition == number)
        .unwrap();
    assert_eq!(
        (root.kind.as_str(), root.label.as_str()),
        ("xfs", "crowsnestxfs")
    );
    assert_eq!(found.boot_mode, "UEFI");
    let os = found.os.clone().unwrap();
    assert_eq!((os.id.as_str(), os.version_id.as_str()), ("debian", "12"));
    assert_eq!(
        found.architecture.as_deref(),
        Some(host_architecture().as_str())
    );
    assert_eq!(found.kernels.len(), 1);
    let k = &found.kernels[0];
    assert_eq!(k.release, KERNEL);
    assert!(
        k.nvme.module && k.nvme.in_initramfs && !k.nvme.builtin,
        "{k:?}"
    );
    assert!(k.virtio.builtin, "{k:?}");
    assert_eq!(found.nvme_support, "supported");

    // The catalogers and the risk analyzers, as `vm import` runs them.
    let risk = crowsnest_risk::RiskAnalyzers::new(&crowsnest_risk::RiskOptions::all()).unwrap();
    let scanner = crowsnest_scan::Scanner::default().with_risk(risk);
    let info = SourceInfo {
        kind: SourceKind::VmDisk,
        reference: qcow.display().to_string(),
        image_id: None,
        manifest_digest: None,
        tags: Vec::new(),
        architecture: None,
        os: None,
    };
    let output = scanner.scan_fs_full(fs, info, fs.diagnostics().to_vec());
    let inventory = output.inventory;
    assert_eq!(
        inventory.distro.as_ref().map(|d| d.id.as_str()),
        Some("debian")
    );
    let out = Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            b.roots[0].join("var/lib/dpkg").display()
        ))
        .args(["-W", "-f", "${db:Status-Abbrev} ${Package} ${Version}\n"])
        .output()
        .unwrap();
    let mut want: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("ii"))
        .map(|l| l[4..].trim().to_owned())
        .collect();
    want.sort();
    let mut got: Vec<String> = inventory
        .packages
        .iter()
        .filter(|p| p.found_by == "os/dpkg")
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    got.sort();
    got.dedup();
    assert!(want.len() > 50, "{} packages", want.len());
    assert_eq!(got, want);
    let planted = format!("/{EXTRA}/deploy.env");
    assert!(
        output
            .risks
            .iter()
            .any(|r| r.kind == RiskKind::Secret && r.path.as_deref() == Some(planted.as_str())),
        "{:?}",
        output
            .risks
            .iter()
            .map(|r| (&r.id, &r.path))
            .collect::<Vec<_>>()
    );
    assert!(output.risks.iter().any(|r| r.kind == RiskKind::Baseline));
}

#[test]
fn v4_xfs_without_file_types_reads_exactly_the_tree() {
    let Some(b) = built() else { return };
    let image = VmImage::open(&b.v4, &DiskLimits::default()).unwrap();
    let fs = image.root_fs().expect("root filesystem found");
    assert_eq!(fs.fs_kind(), "xfs");
    assert_same_tree(fs, b, &b.v4_expected);
    let link = ImagePath::parse(&format!("{EXTRA}/remote-link")).unwrap();
    assert_eq!(fs.metadata(&link).unwrap().link_target, Some(long_target()));
    assert_eq!(image.inspect().root_partition, Some(0));
}

fn copy(b: &Built, name: &str) -> PathBuf {
    let path = b.dir.join(name);
    std::fs::copy(&b.v5, &path).unwrap();
    path
}

fn open_err(path: &Path) -> crowsnest_vm::VmError {
    match VmImage::open(path, &DiskLimits::default()) {
        Err(e) => e,
        Ok(_) => panic!("{} opened", path.display()),
    }
}

#[test]
fn hostile_xfs_copies_end_in_clear_errors() {
    let Some(b) = built() else { return };
    // A superblock with a block size that is no power of two.
    let path = copy(b, "bad-sb.xfs");
    disk::xfs_db_write(&path, &["sb 0".into(), "write -d blocksize 3000".into()]);
    let err = open_err(&path);
    assert_eq!(err.code().as_str(), "invalid_image", "{err}");
    assert!(err.to_string().contains("block size 3000"), "{err}");

    // Cut short: the filesystem claims more blocks than the file holds.
    let path = copy(b, "truncated.xfs");
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(64 << 20).unwrap();
    let err = open_err(&path);
    assert_eq!(err.code().as_str(), "invalid_image", "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");

    // An incompatible feature this reader does not know.
    let path = copy(b, "incompat.xfs");
    disk::xfs_db_write(
        &path,
        &[
            "sb 0".into(),
            "write -d features_incompat 0x4000000b".into(),
        ],
    );
    let err = open_err(&path);
    assert_eq!(err.code().as_str(), "invalid_image", "{err}");
    assert!(
        err.to_string()
            .contains("unknown incompatible features 0x40000000"),
        "{err}"
    );

    // A directory entry naming an inode outside the disk.
    let path = copy(b, "far-inode.xfs");
    disk::xfs_db_write(
        &path,
        &[
            format!("path /{EXTRA}/loop"),
            "write -d u3.sfdir3.list[0].inumber.i4 4294967295".into(),
        ],
    );
    let err = open_err(&path);
    assert_eq!(err.code().as_str(), "invalid_image", "{err}");
    assert!(err.to_string().contains("outside the filesystem"), "{err}");

    // A directory whose child is the root again: reported once, the walk ends.
    let path = copy(b, "loop.xfs");
    let root = db(&path, &["sb 0", "print rootino"]);
    let root = root.trim().rsplit(' ').next().unwrap().to_owned();
    disk::xfs_db_write(
        &path,
        &[
            format!("path /{EXTRA}/loop"),
            format!("write -d u3.sfdir3.list[0].inumber.i4 {root}"),
        ],
    );
    let image = VmImage::open(&path, &DiskLimits::default()).unwrap();
    let fs = image.root_fs().unwrap();
    assert!(
        fs.diagnostics()
            .iter()
            .any(|d| d.message.contains("reached twice")
                && d.path.as_deref() == Some(&format!("/{EXTRA}/loop/back") as &str)),
        "{:?}",
        fs.diagnostics()
    );

    // A v5 remote symlink block without its header, as mkfs.xfs 6.1 writes them (xfs_repair
    // would clear the inode): refused, not read as a target.
    let path = b.dir.join("headerless-link.xfs");
    let link_root = b.dir.join("headerless-link");
    std::fs::create_dir_all(link_root.join("etc")).unwrap();
    std::fs::write(link_root.join("etc/os-release"), "ID=debian\n").unwrap();
    std::os::unix::fs::symlink(long_target(), link_root.join("etc/far")).unwrap();
    let (body, _) = disk::xfs_protofile(&[&link_root]);
    disk::mkfs_xfs(&body, &path, 320, &[]);
    let err = open_err(&path);
    assert_eq!(err.code().as_str(), "invalid_image", "{err}");
    assert!(err.to_string().contains("bad remote block header"), "{err}");

    // A file extent pointing past the end of the filesystem: reading it fails, nothing else.
    let path = copy(b, "far-extent.xfs");
    disk::xfs_db_write(
        &path,
        &[
            format!("path /{EXTRA}/blob.bin"),
            "write -d u3.bmx[0].startblock 4503599627370000".into(),
        ],
    );
    let image = VmImage::open(&path, &DiskLimits::default()).unwrap();
    let fs = image.root_fs().unwrap();
    let p = ImagePath::parse(&format!("{EXTRA}/blob.bin")).unwrap();
    let err = fs.open(&p).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("outside the filesystem"), "{err}");
    assert!(fs
        .metadata(&ImagePath::parse("etc/os-release").unwrap())
        .is_some());
}

fn host_architecture() -> String {
    let out = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .unwrap();
    match String::from_utf8_lossy(&out.stdout).trim() {
        "amd64" => "x86_64".into(),
        "arm64" => "arm64".into(),
        "i386" => "i386".into(),
        other => other.into(),
    }
}

/// Random damage to a small filesystem's inodes, directory blocks and extent lists (found
/// with xfs_db): opening and walking it, and reading every file, must end in results or
/// errors, never a panic or a hang.
#[test]
fn random_damage_to_metadata_never_panics() {
    if !tools() {
        return;
    }
    let dir = disk::scratch("xfs-damage");
    let tree = dir.join("tree");
    for sub in ["etc", "block", "leaf", "short"] {
        std::fs::create_dir_all(tree.join(sub)).unwrap();
    }
    std::fs::write(tree.join("etc/os-release"), "ID=debian\nVERSION_ID=12\n").unwrap();
    for i in 0..40 {
        std::fs::write(tree.join(format!("block/file-{i}")), format!("{i}\n")).unwrap();
    }
    for i in 0..300 {
        std::fs::write(tree.join(format!("leaf/entry-{i:04}")), [i as u8; 100]).unwrap();
    }
    std::os::unix::fs::symlink("../etc/os-release", tree.join("short/link")).unwrap();
    std::fs::write(tree.join("short/data"), vec![7u8; 300_000]).unwrap();
    let image = dir.join("small.xfs");
    let (body, _) = disk::xfs_protofile(&[&tree]);
    disk::mkfs_xfs(&body, &image, 320, &[]);
    // Where the metadata is: each inode, and each directory's blocks, as byte ranges.
    let number = |text: &str| -> u64 {
        let word = text
            .trim()
            .rsplit(" = ")
            .next()
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        match word.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
            None => word.parse().unwrap(),
        }
    };
    let mut regions = Vec::new();
    for path in [
        "/",
        "/etc",
        "/block",
        "/leaf",
        "/short",
        "/etc/os-release",
        "/short/link",
        "/short/data",
    ] {
        let ino = number(&db(&image, &[&format!("path {path}"), "print v3.inumber"]));
        let daddr = number(&db(&image, &[&format!("convert ino {ino} daddr")]));
        regions.push((daddr * 512, 512u64));
        for line in db(&image, &[&format!("path {path}"), "bmap"]).lines() {
            let Some(fsb) = line.split_whitespace().nth(4) else {
                continue;
            };
            if path.starts_with("/block") || path.starts_with("/leaf") {
                let daddr = number(&db(&image, &[&format!("convert fsblock {fsb} daddr")]));
                regions.push((daddr * 512, 4096));
            }
        }
    }
    assert!(regions.len() >= 12, "{regions:?}");
    let original = std::fs::read(&image).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&image)
        .unwrap();
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut opened, mut failed) = (0, 0);
    for _ in 0..400 {
        let mut flips = Vec::new();
        for _ in 0..1 + next() % 8 {
            let (from, len) = regions[(next() % regions.len() as u64) as usize];
            let at = from + next() % len;
            let byte = (next() & 0xFF) as u8;
            flips.push(at);
            std::os::unix::fs::FileExt::write_at(&f, &[byte], at).unwrap();
        }
        match VmImage::open(&image, &DiskLimits::default()) {
            Ok(vm) => {
                opened += 1;
                if let Some(fs) = vm.root_fs() {
                    let files: Vec<ImagePath> = fs
                        .entries()
                        .filter(|(_, m)| m.kind == FileKind::Regular)
                        .map(|(p, _)| p.clone())
                        .collect();
                    for p in files {
                        if let Ok(mut r) = fs.open(&p) {
                            let _ =
                                std::io::copy(&mut r.by_ref().take(1 << 20), &mut std::io::sink());
                        }
                    }
                }
            }
            Err(e) => {
                failed += 1;
                let code = e.code();
                assert!(
                    ["invalid_image", "image_oversized"].contains(&code.as_str()),
                    "{e}"
                );
            }
        }
        for at in flips {
            let i = at as usize;
            std::os::unix::fs::FileExt::write_at(&f, &original[i..i + 1], at).unwrap();
        }
    }
    assert!(
        opened > 0 && failed > 0,
        "{opened} opened, {failed} refused"
    );
}
