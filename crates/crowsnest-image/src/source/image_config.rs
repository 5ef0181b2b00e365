//! The image config blob (OCI `application/vnd.oci.image.config.v1+json`, Docker
//! `application/vnd.docker.container.image.v1+json`): platform, diff ids, history, and the run
//! settings risk checks look at.

use std::collections::BTreeMap;

use crowsnest_model::{Digest, ImageConfigSummary};
use serde::Deserialize;

use crate::ImageError;

/// What Crowsnest takes from an image config.
#[derive(Debug)]
pub(crate) struct ImageConfig {
    /// `architecture`.
    pub(crate) architecture: Option<String>,
    /// `os`.
    pub(crate) os: Option<String>,
    /// `rootfs.diff_ids`, base layer first.
    pub(crate) diff_ids: Vec<Digest>,
    /// `created_by` of each history entry that made a layer, aligned with `diff_ids`; empty when
    /// the history does not account for exactly one entry per layer (then no layer is labelled
    /// rather than some labelled wrongly).
    pub(crate) layer_created_by: Vec<Option<String>>,
    /// The summary the rest of Crowsnest sees.
    pub(crate) summary: ImageConfigSummary,
}

#[derive(Deserialize)]
struct ConfigJson {
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    config: Option<RunConfig>,
    rootfs: Option<RootFs>,
    #[serde(default)]
    history: Option<Vec<History>>,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    diff_ids: Vec<Digest>,
}

#[derive(Deserialize)]
struct History {
    #[serde(default)]
    created_by: Option<String>,
    #[serde(default)]
    empty_layer: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RunConfig {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    entrypoint: Option<StringList>,
    #[serde(default)]
    cmd: Option<StringList>,
    #[serde(default)]
    exposed_ports: Option<BTreeMap<String, serde::de::IgnoredAny>>,
    #[serde(default)]
    healthcheck: Option<Healthcheck>,
}

/// `Entrypoint`/`Cmd`: a list, though some builders write a single string.
#[derive(Deserialize)]
#[serde(untagged)]
enum StringList {
    List(Vec<String>),
    One(String),
}

impl StringList {
    fn into_vec(self) -> Vec<String> {
        match self {
            StringList::List(v) => v,
            StringList::One(s) => vec![s],
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Healthcheck {
    #[serde(default)]
    test: Option<Vec<String>>,
}

impl ImageConfig {
    /// Parses a config blob (already size-limited and digest-checked).
    pub(crate) fn parse(bytes: &[u8], what: &str) -> Result<Self, ImageError> {
        let json: ConfigJson = serde_json::from_slice(bytes)
            .map_err(|e| ImageError::Invalid(format!("{what}: not an image config: {e}")))?;
        let rootfs = json
            .rootfs
            .ok_or_else(|| ImageError::Invalid(format!("{what}: image config has no rootfs")))?;
        if let Some(kind) = rootfs.kind.as_deref() {
            if kind != "layers" {
                return Err(ImageError::Invalid(format!(
                    "{what}: rootfs type {kind:?} is not \"layers\""
                )));
            }
        }
        let history = json.history.unwrap_or_default();
        let layer_history: Vec<Option<String>> = history
            .iter()
            .filter(|h| h.empty_layer != Some(true))
            .map(|h| h.created_by.clone())
            .collect();
        let layer_created_by = if layer_history.len() == rootfs.diff_ids.len() {
            layer_history
        } else {
            Vec::new()
        };
        let run = json.config;
        let summary = match run {
            Some(run) => ImageConfigSummary {
                user: run.user.unwrap_or_default(),
                env: run.env.unwrap_or_default(),
                entrypoint: run.entrypoint.map(StringList::into_vec).unwrap_or_default(),
                cmd: run.cmd.map(StringList::into_vec).unwrap_or_default(),
                exposed_ports: run
                    .exposed_ports
                    .map(|p| p.into_keys().collect())
                    .unwrap_or_default(),
                has_healthcheck: run.healthcheck.is_some_and(|h| {
                    h.test
                        .as_ref()
                        .and_then(|t| t.first())
                        .is_some_and(|first| first != "NONE")
                }),
                created: None,
                history: Vec::new(),
            },
            None => ImageConfigSummary::default(),
        };
        let summary = ImageConfigSummary {
            created: json.created,
            history: history
                .into_iter()
                .map(|h| h.created_by.unwrap_or_default())
                .collect(),
            ..summary
        };
        Ok(ImageConfig {
            architecture: json.architecture,
            os: json.os,
            diff_ids: rootfs.diff_ids,
            layer_created_by,
            summary,
        })
    }

    /// The `created_by` of layer `index`, when the history lines up with the layers.
    pub(crate) fn created_by(&self, index: usize) -> Option<String> {
        self.layer_created_by.get(index).cloned().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reads_run_settings_and_skips_empty_history() {
        let json = br#"{"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z",
          "config":{"User":"app","Env":["A=1"],"Entrypoint":"/bin/sh","Cmd":null,
            "ExposedPorts":{"8080/tcp":{}},"Healthcheck":{"Test":["NONE"]}},
          "rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]},
          "history":[{"created_by":"ENV A=1","empty_layer":true},{"created_by":"ADD x /"}]}"#;
        let c = ImageConfig::parse(json, "test").unwrap();
        assert_eq!(c.summary.user, "app");
        assert_eq!(c.summary.entrypoint, vec!["/bin/sh"]);
        assert!(c.summary.cmd.is_empty());
        assert_eq!(c.summary.exposed_ports, vec!["8080/tcp"]);
        assert!(!c.summary.has_healthcheck);
        assert_eq!(c.summary.history.len(), 2);
        assert_eq!(c.created_by(0).as_deref(), Some("ADD x /"));
    }

    #[test]
    fn config_without_rootfs_is_invalid() {
        assert!(ImageConfig::parse(br#"{"os":"linux"}"#, "t").is_err());
    }
}
