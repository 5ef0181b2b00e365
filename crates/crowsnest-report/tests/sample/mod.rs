//! Scan reports built from realistic data for the renderer tests: the Debian-based `acme-shop`
//! fixture image as the scanner sees it (dpkg, Python, npm, Maven and Go packages) with findings
//! carrying CVSS v3.1 and v4 vectors, and the fixed options that make output deterministic.
//!
//! The CVSS vectors and scores are the published ones for these CVEs' vectors; every optional
//! field of the model is filled somewhere, which the schema drift test relies on.

// Each test binary includes this module and uses a different part of it.
#![allow(dead_code)]

use crowsnest_model::{
    purl_for, CvssScore, DbInfo, Diagnostic, Digest, Distro, Ecosystem, ErrorCode, Finding,
    ImageConfigSummary, Inventory, LayerInfo, Package, RiskFinding, RiskKind, ScanReport,
    ScannerKind, Severity, SourceInfo, SourceKind,
};
use crowsnest_report::RenderOptions;

const LAYER_1: &str = "sha256:8d2c9d1b0a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d";
const LAYER_2: &str = "sha256:1f0e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const LAYER_3: &str = "sha256:a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

fn digest(s: &str) -> Digest {
    s.parse().expect("valid digest literal")
}

/// Options that pin every varying part of the output.
pub fn fixed_options() -> RenderOptions {
    RenderOptions {
        colour: false,
        width: None,
        timestamp: Some(time::macros::datetime!(2026-11-23 09:30:00 UTC)),
        serial: Some(uuid::Uuid::from_u128(
            0x6f1c_2b1e_5d3a_4c7b_9e21_0a4b_8c6d_2f13,
        )),
        tool_version: "0.1.0".into(),
        information_uri: Some("https://example.org/crowsnest".into()),
    }
}

pub fn debian_12() -> Distro {
    Distro {
        id: "debian".into(),
        version_id: Some("12".into()),
        version_codename: Some("bookworm".into()),
        name: Some("Debian GNU/Linux".into()),
        pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
        id_like: vec![],
    }
}

fn pkg(
    eco: Ecosystem,
    name: &str,
    version: &str,
    location: &str,
    found_by: &str,
    layer: &str,
    licenses: &[&str],
) -> Package {
    let mut p = Package::new(eco, name, version, location, found_by);
    p.layer = Some(digest(layer));
    p.licenses = licenses.iter().map(|s| s.to_string()).collect();
    p
}

fn deb(name: &str, version: &str, source: Option<&str>, licenses: &[&str]) -> Package {
    let mut p = pkg(
        Ecosystem::Deb,
        name,
        version,
        "/var/lib/dpkg/status",
        "os/dpkg",
        LAYER_1,
        licenses,
    );
    p.arch = Some("amd64".into());
    p.source_name = source.map(str::to_owned);
    p
}

