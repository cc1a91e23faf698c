//! The template catalog: the templates of a directory, loaded by the [`loader`](super::loader)
//! and indexed by `name@version`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::check::CheckContext;

use super::loader;
use super::{Template, TemplateError};

/// Every template of a directory, by name and version.
#[derive(Debug, Clone, Default)]
pub struct TemplateCatalog {
    templates: BTreeMap<String, BTreeMap<semver::Version, Arc<Template>>>,
    /// Why each `name@version` found but not served was left out, by name.
    not_served: BTreeMap<String, Vec<(String, String)>>,
}

impl TemplateCatalog {
    /// Load every `*.wf` below `dir`; any bad template or duplicate fails the whole load.
    pub fn load_dir(dir: &Path) -> Result<Self, TemplateError> {
        let (catalog, mut errors) = Self::load_dir_lenient(dir);
        if errors.is_empty() {
            Ok(catalog)
        } else {
            Err(errors.remove(0))
        }
    }

    /// Load every good `*.wf` below `dir`, and return the errors of the others. Two files
    /// with the same `name@version` are both left out, with a [`TemplateError::Duplicate`].
    pub fn load_dir_lenient(dir: &Path) -> (Self, Vec<TemplateError>) {
        let (loaded, walk_errors) = loader::load_dir(dir, &CheckContext::default());
        let mut errors: Vec<TemplateError> =
            walk_errors.into_iter().map(TemplateError::File).collect();
        let mut first_of: BTreeMap<String, std::path::PathBuf> = BTreeMap::new();
        let mut catalog = TemplateCatalog::default();
        for l in loaded {
            let key = l.key().map(str::to_string);
            let duplicate = l
                .diagnostics
                .iter()
                .any(|d| d.code == loader::DUPLICATE_TEMPLATE);
            let error = if duplicate {
                let key = key.clone().unwrap_or_default();
                let path = l.source.path().to_path_buf();
                match first_of.get(&key) {
                    Some(first) => TemplateError::Duplicate {
                        key,
                        first: first.clone(),
                        second: path,
                    },
                    None => {
                        first_of.insert(key, path);
                        continue;
                    }
                }
            } else {
                match l.into_result() {
                    Ok(t) => match catalog.insert(Arc::new(t)) {
                        Ok(()) => continue,
                        Err(e) => e,
                    },
                    Err(e) => e,
                }
            };
            if let Some((name, version)) = key.as_deref().and_then(|k| k.rsplit_once('@')) {
                catalog
                    .not_served
                    .entry(name.to_string())
                    .or_default()
                    .push((version.to_string(), error.to_string()));
            }
            errors.push(error);
        }
        (catalog, errors)
    }

    /// Add a template; a second template with the same `name@version` is an error.
    pub fn insert(&mut self, template: Arc<Template>) -> Result<(), TemplateError> {
        let version = semver::Version::parse(template.version()).map_err(|e| {
            TemplateError::InvalidReference {
                reference: template.key(),
                reason: e.to_string(),
            }
        })?;
        let versions = self
            .templates
            .entry(template.name().to_string())
            .or_default();
        if let Some(first) = versions.get(&version) {
            return Err(TemplateError::Duplicate {
                key: template.key(),
                first: first.path().to_path_buf(),
                second: template.path().to_path_buf(),
            });
        }
        versions.insert(version, template);
        Ok(())
    }

    /// The template `name` in `version`, or (no version) its highest release: the highest
    /// version without a pre-release part, or the highest pre-release if there is no release.
    pub fn get(&self, name: &str, version: Option<&str>) -> Result<&Arc<Template>, TemplateError> {
        self.find(name, version)
            .map_err(|e| self.why_not_served(name, version).unwrap_or(e))
    }

    /// A template asked for but not found, whose file was found and left out: why.
    fn why_not_served(&self, name: &str, version: Option<&str>) -> Option<TemplateError> {
        let wanted = version.map(|v| v.trim_start_matches('v'));
        let (found, reason) = self
            .not_served
            .get(name)?
            .iter()
            .rev()
            .find(|(v, _)| wanted.is_none_or(|w| w == v))?;
        Some(TemplateError::NotServed {
            key: format!("{name}@{found}"),
            reason: reason.clone(),
        })
    }

