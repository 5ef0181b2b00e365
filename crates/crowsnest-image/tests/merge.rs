//! The merged view over layers built in the test: replacement, whiteouts, opaque directories,
//! hard links, symlink resolution, limits, the per-entry visitor and progress.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up helpers outside #[test] fns

mod merge_support;

use std::io::Read;

use crowsnest_image::merge::{LayerEntry, LayerVisitor, MergeOptions, Progress};
use crowsnest_image::{ImageError, Limits, MergedFs};
use crowsnest_model::{ErrorCode, FileKind, FileMeta, ImageFs, ImagePath};
use merge_support::{assert_sandbox_is_sequence_numbered, sha256, Layer, MemorySource};

fn p(s: &str) -> ImagePath {
    ImagePath::parse(s).unwrap()
}

fn all(_: &ImagePath, _: &FileMeta) -> bool {
    true
}

fn merge(tars: Vec<Vec<u8>>) -> MergedFs {
    MergedFs::from_layers(
        &MemorySource::new(tars),
        &all,
        &Limits::default(),
        &mut |_| {},
    )
    .unwrap()
}

fn read(fs: &MergedFs, path: &str) -> String {
    let mut s = String::new();
    fs.open(&p(path)).unwrap().read_to_string(&mut s).unwrap();
    s
}

fn paths(fs: &MergedFs) -> Vec<String> {
    fs.entries().map(|(p, _)| p.as_str().to_owned()).collect()
}

#[test]
fn upper_layer_replaces_a_file_and_every_version_is_kept() {
    let fs = merge(vec![
        Layer::new()
            .dir("etc/")
            .file("etc/os-release", b"ID=one\n")
            .finish(),
        Layer::new().file("etc/os-release", b"ID=two\n").finish(),
    ]);
    assert_eq!(read(&fs, "/etc/os-release"), "ID=two\n");
    assert_eq!(fs.metadata(&p("etc/os-release")).unwrap().layer, 1);
    let versions: Vec<(usize, String)> = fs
        .captured_versions(&p("etc/os-release"))
        .iter()
        .map(|v| {
            let mut s = String::new();
            v.open().unwrap().read_to_string(&mut s).unwrap();
            (v.layer, s)
        })
        .collect();
    assert_eq!(
        versions,
        [(0, "ID=one\n".to_owned()), (1, "ID=two\n".to_owned())]
    );
    assert_sandbox_is_sequence_numbered(fs.sandbox_dir().unwrap());
}

#[test]
fn whiteout_deletes_a_file_and_a_directory_tree() {
    let fs = merge(vec![
        Layer::new()
            .file("a/keep", b"k")
            .file("a/gone", b"g")
            .file("d/x/y", b"y")
            .file("d/z", b"z")
            .file("dz", b"sibling that sorts near d")
            .finish(),
        Layer::new()
            .file("a/.wh.gone", b"")
            .file(".wh.d", b"")
            .finish(),
    ]);
    assert_eq!(paths(&fs), ["a", "a/keep", "dz"]);
    assert!(fs.metadata(&p("d")).is_none());
    assert!(fs.captured_versions(&p("a/gone")).is_empty());
    assert!(fs.open(&p("d/z")).is_err());
}

#[test]
fn whiteout_then_readd_in_same_layer_keeps_only_the_new_version() {
    // The whiteout hides lower layers only; the same layer's new file stays whatever the
    // order of the two entries in the tar.
    for whiteout_first in [true, false] {
        let upper = if whiteout_first {
            Layer::new()
                .file("app/.wh.conf", b"")
                .file("app/conf", b"new")
        } else {
            Layer::new()
                .file("app/conf", b"new")
                .file("app/.wh.conf", b"")
        };
        let fs = merge(vec![
            Layer::new().file("app/conf", b"old").finish(),
            upper.finish(),
        ]);
        assert_eq!(read(&fs, "app/conf"), "new");
        let layers: Vec<usize> = fs
            .captured_versions(&p("app/conf"))
            .iter()
            .map(|v| v.layer)
            .collect();
        assert_eq!(layers, [1], "whiteout_first={whiteout_first}");
    }
}