fn packages(distro: &Distro) -> Vec<Package> {
    const SITE: &str = "/usr/local/lib/python3.11/site-packages";
    let mut libssl = deb(
        "libssl3",
        "3.0.11-1~deb12u2",
        Some("openssl"),
        &["Apache-2.0"],
    );
    libssl.source_version = Some("3.0.11-1~deb12u2".into());
    let mut out = vec![
        deb("bash", "5.2.15-2+b2", None, &["GPL-3.0-or-later"]),
        deb(
            "libc-bin",
            "2.36-9+deb12u1",
            Some("glibc"),
            &["LGPL-2.1-or-later", "GPL-2.0-or-later"],
        ),
        deb(
            "libc6",
            "2.36-9+deb12u1",
            Some("glibc"),
            &["LGPL-2.1-or-later", "GPL-2.0-or-later"],
        ),
        libssl,
        // Debian copyright files use their own short names; this one is not SPDX.
        deb("tzdata", "2024a-0+deb12u1", None, &["public-domain"]),
        deb("zlib1g", "1:1.2.13.dfsg-1", Some("zlib"), &["Zlib"]),
        pkg(
            Ecosystem::Pypi,
            "Django",
            "3.2",
            &format!("{SITE}/Django-3.2.dist-info/METADATA"),
            "language/python",
            LAYER_2,
            &["BSD-3-Clause"],
        ),
        pkg(
            Ecosystem::Pypi,
            "PyYAML",
            "5.3.1",
            &format!("{SITE}/PyYAML-5.3.1.dist-info/METADATA"),
            "language/python",
            LAYER_2,
            &["MIT"],
        ),
        // The same wheel installed twice: the purl repeats, references must not.
        pkg(
            Ecosystem::Pypi,
            "requests",
            "2.25.0",
            &format!("{SITE}/requests-2.25.0.dist-info/METADATA"),
            "language/python",
            LAYER_2,
            &["Apache 2.0"],
        ),
        pkg(
            Ecosystem::Pypi,
            "requests",
            "2.25.0",
            "/opt/venv/lib/python3.11/site-packages/requests-2.25.0.dist-info/METADATA",
            "language/python",
            LAYER_2,
            &["Apache 2.0"],
        ),
        pkg(
            Ecosystem::Npm,
            "lodash",
            "4.17.15",
            "/srv/web/node_modules/lodash/package.json",
            "language/npm",
            LAYER_2,
            &["MIT"],
        ),
        pkg(
            Ecosystem::Npm,
            "minimist",
            "1.2.0",
            "/srv/web/node_modules/minimist/package.json",
            "language/npm",
            LAYER_2,
            &["MIT"],
        ),
        pkg(
            Ecosystem::Npm,
            "@babel/core",
            "7.0.0",
            "/srv/web/node_modules/@babel/core/package.json",
            "language/npm",
            LAYER_2,
            &["MIT OR Apache-2.0"],
        ),
        pkg(
            Ecosystem::Maven,
            "org.yaml:snakeyaml",
            "1.33",
            "/opt/app/lib/snakeyaml-1.33.jar",
            "language/java",
            LAYER_2,
            &["Apache-2.0"],
        ),
        pkg(
            Ecosystem::Maven,
            "log4j:log4j",
            "1.2.17",
            "/opt/app/lib/log4j-1.2.17.jar",
            "language/java",
            LAYER_2,
            &[],
        ),
        // A Go main module built from a local checkout records no version.
        pkg(
            Ecosystem::Golang,
            "example.com/acme/hello",
            "",
            "/opt/app/bin/hello",
            "language/golang",
            LAYER_2,
            &[],
        ),
        pkg(
            Ecosystem::Golang,
            "stdlib",
            "1.19.8",
            "/opt/app/bin/hello",
            "language/golang",
            LAYER_2,
            &["BSD-3-Clause"],
        ),
        pkg(
            Ecosystem::Pypi,
            "urllib3",
            "1.26.18",
            &format!("{SITE}/urllib3-1.26.18.dist-info/METADATA"),
            "language/python",
            LAYER_3,
            &["MIT"],
        ),
    ];
    for p in &mut out {
        p.purl = purl_for(p, Some(distro));
    }
    out.sort_by(|a, b| {
        (a.ecosystem, &a.name, &a.version, &a.location).cmp(&(
            b.ecosystem,
            &b.name,
            &b.version,
            &b.location,
        ))
    });
    out
}

fn cvss31(vector: &str, score: f64) -> CvssScore {
    CvssScore {
        version: "3.1".into(),
        vector: vector.into(),
        base_score: score,
    }
}

const AV_N_ALL_HIGH: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"; // 9.8

fn finding_for(p: &Package, id: &str, severity: Severity, fixed: &[&str]) -> Finding {
    Finding {
        id: id.into(),
        aliases: vec![],
        package_name: p.name.clone(),
        installed_version: p.version.clone(),
        ecosystem: p.ecosystem,
        purl: p.purl.clone(),
        fixed_versions: fixed.iter().map(|s| s.to_string()).collect(),
        severity,
        cvss: vec![],
        summary: None,
        references: vec![],
        location: p.location.clone(),
        layer: p.layer.clone(),
    }
}