    fn find(&self, name: &str, version: Option<&str>) -> Result<&Arc<Template>, TemplateError> {
        let versions = self
            .templates
            .get(name)
            .ok_or_else(|| TemplateError::UnknownName { name: name.into() })?;
        let found = match version {
            Some(v) => {
                let wanted = semver::Version::parse(v.trim_start_matches('v')).map_err(|e| {
                    TemplateError::InvalidReference {
                        reference: format!("{name}@{v}"),
                        reason: e.to_string(),
                    }
                })?;
                versions.get(&wanted)
            }
            None => versions
                .iter()
                .rev()
                .find(|(v, _)| v.pre.is_empty())
                .or_else(|| versions.iter().next_back())
                .map(|(_, t)| t),
        };
        found.ok_or_else(|| TemplateError::UnknownVersion {
            name: name.into(),
            version: version.unwrap_or("").into(),
            available: versions.keys().map(ToString::to_string).collect(),
        })
    }

    /// Look up `name` or `name@version`.
    pub fn resolve(&self, reference: &str) -> Result<&Arc<Template>, TemplateError> {
        match reference.split_once('@') {
            Some((name, version)) => self.get(name, Some(version)),
            None => self.get(reference, None),
        }
    }

    /// Every template, by name then ascending version.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Template>> {
        self.templates.values().flat_map(BTreeMap::values)
    }

    /// The number of templates (all versions).
    pub fn len(&self) -> usize {
        self.templates.values().map(BTreeMap::len).sum()
    }

    /// True when no template is loaded.
    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn template(name: &str, version: &str, extra: &str) -> String {
        format!(
            "workflow \"{name}\" version \"{version}\" {{\n{extra}\n  step tell {{\n    action \"notify_only\"\n    with {{ message: \"hi\" }}\n  }}\n}}\n"
        )
    }

    fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn load(path: &Path) -> Result<Template, TemplateError> {
        loader::load_file(path.parent().unwrap(), path, &CheckContext::default()).into_result()
    }

    #[test]
    fn skips_the_hidden_copies_of_a_mounted_configmap() {
        let dir = tempfile::tempdir().unwrap();
        let text = template("oom", "1.0.0", "");
        write(dir.path(), "..2026_11_25_19_00_00.123/oom.wf", &text);
        write(dir.path(), "oom.wf", &text);
        let catalog = TemplateCatalog::load_dir(dir.path()).unwrap();
        assert_eq!(catalog.len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn serves_a_mounted_configmap_through_its_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let data = "..2026_11_25_19_00_00.123";
        write(
            dir.path(),
            &format!("{data}/oom.wf"),
            &template("oom", "1.0.0", "  import \"lib/m.rhai\" as m"),
        );
        write(dir.path(), &format!("{data}/lib/m.rhai"), "fn f() { 1 }");
        std::os::unix::fs::symlink(data, dir.path().join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/oom.wf", dir.path().join("oom.wf")).unwrap();
        std::os::unix::fs::symlink("..data/lib", dir.path().join("lib")).unwrap();
        let catalog = TemplateCatalog::load_dir(dir.path()).unwrap();
        assert_eq!(catalog.len(), 1);
        assert_eq!(catalog.resolve("oom").unwrap().modules.len(), 1);
    }

    #[test]
    fn loads_recursively_and_picks_the_highest_release() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a/oom-v1.wf", &template("oom", "1.0.0", ""));
        write(dir.path(), "a/b/oom-v1-2.wf", &template("oom", "1.2.0", ""));
        write(dir.path(), "oom-v10.wf", &template("oom", "1.10.0", ""));
        write(
            dir.path(),
            "oom-next.wf",
            &template("oom", "2.0.0-rc.1", ""),
        );
        write(
            dir.path(),
            "other.wf",
            &template("other", "0.1.0-alpha", ""),
        );
        write(dir.path(), "notes.txt", "not a template");
        let catalog = TemplateCatalog::load_dir(dir.path()).unwrap();
        assert_eq!(catalog.len(), 5);
        assert_eq!(catalog.get("oom", None).unwrap().version(), "1.10.0");
        assert_eq!(
            catalog.get("oom", Some("1.2.0")).unwrap().version(),
            "1.2.0"
        );
        assert_eq!(
            catalog.resolve("oom@2.0.0-rc.1").unwrap().version(),
            "2.0.0-rc.1"
        );
        assert_eq!(catalog.resolve("other").unwrap().key(), "other@0.1.0-alpha");
        assert!(matches!(
            catalog.get("oom", Some("3.0.0")),
            Err(TemplateError::UnknownVersion { available, .. }) if available.len() == 4
        ));
        assert!(matches!(
            catalog.get("nope", None),
            Err(TemplateError::UnknownName { .. })
        ));
        assert!(matches!(
            catalog.get("oom", Some("latest")),
            Err(TemplateError::InvalidReference { .. })
        ));
    }

    #[test]
    fn digest_covers_source_and_imports() {
        let dir = tempfile::tempdir().unwrap();
        let text = template("oom", "1.0.0", "  import \"lib/m.rhai\" as m");
        let path = write(dir.path(), "oom.wf", &text);
        write(dir.path(), "lib/m.rhai", "fn f() { 1 }");
        let first = load(&path).unwrap();
        assert!(first.digest.starts_with("sha256:"));
        assert_eq!(first.digest.len(), "sha256:".len() + 64);
        assert_eq!(load(&path).unwrap().digest, first.digest, "stable");
        write(dir.path(), "lib/m.rhai", "fn f() { 2 }");
        let changed = load(&path).unwrap();
        assert_ne!(
            changed.digest, first.digest,
            "an import change changes the digest"
        );
        write(dir.path(), "oom.wf", &format!("// comment\n{text}"));
        assert_ne!(load(&path).unwrap().digest, changed.digest);
    }

    /// The attack: a stray file with the same name and version replaced a template, and
    /// nothing said so. Now neither copy is served, and both are named.
    #[test]
    fn a_duplicate_name_and_version_serves_neither_copy() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.wf", &template("oom", "1.0.0", ""));
        write(
            dir.path(),
            "b.wf",
            &template("oom", "1.0.0", "  description \"stray\""),
        );
        write(dir.path(), "c.wf", &template("oom", "1.1.0", ""));
        let err = TemplateCatalog::load_dir(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("oom@1.0.0 is declared twice"), "{text}");
        assert!(text.contains("a.wf") && text.contains("b.wf"), "{text}");
        let (catalog, errors) = TemplateCatalog::load_dir_lenient(dir.path());
        assert_eq!((catalog.len(), errors.len()), (1, 1));
        let asked = catalog.get("oom", Some("1.0.0")).unwrap_err().to_string();
        assert!(
            asked.starts_with("template oom@1.0.0 is not served: oom@1.0.0 is declared twice"),
            "{asked}"
        );
        assert_eq!(catalog.get("oom", None).unwrap().version(), "1.1.0");
    }

    #[test]
    fn imports_must_exist_and_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "outside.rhai", "fn f() { 1 }");
        let escaping = write(
            dir.path(),
            "t/a.wf",
            &template("a", "1.0.0", "  import \"../outside.rhai\" as o"),
        );
        let err = load(&escaping).unwrap_err().to_string();
        assert!(err.contains("[E0116]") && err.contains("leaves"), "{err}");
        let missing = write(
            dir.path(),
            "t/b.wf",
            &template("b", "1.0.0", "  import \"lib/none.rhai\" as n"),
        );
        let err = load(&missing).unwrap_err().to_string();
        assert!(
            err.contains("[E0116]") && err.contains("does not exist"),
            "{err}"
        );
    }

    #[test]
    fn syntax_and_check_errors_fail_with_a_position() {
        let dir = tempfile::tempdir().unwrap();
        let broken = write(
            dir.path(),
            "broken.wf",
            "workflow \"x\" version \"1.0.0\" {\n  oops\n}\n",
        );
        let err = load(&broken).unwrap_err().to_string();
        assert!(err.contains("broken.wf:2:3: error[E0001]"), "{err}");
        let invalid = write(
            dir.path(),
            "invalid.wf",
            &template("x", "1.0.0", "  max_parallel 0"),
        );
        let err = load(&invalid).unwrap_err().to_string();
        assert!(err.contains("invalid.wf:2:16: error[E0119]"), "{err}");
        let warned = write(
            dir.path(),
            "warned.wf",
            &template(
                "w",
                "1.0.0",
                "  step c {\n    action \"cordon_node\"\n    with { node: \"n1\" }\n  }",
            ),
        );
        assert_eq!(load(&warned).unwrap().warnings[0].code, "W0101");
    }
}