#[test]
fn opaque_directory_hides_lower_layers_but_not_its_own() {
    for marker_position in 0..3 {
        let mut upper = Layer::new();
        let entries: [(&str, &[u8]); 2] = [("d/new", b"n"), ("d/sub/kept", b"k")];
        for (i, (name, body)) in entries.iter().enumerate() {
            if i == marker_position {
                upper = upper.file("d/.wh..wh..opq", b"");
            }
            upper = upper.file(name, body);
        }
        if marker_position == 2 {
            upper = upper.file("d/.wh..wh..opq", b"");
        }
        let fs = merge(vec![
            Layer::new()
                .file("d/old", b"o")
                .file("d/sub/deep", b"x")
                .file("other/f", b"f")
                .finish(),
            upper.finish(),
        ]);
        assert_eq!(
            paths(&fs),
            ["d", "d/new", "d/sub", "d/sub/kept", "other", "other/f"],
            "marker at {marker_position}"
        );
        assert_eq!(fs.metadata(&p("d/sub")).unwrap().kind, FileKind::Dir);
    }
}

#[test]
fn whiteout_of_something_absent_is_harmless() {
    let fs = merge(vec![
        Layer::new().file("a/b", b"b").finish(),
        Layer::new()
            .file(".wh.nothing", b"")
            .file("missing/.wh.x", b"")
            .file("a/.wh..wh.plnk", b"")
            .finish(),
    ]);
    assert_eq!(paths(&fs), ["a", "a/b"]);
    assert!(fs.diagnostics().is_empty(), "{:?}", fs.diagnostics());
}

#[test]
fn hard_links_within_and_across_layers_are_independent_regular_files() {
    let fs = merge(vec![
        Layer::new()
            .file_mode("bin/tool", b"#!/bin/sh\necho hi\n", 0o4755)
            .hardlink("bin/tool-alias", "bin/tool")
            .finish(),
        Layer::new()
            .hardlink("usr/bin/tool", "/bin/tool")
            .file("bin/tool", b"replaced\n")
            .finish(),
    ]);
    assert_eq!(read(&fs, "bin/tool-alias"), "#!/bin/sh\necho hi\n");
    assert_eq!(read(&fs, "usr/bin/tool"), "#!/bin/sh\necho hi\n");
    assert_eq!(read(&fs, "bin/tool"), "replaced\n");
    let alias = fs.metadata(&p("usr/bin/tool")).unwrap();
    assert_eq!(alias.kind, FileKind::Regular);
    assert_eq!(alias.mode, 0o4755);
    assert_eq!(alias.layer, 1);
    assert_eq!(fs.metadata(&p("bin/tool-alias")).unwrap().layer, 0);
}

