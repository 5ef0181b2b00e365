//! PHP packages installed by Composer: `composer.lock` (`packages` and `packages-dev`) and
//! `vendor/composer/installed.json` (Composer 1's top-level array, Composer 2's
//! `{"packages": [...]}`). Versions are reported as Composer records them (`v5.4.2`, `1.0.0`).

use serde_json::Value;

use crowsnest_model::{Ecosystem, FileKind, FileMeta, ImagePath, Package};

use crate::language::{location, read_text};
use crate::{CatalogContext, CatalogError, Cataloger, FileInput};

/// The cataloger's name.
pub const NAME: &str = "language/php";

/// Finds Composer packages.
#[derive(Clone, Copy, Debug, Default)]
pub struct ComposerCataloger;

impl Cataloger for ComposerCataloger {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> u32 {
        1
    }

    fn wants(&self, path: &ImagePath, meta: &FileMeta) -> bool {
        meta.kind == FileKind::Regular
            && (path.file_name() == "composer.lock"
                || path.as_str().ends_with("vendor/composer/installed.json"))
    }

    fn catalog(
        &self,
        mut file: FileInput<'_>,
        cx: &CatalogContext<'_>,
    ) -> Result<Vec<Package>, CatalogError> {
        let text = read_text(&mut file, cx)?;
        let doc: Value = serde_json::from_str(&text)
            .map_err(|e| CatalogError::malformed(file.path, e.to_string()))?;
        let loc = location(&file);
        let lists: Vec<&Value> = match &doc {
            Value::Array(_) => vec![&doc],
            Value::Object(o) => ["packages", "packages-dev"]
                .iter()
                .filter_map(|k| o.get(*k))
                .collect(),
            _ => Vec::new(),
        };
        Ok(lists
            .into_iter()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|p| {
                let name = p.get("name")?.as_str()?;
                let version = p.get("version")?.as_str()?;
                let mut pkg = Package::new(Ecosystem::Composer, name, version, loc.clone(), NAME);
                pkg.licenses = match p.get("license") {
                    Some(Value::Array(l)) => l
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                    Some(Value::String(s)) => vec![s.clone()],
                    _ => Vec::new(),
                };
                Some(pkg)
            })
            .collect())
    }
}
