//! `import "PATH" as ALIAS`: reading a template's rhai modules from beside it.
//!
//! Modules are read once, when the template loads; scripts resolve them from memory and
//! never touch the file system. A path must stay inside the template's directory.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Why an import could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The path is absolute or climbs out of the template's directory.
    #[error(
        "import \"{0}\" leaves the template's directory (keep scripts beside the template, e.g. in lib/)"
    )]
    OutsideTemplateDir(String),
    /// The file cannot be read.
    #[error("import \"{path}\" cannot be read ({}): {source}", full.display())]
    Unreadable {
        /// The path as written.
        path: String,
        /// Where it was looked for.
        full: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// True when `path` is relative and never climbs above its starting directory.
pub fn stays_inside(path: &Path) -> bool {
    let mut depth: usize = 0;
    for component in path.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Read every `(alias, path)` relative to `dir`, giving alias → source.
pub fn read_imports<'a>(
    dir: &Path,
    imports: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<BTreeMap<String, String>, ImportError> {
    let mut out = BTreeMap::new();
    for (alias, path) in imports {
        if !stays_inside(Path::new(path)) {
            return Err(ImportError::OutsideTemplateDir(path.to_string()));
        }
        let full = dir.join(path);
        let source = std::fs::read_to_string(&full).map_err(|source| ImportError::Unreadable {
            path: path.to_string(),
            full: full.clone(),
            source,
        })?;
        out.insert(alias.to_string(), source);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_stay_inside() {
        for (path, inside) in [
            ("lib/x.rhai", true),
            ("./x.rhai", true),
            ("lib/../x.rhai", true),
            ("../x.rhai", false),
            ("lib/../../x.rhai", false),
            ("/etc/passwd", false),
        ] {
            assert_eq!(stays_inside(Path::new(path)), inside, "{path}");
        }
    }

    #[test]
    fn reads_relative_to_the_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("lib")).expect("mkdir");
        std::fs::write(dir.path().join("lib/m.rhai"), "fn f() { 1 }").expect("write");
        let got = read_imports(dir.path(), [("m", "lib/m.rhai")]).expect("read");
        assert_eq!(got.get("m").map(String::as_str), Some("fn f() { 1 }"));
        assert!(matches!(
            read_imports(dir.path(), [("m", "../m.rhai")]),
            Err(ImportError::OutsideTemplateDir(_))
        ));
        assert!(matches!(
            read_imports(dir.path(), [("m", "lib/none.rhai")]),
            Err(ImportError::Unreadable { .. })
        ));
    }
}