#[test]
fn hard_link_wanted_but_target_not_captured_is_a_diagnostic() {
    let wants = |p: &ImagePath, _: &FileMeta| p.as_str() == "b";
    let fs = MergedFs::from_layers(
        &MemorySource::new(vec![Layer::new()
            .file("a", b"content")
            .hardlink("b", "a")
            .finish()]),
        &wants,
        &Limits::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(fs.metadata(&p("b")).unwrap().kind, FileKind::Regular);
    assert!(fs.open(&p("b")).is_err());
    assert_eq!(fs.diagnostics().len(), 1, "{:?}", fs.diagnostics());
    assert_eq!(fs.diagnostics()[0].path.as_deref(), Some("/b"));
}

#[test]
fn symlinks_resolve_inside_the_root_and_loops_end() {
    let fs = merge(vec![Layer::new()
        .file("usr/lib/os-release", b"ID=x\n")
        .symlink("etc/os-release", "../usr/lib/os-release")
        .symlink("lib", "usr/lib")
        .symlink("loop1", "loop2")
        .symlink("loop2", "/loop1")
        .symlink("self", "self")
        .symlink("far", "../../../../../usr/lib")
        .finish()]);
    assert_eq!(read(&fs, "etc/os-release"), "ID=x\n");
    assert_eq!(read(&fs, "lib/os-release"), "ID=x\n");
    assert_eq!(read(&fs, "far/os-release"), "ID=x\n");
    assert_eq!(
        fs.metadata(&p("etc/os-release")).unwrap().kind,
        FileKind::Symlink
    );
    assert_eq!(
        fs.resolve(&p("lib/os-release")),
        Some(p("usr/lib/os-release"))
    );
    for looping in ["loop1", "loop2/x", "self", "self/a/b"] {
        assert_eq!(fs.resolve(&p(looping)), None, "{looping}");
        assert!(fs.open(&p(looping)).is_err());
    }
    assert_eq!(fs.read_dir(&p("lib")), [p("usr/lib/os-release")]);
}

#[test]
fn a_chain_of_forty_links_resolves_and_forty_one_does_not() {
    let mut layer = Layer::new().file("target", b"t");
    for i in 0..41 {
        let next = if i == 0 {
            "target".to_owned()
        } else {
            format!("l{}", i - 1)
        };
        layer = layer.symlink(&format!("l{i}"), &next);
    }
    let fs = merge(vec![layer.finish()]);
    assert_eq!(fs.resolve(&p("l39")), Some(p("target")));
    assert_eq!(fs.resolve(&p("l40")), None);
}

#[test]
fn parent_symlink_places_entries_at_the_resolved_directory() {
    let fs = merge(vec![
        Layer::new()
            .dir("usr/lib/")
            .symlink("lib", "usr/lib")
            .finish(),
        Layer::new().file("lib/libz.so.1", b"ELF").finish(),
    ]);
    assert_eq!(fs.metadata(&p("lib")).unwrap().kind, FileKind::Symlink);
    assert!(fs.metadata(&p("usr/lib/libz.so.1")).is_some());
    assert_eq!(read(&fs, "lib/libz.so.1"), "ELF");
    assert_eq!(paths(&fs), ["lib", "usr", "usr/lib", "usr/lib/libz.so.1"]);
}

#[test]
fn a_file_replacing_a_directory_removes_its_tree() {
    let fs = merge(vec![
        Layer::new().file("d/x", b"x").finish(),
        Layer::new().file("d", b"now a file").finish(),
    ]);
    assert_eq!(paths(&fs), ["d"]);
    assert_eq!(read(&fs, "d"), "now a file");
}

#[test]
fn devices_and_fifos_are_recorded_with_metadata() {
    let fs = merge(vec![Layer::new()
        .node("dev/null", tar::EntryType::Char)
        .node("dev/sda", tar::EntryType::Block)
        .node("run/pipe", tar::EntryType::Fifo)
        .file_mode("usr/bin/su", b"elf", 0o4755)
        .finish()]);
    assert_eq!(
        fs.metadata(&p("dev/null")).unwrap().kind,
        FileKind::CharDevice
    );
    assert_eq!(
        fs.metadata(&p("dev/sda")).unwrap().kind,
        FileKind::BlockDevice
    );
    assert_eq!(fs.metadata(&p("run/pipe")).unwrap().kind, FileKind::Fifo);
    assert!(fs.metadata(&p("usr/bin/su")).unwrap().is_executable());
    assert_eq!(fs.metadata(&p("usr/bin/su")).unwrap().mode, 0o4755);
    // Only the one regular file reached the sandbox.
    let sandbox = fs.sandbox_dir().unwrap();
    assert_sandbox_is_sequence_numbered(sandbox);
    assert_eq!(std::fs::read_dir(sandbox).unwrap().count(), 1);
}

#[test]
fn max_entries_refuses_the_image() {
    let mut layer = Layer::new();
    for i in 0..10 {
        layer = layer.file(&format!("f{i}"), b"");
    }
    let limits = Limits {
        max_entries: 5,
        ..Limits::default()
    };
    let err = MergedFs::from_layers(
        &MemorySource::new(vec![layer.finish()]),
        &all,
        &limits,
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ImageOversized, "{err}");
}

#[test]
fn max_entries_counts_implied_directories() {
    // 40 nested directories in one name that still fits a plain 100-byte tar name field.
    let deep = ["d"; 40].join("/");
    let limits = Limits {
        max_entries: 20,
        ..Limits::default()
    };
    let err = MergedFs::from_layers(
        &MemorySource::new(vec![Layer::new().file(&format!("{deep}/f"), b"").finish()]),
        &all,
        &limits,
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ImageOversized, "{err}");
}

#[test]
fn files_over_max_captured_file_are_not_captured() {
    let limits = Limits {
        max_captured_file: 10,
        ..Limits::default()
    };
    let fs = MergedFs::from_layers(
        &MemorySource::new(vec![Layer::new()
            .file("big", &[b'x'; 100])
            .file("small", b"ok")
            .finish()]),
        &all,
        &limits,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(fs.metadata(&p("big")).unwrap().size, 100);
    assert_eq!(
        fs.open(&p("big")).err().unwrap().kind(),
        std::io::ErrorKind::NotFound
    );
    assert_eq!(read(&fs, "small"), "ok");
    assert_eq!(fs.diagnostics().len(), 1);
    assert_eq!(fs.diagnostics()[0].code, ErrorCode::ImageOversized);
}

#[test]
fn only_wanted_files_are_captured() {
    let wants = |p: &ImagePath, _: &FileMeta| p.as_str().ends_with("METADATA");
    let fs = MergedFs::from_layers(
        &MemorySource::new(vec![Layer::new()
            .file("site/a-1.0.dist-info/METADATA", b"Name: a")
            .file("site/a/__init__.py", b"")
            .finish()]),
        &wants,
        &Limits::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(read(&fs, "site/a-1.0.dist-info/METADATA"), "Name: a");
    assert!(fs.open(&p("site/a/__init__.py")).is_err());
    assert!(fs.metadata(&p("site/a/__init__.py")).is_some());
}

#[test]
fn glob_finds_distributions_at_any_depth() {
    let fs = merge(vec![Layer::new()
        .file(
            "usr/lib/python3/dist-packages/six-1.16.dist-info/METADATA",
            b"",
        )
        .file(
            "usr/local/lib/python3.11/site-packages/urllib3-1.26.18.dist-info/METADATA",
            b"",
        )
        .file(
            "usr/local/lib/python3.11/site-packages/urllib3-1.26.18.dist-info/RECORD",
            b"",
        )
        .file("METADATA", b"")
        .finish()]);
    let found: Vec<&str> = fs
        .glob("**/*.dist-info/METADATA")
        .unwrap()
        .into_iter()
        .map(|(p, _)| p.as_str())
        .collect();
    assert_eq!(
        found,
        [
            "usr/lib/python3/dist-packages/six-1.16.dist-info/METADATA",
            "usr/local/lib/python3.11/site-packages/urllib3-1.26.18.dist-info/METADATA",
        ]
    );
    assert_eq!(fs.glob("/METADATA").unwrap().len(), 1);
    assert!(fs.glob("a[").is_err());
}

#[test]
fn layers_report_measured_sizes_and_progress_reaches_the_end() {
    let tars = vec![
        Layer::new().file("a", &[1u8; 3000]).finish(),
        Layer::new().file("b", b"b").finish(),
    ];
    let mut reports: Vec<Progress> = Vec::new();
    let fs = MergedFs::from_layers(
        &MemorySource::new(tars.clone()),
        &all,
        &Limits::default(),
        &mut |p| reports.push(p),
    )
    .unwrap();
    for (i, tar) in tars.iter().enumerate() {
        let info = &fs.layers()[i];
        assert_eq!(info.index, i);
        assert_eq!(info.unpacked_size, tar.len() as u64);
        // No diff id in the descriptor: the merge hashed the uncompressed stream itself.
        assert_eq!(info.diff_id, sha256(tar));
        let last = reports.iter().rfind(|r| r.layer == i).unwrap();
        assert_eq!(last.bytes_read, tar.len() as u64);
        assert_eq!(last.layer_count, 2);
    }
}

#[test]
fn an_error_at_the_end_of_a_layer_stream_fails_the_merge() {
    // Sources check digests when the stream ends, so the merge must read every layer to its
    // end (past the tar's end-of-archive blocks) and pass the error on unchanged.
    let source =
        MemorySource::new(vec![Layer::new().file("a", b"a").finish()]).failing_at_end(0, || {
            ImageError::DigestMismatch {
                what: "layer 0".into(),
                expected: "sha256:aa".into(),
                actual: "sha256:bb".into(),
            }
        });
    let err = MergedFs::from_layers(&source, &all, &Limits::default(), &mut |_| {}).unwrap_err();
    assert_eq!(err.code(), ErrorCode::DigestMismatch, "{err}");
}

#[test]
fn a_truncated_layer_is_corrupt() {
    let mut tar = Layer::new().file("a", &[7u8; 2000]).finish();
    tar.truncate(1024);
    let err = MergedFs::from_layers(
        &MemorySource::new(vec![tar]),
        &all,
        &Limits::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::CorruptLayer, "{err}");
}

/// Records what a secret scanner would see.
#[derive(Default)]
struct Seen(Vec<(usize, String, Option<String>, String)>);

impl LayerVisitor for Seen {
    fn visit(&mut self, entry: &LayerEntry<'_>, content: &mut dyn Read) {
        let mut body = String::new();
        let _ = content.read_to_string(&mut body);
        self.0.push((
            entry.layer,
            entry.path.as_str().to_owned(),
            entry.placed_at.map(|p| p.as_str().to_owned()),
            body,
        ));
    }
}

#[test]
fn visitor_sees_files_that_a_later_layer_deletes() {
    let wants = |p: &ImagePath, _: &FileMeta| p.as_str() == "etc/app.conf";
    let mut seen = Seen::default();
    let fs = MergeOptions::new(&wants, &Limits::default())
        .visitor(&mut seen)
        .merge(&MemorySource::new(vec![
            Layer::new()
                .file("root/.aws/credentials", b"aws_secret_access_key=abc")
                .file("etc/app.conf", b"password=hunter2")
                .finish(),
            Layer::new().file("root/.aws/.wh.credentials", b"").finish(),
        ]))
        .unwrap();
    assert!(fs.metadata(&p("root/.aws/credentials")).is_none());
    assert_eq!(
        seen.0,
        [
            (
                0,
                "root/.aws/credentials".to_owned(),
                Some("root/.aws/credentials".to_owned()),
                "aws_secret_access_key=abc".to_owned()
            ),
            // A captured file is shown from its sandbox copy, with the same bytes.
            (
                0,
                "etc/app.conf".to_owned(),
                Some("etc/app.conf".to_owned()),
                "password=hunter2".to_owned()
            ),
        ]
    );
}

#[test]
fn read_dir_lists_children_in_name_order() {
    let fs = merge(vec![Layer::new()
        .file("etc/b", b"")
        .file("etc/a-x/deep", b"")
        .file("etc/a", b"")
        .file("etc.d", b"")
        .finish()]);
    assert_eq!(
        fs.read_dir(&p("etc")),
        [p("etc/a"), p("etc/a-x"), p("etc/b")]
    );
    assert_eq!(fs.read_dir(&ImagePath::root()), [p("etc"), p("etc.d")]);
}