fn findings(pkgs: &[Package]) -> Vec<Finding> {
    let by_name = |name: &str| {
        pkgs.iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("sample has no {name}"))
    };
    let mut out = Vec::new();

    let mut f = finding_for(
        by_name("PyYAML"),
        "CVE-2020-14343",
        Severity::Critical,
        &["5.4"],
    );
    f.aliases = vec!["GHSA-8q59-q68h-6hv4".into(), "PYSEC-2021-142".into()];
    f.cvss = vec![cvss31(AV_N_ALL_HIGH, 9.8)];
    f.summary = Some("Improper Input Validation in PyYAML".into());
    f.references = vec![
        "https://nvd.nist.gov/vuln/detail/CVE-2020-14343".into(),
        "https://github.com/yaml/pyyaml/issues/420".into(),
    ];
    out.push(f);

    let mut f = finding_for(
        by_name("minimist"),
        "CVE-2021-44906",
        Severity::Critical,
        &["1.2.6"],
    );
    f.aliases = vec!["GHSA-xvch-5gv4-984h".into()];
    f.cvss = vec![cvss31(AV_N_ALL_HIGH, 9.8)];
    f.summary = Some("Prototype Pollution in minimist".into());
    f.references = vec!["https://github.com/minimistjs/minimist/issues/11".into()];
    out.push(f);

    let mut f = finding_for(
        by_name("org.yaml:snakeyaml"),
        "CVE-2022-1471",
        Severity::High,
        &["2.0"],
    );
    f.aliases = vec!["GHSA-mjmj-j48q-9wg2".into()];
    f.cvss = vec![
        CvssScore {
            version: "4.0".into(),
            vector: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N".into(),
            base_score: 9.3,
        },
        cvss31(AV_N_ALL_HIGH, 9.8),
    ];
    f.summary = Some("SnakeYaml Constructor Deserialization Remote Code Execution".into());
    f.references = vec!["https://bitbucket.org/snakeyaml/snakeyaml/issues/561".into()];
    out.push(f);

    let mut f = finding_for(
        by_name("lodash"),
        "CVE-2020-8203",
        Severity::High,
        &["4.17.19"],
    );
    f.aliases = vec!["GHSA-p6mc-m468-83gw".into()];
    f.cvss = vec![cvss31("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:H", 7.4)];
    f.summary = Some("Prototype Pollution in lodash".into());
    out.push(f);

    let mut f = finding_for(
        by_name("lodash"),
        "CVE-2021-23337",
        Severity::High,
        &["4.17.21"],
    );
    f.aliases = vec!["GHSA-35jh-r3h4-6jhm".into()];
    f.cvss = vec![cvss31("CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", 7.2)];
    f.summary = Some("Command Injection in lodash".into());
    out.push(f);

    // One CVE, two binary packages of the same source package.
    for name in ["libc-bin", "libc6"] {
        let mut f = finding_for(
            by_name(name),
            "CVE-2023-4911",
            Severity::High,
            &["2.36-9+deb12u3"],
        );
        f.cvss = vec![cvss31("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8)];
        f.summary = Some(
            "A buffer overflow was discovered in the GNU C Library's dynamic loader ld.so \
             while processing the GLIBC_TUNABLES environment variable."
                .into(),
        );
        f.references = vec!["https://security-tracker.debian.org/tracker/CVE-2023-4911".into()];
        out.push(f);
    }

    // Rated by the distribution's word only, no CVSS.
    let mut f = finding_for(
        by_name("libssl3"),
        "CVE-2024-0727",
        Severity::Medium,
        &["3.0.13-1~deb12u1"],
    );
    f.summary = Some("PKCS12 Decoding crashes".into());
    out.push(f);

    // The Go database gives neither severity nor score; no fix in the same minor line either.
    let mut f = finding_for(
        by_name("stdlib"),
        "CVE-2023-29403",
        Severity::Unknown,
        &["1.19.10", "1.20.5"],
    );
    f.aliases = vec!["GO-2023-1840".into()];
    f.summary = Some("Unsafe behavior in setuid/setgid binaries in runtime".into());
    out.push(f);

    let mut f = finding_for(by_name("Django"), "GHSA-2gwj-7jmv-h26r", Severity::Low, &[]);
    f.summary = Some("Potential directory traversal via archive.extract()".into());
    out.push(f);

    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.package_name.cmp(&b.package_name))
            .then_with(|| a.id.cmp(&b.id))
    });
    out
}

/// The `acme-shop` image with its packages and findings.
pub fn acme_shop() -> ScanReport {
    let distro = debian_12();
    let packages = packages(&distro);
    let findings = findings(&packages);
    let layer = |index: usize, d: &str, size: u64, created_by: &str| LayerInfo {
        index,
        digest: digest(d),
        diff_id: digest(d),
        size,
        unpacked_size: size * 3,
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        created_by: Some(created_by.into()),
    };
    let inventory = Inventory {
        source: SourceInfo {
            kind: SourceKind::OciArchive,
            reference: "acme-shop.oci.tar:acme-shop".into(),
            image_id: Some(digest(
                "sha256:253b07ca20c93550de8c7a9de4afa9e26eb5142f63797174782b36ab4ba2bcd5",
            )),
            manifest_digest: Some(digest(
                "sha256:9b2a3c1d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
            )),
            tags: vec!["acme-shop".into()],
            architecture: Some("amd64".into()),
            os: Some("linux".into()),
        },
        distro: Some(distro),
        layers: vec![
            layer(
                0,
                LAYER_1,
                31_457_280,
                "debootstrap --variant=minbase bookworm",
            ),
            layer(1, LAYER_2, 8_388_608, "COPY deps / # buildkit"),
            layer(2, LAYER_3, 65_536, "COPY risky/ / # buildkit"),
        ],
        config: Some(ImageConfigSummary {
            user: String::new(),
            env: vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                "DB_PASSWORD=hunter2".into(),
            ],
            entrypoint: vec!["/opt/app/bin/hello".into()],
            cmd: vec!["--serve".into()],
            exposed_ports: vec!["22/tcp".into(), "8080/tcp".into()],
            has_healthcheck: false,
            created: Some("2026-11-20T10:00:00Z".into()),
            history: vec![
                "debootstrap --variant=minbase bookworm".into(),
                "COPY deps / # buildkit".into(),
                "COPY risky/ / # buildkit".into(),
            ],
        }),
        packages,
        diagnostics: vec![
            Diagnostic {
                code: ErrorCode::CatalogFailed,
                message: "METADATA has no Version header".into(),
                path: Some(
                    "/usr/local/lib/python3.11/site-packages/broken-0.dist-info/METADATA".into(),
                ),
            },
            Diagnostic {
                code: ErrorCode::Internal,
                message: "the rpm cataloger was skipped: no rpmdb found".into(),
                path: None,
            },
        ],
    };
    ScanReport::new(
        inventory,
        findings,
        Some(DbInfo {
            updated_at: "2026-11-22T00:00:00Z".into(),
            records: 15_797,
        }),
        ScannerKind::ALL.to_vec(),
        risks(),
    )
}

