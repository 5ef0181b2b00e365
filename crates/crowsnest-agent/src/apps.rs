//! Application detection (Huawei's `app_name`): which server software an image runs, from
//! the packages its inventory lists and the binaries the catalogers found.
//!
//! Three sources, each a table here so that what is recognised is greppable:
//! - OS packages (dpkg, apk, rpm) of well-known servers: `nginx`, `mysql-server`,
//!   `redis-server`, `postgresql-15`, … → the application, at the package's version;
//! - language packages that are applications or application frameworks (`django`, `flask`,
//!   `express`, `spring-boot`, `tomcat-embed-core`, …), and any Maven package (a jar) makes
//!   the image a `java` application;
//! - Go binaries (the Go cataloger reads their build info): each binary is an application
//!   named after its file, and the toolchain makes it a `go` application.

use std::collections::BTreeSet;

use crowsnest_model::{Ecosystem, Inventory};
use serde::{Deserialize, Serialize};

/// An application found in an image.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct App {
    /// Name (`nginx`, `mysql`, `java`).
    pub name: String,
    /// Version ('' when unknown).
    pub version: String,
}

/// OS package name (exact, or prefix when it ends in `-`) → application.
const OS_PACKAGES: &[(&str, &str)] = &[
    ("nginx", "nginx"),
    ("nginx-core", "nginx"),
    ("nginx-full", "nginx"),
    ("nginx-light", "nginx"),
    ("openresty", "openresty"),
    ("apache2", "apache"),
    ("httpd", "apache"),
    ("mysql-server", "mysql"),
    ("mysql-server-", "mysql"),
    ("mysql-community-server", "mysql"),
    ("mariadb-server", "mariadb"),
    ("mariadb-server-", "mariadb"),
    ("postgresql-", "postgresql"),
    ("postgresql-server", "postgresql"),
    ("postgresql", "postgresql"),
    ("redis", "redis"),
    ("redis-server", "redis"),
    ("memcached", "memcached"),
    ("mongodb-org-server", "mongodb"),
    ("rabbitmq-server", "rabbitmq"),
    ("haproxy", "haproxy"),
    ("tomcat", "tomcat"),
    ("tomcat9", "tomcat"),
    ("tomcat10", "tomcat"),
    ("openssh-server", "sshd"),
    ("php-fpm", "php-fpm"),
    ("php", "php"),
    ("nodejs", "nodejs"),
    ("python3", "python"),
    ("openjdk-17-jre-headless", "java"),
    ("openjdk-11-jre-headless", "java"),
    ("openjdk-17-jdk-headless", "java"),
    ("openjdk-21-jre-headless", "java"),
    ("openjdk", "java"),
    ("java-17-openjdk-headless", "java"),
    ("java-11-openjdk-headless", "java"),
    ("elasticsearch", "elasticsearch"),
    ("zookeeper", "zookeeper"),
    ("squid", "squid"),
    ("varnish", "varnish"),
    ("bind9", "bind"),
];

/// Language package (lower-case name) → application.
const LANGUAGE_PACKAGES: &[(Ecosystem, &str, &str)] = &[
    (Ecosystem::Pypi, "django", "django"),
    (Ecosystem::Pypi, "flask", "flask"),
    (Ecosystem::Pypi, "fastapi", "fastapi"),
    (Ecosystem::Pypi, "gunicorn", "gunicorn"),
    (Ecosystem::Pypi, "uvicorn", "uvicorn"),
    (Ecosystem::Pypi, "tornado", "tornado"),
    (Ecosystem::Npm, "express", "express"),
    (Ecosystem::Npm, "koa", "koa"),
    (Ecosystem::Npm, "next", "nextjs"),
    (Ecosystem::Npm, "@nestjs/core", "nestjs"),
    (
        Ecosystem::Maven,
        "org.springframework.boot:spring-boot",
        "spring-boot",
    ),
    (
        Ecosystem::Maven,
        "org.apache.tomcat.embed:tomcat-embed-core",
        "tomcat",
    ),
    (Ecosystem::Maven, "org.eclipse.jetty:jetty-server", "jetty"),
    (Ecosystem::Maven, "log4j:log4j", "log4j"),
    (
        Ecosystem::Maven,
        "org.apache.logging.log4j:log4j-core",
        "log4j",
    ),
];

fn os_app(name: &str) -> Option<&'static str> {
    OS_PACKAGES.iter().find_map(|(pkg, app)| {
        let hit = if let Some(prefix) = pkg.strip_suffix('-') {
            name.strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|rest| rest.chars().next().is_some_and(|c| c.is_ascii_digit()))
        } else {
            name == *pkg
        };
        hit.then_some(*app)
    })
}

/// The applications `inventory` shows, sorted, one per name and version.
pub fn detect(inventory: &Inventory) -> Vec<App> {
    let mut apps = BTreeSet::new();
    let mut add = |name: &str, version: &str| {
        apps.insert(App {
            name: name.to_owned(),
            version: version.to_owned(),
        });
    };
    for p in &inventory.packages {
        let lower = p.name.to_ascii_lowercase();
        match p.ecosystem {
            Ecosystem::Deb | Ecosystem::Apk | Ecosystem::Rpm => {
                if let Some(app) = os_app(&lower) {
                    add(app, &p.version);
                }
            }
            // Every Go binary lists the standard library once: that entry names the binary
            // (an application of its own, named after its file) and its toolchain.
            Ecosystem::Golang if p.name == "stdlib" => {
                add("go", p.version.trim_start_matches("go"));
                if let Some(file) = p.location.rsplit('/').next().filter(|f| !f.is_empty()) {
                    add(file, "");
                }
            }
            Ecosystem::Golang => {}
            ref eco => {
                if matches!(eco, Ecosystem::Maven) {
                    add("java", "");
                }
                for (e, pkg, app) in LANGUAGE_PACKAGES {
                    if e == eco && *pkg == lower {
                        add(app, &p.version);
                    }
                }
            }
        }
    }
    apps.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_package_names_match_their_prefix_only() {
        assert_eq!(os_app("postgresql-15"), Some("postgresql"));
        assert_eq!(os_app("postgresql-common"), None);
        assert_eq!(os_app("mysql-server-8.0"), Some("mysql"));
        assert_eq!(os_app("nginx"), Some("nginx"));
        assert_eq!(os_app("libnginx-mod-http-geoip"), None);
        assert_eq!(os_app("redis-tools"), None);
    }
}
