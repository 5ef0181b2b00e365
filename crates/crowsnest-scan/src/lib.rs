//! The scan engine: from an image reference (or a root directory) to an [`Inventory`].
//!
//! It owns no parsing of its own. It asks every cataloger which files it wants, lets the image
//! crate stream the layers once and keep just those files, detects the operating system, hands
//! each kept file to the catalogers that asked for it, and then does the two things no single
//! cataloger can: it attributes each package to the layer that introduced it, and it fills in
//! package URLs. A cataloger's failure on one file becomes a [`Diagnostic`]; only a failure to
//! read the image itself ends the scan.
//!
//! With risk analyzers configured ([`Scanner::with_risk`]), the same single pass also feeds
//! every layer's files to the secret and malware analyzers (a file a later layer deletes still
//! ships), keeps the few merged-view files the baseline checks read, and runs those checks on
//! the merged view and image config: [`Scanner::scan_image_full`] returns both the inventory
//! and the [`RiskFinding`]s.

mod attribution;

use std::collections::BTreeSet;
use std::path::Path;

use crowsnest_catalog::{os_release, CatalogContext, Cataloger, FileInput};
use crowsnest_image::merge::{LayerEntry, LayerVisitor, MergeOptions, Progress};
use crowsnest_image::{ImageError, Limits, MergedFs};
use crowsnest_model::{
    purl_for, Diagnostic, Distro, ErrorCode, FileKind, FileMeta, ImageFs, ImagePath, Inventory,
    Package, RiskFinding, SourceInfo, SourceKind,
};
use crowsnest_risk::{BaselineInput, ContentPass, LayerFile, LayerRisk, RiskAnalyzers};

/// Why a scan could not produce an inventory.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The image could not be read.
    #[error(transparent)]
    Image(#[from] ImageError),
}

impl ScanError {
    /// The stable error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ScanError::Image(e) => e.code(),
        }
    }
}

/// What a scan reports while it runs, for progress bars.
#[derive(Clone, Debug)]
pub enum ScanProgress {
    /// The image is open.
    Started {
        /// How many layers will be read.
        layers: usize,
        /// Sum of the layers' stored (compressed) sizes.
        total_bytes: u64,
    },
    /// A layer is being read.
    Layer {
        /// Its index, 0 for the base.
        index: usize,
        /// Uncompressed bytes of it read so far.
        bytes_read: u64,
    },
    /// All layers are read; catalogers are running.
    Cataloging,
}

/// What a scan found: the inventory, and the risk findings of the configured analyzers.
#[derive(Debug)]
pub struct ScanOutput {
    /// Packages and image metadata.
    pub inventory: Inventory,
    /// Baseline, secret and malware findings, each with its layer's diff id where it has a file.
    pub risks: Vec<RiskFinding>,
}

/// The scan engine, configured once and used for many scans.
pub struct Scanner {
    catalogers: Vec<Box<dyn Cataloger>>,
    risk: RiskAnalyzers,
    limits: Limits,
    max_in_memory: u64,
}

/// Feeds every layer entry to the content analyzers while the layers stream.
struct RiskVisitor<'a> {
    pass: ContentPass<'a>,
}

impl LayerVisitor for RiskVisitor<'_> {
    fn visit(&mut self, entry: &LayerEntry<'_>, content: &mut dyn std::io::Read) {
        self.pass.visit(
            LayerFile {
                layer: entry.layer,
                path: entry.placed_at.unwrap_or(entry.path),
                meta: entry.meta,
            },
            content,
        );
    }
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new(Limits::default())
    }
}

impl Scanner {
    /// A scanner with every registered cataloger and the given limits.
    pub fn new(limits: Limits) -> Self {
        Scanner {
            catalogers: crowsnest_catalog::all(),
            risk: RiskAnalyzers::none(),
            limits,
            max_in_memory: 64 << 20,
        }
    }