/// One risk of each kind, filling every optional field between them.
pub fn risks() -> Vec<RiskFinding> {
    let base = |kind: RiskKind, id: &str, title: &str, severity: Severity| RiskFinding {
        kind,
        id: id.into(),
        title: title.into(),
        severity,
        remediation: "Fix it.".into(),
        detail: None,
        path: None,
        line: None,
        layer: None,
        excerpt: None,
    };
    vec![
        RiskFinding {
            detail: Some("USER is not set, so the container runs as root".into()),
            ..base(
                RiskKind::Baseline,
                "CN-BL-001",
                "Image runs as root",
                Severity::Medium,
            )
        },
        RiskFinding {
            detail: Some("account \"backdoor\" has uid 0".into()),
            path: Some("/etc/passwd".into()),
            line: Some(19),
            layer: Some(digest(LAYER_3)),
            ..base(
                RiskKind::Baseline,
                "CN-BL-010",
                "Account other than root with uid 0",
                Severity::High,
            )
        },
        RiskFinding {
            path: Some("/srv/web/.env".into()),
            line: Some(1),
            layer: Some(digest(LAYER_3)),
            excerpt: Some("AWS_ACCESS_KEY_ID=AK*****".into()),
            ..base(
                RiskKind::Secret,
                "aws-access-key-id",
                "AWS access key id",
                Severity::High,
            )
        },
        RiskFinding {
            detail: Some("YARA rule webshells.php_webshell_exec_request".into()),
            path: Some("/var/www/html/shell.php".into()),
            layer: Some(digest(LAYER_3)),
            ..base(
                RiskKind::Malware,
                "php_webshell_exec_request",
                "PHP webshell: request input executed as code or command",
                Severity::High,
            )
        },
    ]
}

/// The same image scanned for an SBOM only: no database, no findings.
pub fn acme_shop_sbom_only() -> ScanReport {
    let r = acme_shop();
    ScanReport::new(r.inventory, Vec::new(), None, Vec::new(), Vec::new())
}

/// A root filesystem of an Ubuntu host: no layers, no image id, no config; `ID_LIKE` set.
pub fn ubuntu_rootfs() -> ScanReport {
    let distro = Distro {
        id: "ubuntu".into(),
        version_id: Some("22.04".into()),
        version_codename: Some("jammy".into()),
        name: Some("Ubuntu".into()),
        pretty_name: Some("Ubuntu 22.04.4 LTS".into()),
        id_like: vec!["debian".into()],
    };
    let mut bash = Package::new(
        Ecosystem::Deb,
        "bash",
        "5.1-6ubuntu1.1",
        "/var/lib/dpkg/status",
        "os/dpkg",
    );
    bash.arch = Some("amd64".into());
    bash.purl = purl_for(&bash, Some(&distro));
    let inventory = Inventory {
        source: SourceInfo {
            kind: SourceKind::Rootfs,
            reference: "/srv/hosts/web-01".into(),
            image_id: None,
            manifest_digest: None,
            tags: vec![],
            architecture: None,
            os: None,
        },
        distro: Some(distro),
        layers: vec![],
        config: None,
        packages: vec![bash],
        diagnostics: vec![],
    };
    ScanReport::new(inventory, vec![], None, vec![ScannerKind::Vuln], vec![])
}