    /// Runs these risk analyzers too (by default none run).
    pub fn with_risk(mut self, risk: RiskAnalyzers) -> Self {
        self.risk = risk;
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether any cataloger (or OS detection) wants this file kept while streaming.
    fn wants(&self, path: &ImagePath, meta: &FileMeta) -> bool {
        meta.kind == FileKind::Regular
            && (os_release::wants(path)
                || self.risk.wants_merged(path, meta)
                || self.catalogers.iter().any(|c| c.wants(path, meta)))
    }

    /// Scans an image named by `reference` (a path to an OCI layout, oci-archive or
    /// docker-archive, optionally with `:tag`) for its inventory.
    pub fn scan_image(
        &self,
        reference: &str,
        progress: &mut dyn FnMut(ScanProgress),
    ) -> Result<Inventory, ScanError> {
        self.scan_image_full(reference, progress)
            .map(|o| o.inventory)
    }

    /// Scans an image for its inventory and, with the configured risk analyzers, its risks.
    pub fn scan_image_full(
        &self,
        reference: &str,
        progress: &mut dyn FnMut(ScanProgress),
    ) -> Result<ScanOutput, ScanError> {
        let source = crowsnest_image::open_source(reference, &self.limits)?;
        self.scan_source_full(source.as_ref(), progress)
    }

    /// Scans an already opened image source (a registry image from `crowsnest-registry`, or
    /// any other [`crowsnest_image::ImageSource`]) for its inventory; its layers are streamed
    /// once.
    pub fn scan_source(
        &self,
        source: &dyn crowsnest_image::ImageSource,
        progress: &mut dyn FnMut(ScanProgress),
    ) -> Result<Inventory, ScanError> {
        self.scan_source_full(source, progress).map(|o| o.inventory)
    }

    /// Scans an opened image source for its inventory and, with the configured risk
    /// analyzers, its risks.
    pub fn scan_source_full(
        &self,
        source: &dyn crowsnest_image::ImageSource,
        progress: &mut dyn FnMut(ScanProgress),
    ) -> Result<ScanOutput, ScanError> {
        let reference = source.info().reference.clone();
        let total_bytes = source.layers().iter().map(|l| l.size).sum();
        progress(ScanProgress::Started {
            layers: source.layers().len(),
            total_bytes,
        });
        let span = tracing::info_span!("scan", image = %reference);
        let _enter = span.enter();
        let wants = |p: &ImagePath, m: &FileMeta| self.wants(p, m);
        let mut on_progress = |p: Progress| {
            progress(ScanProgress::Layer {
                index: p.layer,
                bytes_read: p.bytes_read,
            })
        };
        let mut visitor = RiskVisitor {
            pass: self.risk.content_pass(),
        };
        let mut options = MergeOptions::new(&wants, &self.limits).progress(&mut on_progress);
        let analyze_content = self.risk.kinds().iter().any(|k| {
            matches!(
                k,
                crowsnest_model::RiskKind::Secret | crowsnest_model::RiskKind::Malware
            )
        });
        if analyze_content {
            options = options.visitor(&mut visitor);
        }
        let fs = options.merge(source)?;
        progress(ScanProgress::Cataloging);
        let inventory = self.inventory(&fs, source.info().clone(), source.config().cloned());
        let risks = self.risks(&fs, &inventory, visitor.pass.finish());
        Ok(ScanOutput { inventory, risks })
    }

    /// Scans a plain directory holding a root filesystem (`--rootfs`) for its inventory.
    pub fn scan_rootfs(&self, dir: &Path) -> Result<Inventory, ScanError> {
        self.scan_rootfs_full(dir).map(|o| o.inventory)
    }

    /// Scans a root directory for its inventory and risks. Content analyzers read the files
    /// in place (there is one "layer").
    pub fn scan_rootfs_full(&self, dir: &Path) -> Result<ScanOutput, ScanError> {
        let span = tracing::info_span!("scan", rootfs = %dir.display());
        let _enter = span.enter();
        let wants = |p: &ImagePath, m: &FileMeta| self.wants(p, m) || self.risk.wants_content(p, m);
        let fs = MergedFs::from_rootfs(dir, &wants, &self.limits)?;
        let info = SourceInfo {
            kind: SourceKind::Rootfs,
            reference: dir.display().to_string(),
            image_id: None,
            manifest_digest: None,
            tags: Vec::new(),
            architecture: None,
            os: None,
        };
        let inventory = self.inventory(&fs, info, None);
        let mut pass = self.risk.content_pass();
        for (path, meta) in fs.entries() {
            if !self.risk.wants_content(path, meta) {
                continue;
            }
            match fs.open(path) {
                Ok(mut reader) => pass.visit(
                    LayerFile {
                        layer: 0,
                        path,
                        meta,
                    },
                    &mut reader,
                ),
                Err(e) => tracing::debug!(path = %path, error = %e, "not analyzed"),
            }
        }
        let risks = self.risks(&fs, &inventory, pass.finish());
        Ok(ScanOutput { inventory, risks })
    }

    /// Runs the baseline checks and names the layer of each content finding.
    fn risks(
        &self,
        fs: &MergedFs,
        inventory: &Inventory,
        content: Vec<LayerRisk>,
    ) -> Vec<RiskFinding> {
        let mut risks = self.risk.baseline(&BaselineInput {
            fs,
            config: inventory.config.as_ref(),
            source: &inventory.source,
            layers: &inventory.layers,
        });
        risks.extend(content.into_iter().map(|r| RiskFinding {
            layer: inventory.layers.get(r.layer).map(|l| l.diff_id.clone()),
            ..r.finding
        }));
        risks
    }

    /// Scans any read-only filesystem view (a VM disk's root filesystem, for one): OS
    /// detection and every cataloger, as for an image, without layer attribution (a
    /// filesystem has one layer). The view's own problems go in `diagnostics`.
    pub fn scan_fs(
        &self,
        fs: &dyn ImageFs,
        source: SourceInfo,
        diagnostics: Vec<Diagnostic>,
    ) -> Inventory {
        let span = tracing::info_span!("scan", fs = %source.reference);
        let _enter = span.enter();
        let distro = os_release::detect(fs);
        let (packages, catalog_diagnostics) = self.catalog_all(fs, None, distro.as_ref());
        let mut all = diagnostics;
        all.extend(catalog_diagnostics);
        Inventory {
            source,
            distro,
            layers: Vec::new(),
            config: None,
            packages,
            diagnostics: all,
        }
    }

    /// Scans a read-only filesystem view for its inventory ([`Scanner::scan_fs`]) and, with
    /// the configured risk analyzers, its risks: the baseline checks over the view, and the
    /// content analyzers over every file they want, read in place (a filesystem is one
    /// "layer", so findings name none).
    pub fn scan_fs_full(
        &self,
        fs: &dyn ImageFs,
        source: SourceInfo,
        diagnostics: Vec<Diagnostic>,
    ) -> ScanOutput {
        let inventory = self.scan_fs(fs, source, diagnostics);
        let mut pass = self.risk.content_pass();
        if self.risk.kinds().iter().any(|k| {
            matches!(
                k,
                crowsnest_model::RiskKind::Secret | crowsnest_model::RiskKind::Malware
            )
        }) {
            for (path, meta) in fs.entries() {
                if !self.risk.wants_content(path, meta) {
                    continue;
                }
                match fs.open(path) {
                    Ok(mut reader) => pass.visit(
                        LayerFile {
                            layer: 0,
                            path,
                            meta,
                        },
                        &mut reader,
                    ),
                    Err(e) => tracing::debug!(path = %path, error = %e, "not analyzed"),
                }
            }
        }
        let mut risks = self.risk.baseline(&BaselineInput {
            fs,
            config: inventory.config.as_ref(),
            source: &inventory.source,
            layers: &inventory.layers,
        });
        risks.extend(pass.finish().into_iter().map(|r| r.finding));
        ScanOutput { inventory, risks }
    }

    /// Runs OS detection and the catalogers over a merged view and assembles the inventory.
    fn inventory(
        &self,
        fs: &MergedFs,
        source: SourceInfo,
        config: Option<crowsnest_model::ImageConfigSummary>,
    ) -> Inventory {
        let distro = os_release::detect(fs);
        let layers = fs.layers().to_vec();
        let mut diagnostics: Vec<Diagnostic> = fs.diagnostics().to_vec();
        let (packages, catalog_diagnostics) = self.catalog_all(fs, Some(fs), distro.as_ref());
        diagnostics.extend(catalog_diagnostics);
        Inventory {
            source,
            distro,
            layers,
            config,
            packages,
            diagnostics,
        }
    }

    /// Every cataloger over the files it wants in `fs`; with `merged`, each package is also
    /// attributed to the layer that introduced it. Packages come back with purls, sorted.
    fn catalog_all(
        &self,
        fs: &dyn ImageFs,
        merged: Option<&MergedFs>,
        distro: Option<&Distro>,
    ) -> (Vec<Package>, Vec<Diagnostic>) {
        let mut diagnostics = Vec::new();
        let mut packages = Vec::new();
        let layers = merged.map(|m| m.layers().to_vec()).unwrap_or_default();
        let wanted: Vec<(ImagePath, FileMeta)> = fs
            .entries()
            .filter(|(_, m)| m.kind == FileKind::Regular)
            .map(|(p, m)| (p.clone(), m.clone()))
            .collect();
        for cataloger in &self.catalogers {
            let span = tracing::debug_span!("cataloger", name = cataloger.name());
            let _enter = span.enter();
            for (path, meta) in &wanted {
                if !cataloger.wants(path, meta) {
                    continue;
                }
                match self.catalog_file(cataloger.as_ref(), fs, path, meta, distro) {
                    Ok(mut found) => {
                        if let Some(merged) = merged {
                            attribution::attribute_layers(
                                &mut found,
                                path,
                                meta,
                                merged,
                                &layers,
                                |older| {
                                    self.catalog_version(
                                        cataloger.as_ref(),
                                        merged,
                                        path,
                                        meta,
                                        older,
                                        distro,
                                    )
                                },
                            );
                        }
                        packages.extend(found);
                    }
                    Err(e) => diagnostics.push(Diagnostic {
                        code: ErrorCode::CatalogFailed,
                        message: format!("{}: {e}", cataloger.name()),
                        path: Some(path.to_string()),
                    }),
                }
            }
        }
        finish_packages(&mut packages, distro);
        (packages, diagnostics)
    }

    fn catalog_file(
        &self,
        cataloger: &dyn Cataloger,
        fs: &dyn ImageFs,
        path: &ImagePath,
        meta: &FileMeta,
        distro: Option<&Distro>,
    ) -> Result<Vec<Package>, crowsnest_catalog::CatalogError> {
        let mut reader = fs
            .open(path)
            .map_err(|e| crowsnest_catalog::CatalogError::io(path, e))?;
        let cx = CatalogContext {
            fs,
            distro,
            max_in_memory: self.max_in_memory,
        };
        let mut found = cataloger.catalog(
            FileInput {
                path,
                meta,
                reader: &mut *reader,
            },
            &cx,
        )?;
        for p in &mut found {
            p.found_by = cataloger.name().to_owned();
        }
        Ok(found)
    }

    /// Catalogs an older layer's version of `path`, for layer attribution. Failures count as
    /// "no packages there", which attributes to the later layer: the conservative answer.
    fn catalog_version(
        &self,
        cataloger: &dyn Cataloger,
        fs: &MergedFs,
        path: &ImagePath,
        meta: &FileMeta,
        version: &crowsnest_image::merge::CapturedVersion<'_>,
        distro: Option<&Distro>,
    ) -> BTreeSet<(String, String)> {
        let Ok(mut reader) = version.open() else {
            return BTreeSet::new();
        };
        let cx = CatalogContext {
            fs,
            distro,
            max_in_memory: self.max_in_memory,
        };
        let meta = FileMeta {
            size: version.size,
            layer: version.layer,
            ..meta.clone()
        };
        cataloger
            .catalog(
                FileInput {
                    path,
                    meta: &meta,
                    reader: &mut reader,
                },
                &cx,
            )
            .map(|pkgs| pkgs.into_iter().map(|p| (p.name, p.version)).collect())
            .unwrap_or_default()
    }
}

/// Fills purls and sorts packages into their documented order.
fn finish_packages(packages: &mut [Package], distro: Option<&Distro>) {
    for p in packages.iter_mut() {
        p.purl = purl_for(p, distro);
    }
    packages.sort_by(|a, b| {
        (a.ecosystem, &a.name, &a.version, &a.location).cmp(&(
            b.ecosystem,
            &b.name,
            &b.version,
            &b.location,
        ))
    });
}
