//! `import "PATH" as ALIAS`: where a template's rhai modules may come from.
//!
//! Modules are read once, when the template loads (by the loader, through
//! [`crate::files::read_text_inside`]); scripts resolve them from memory and never touch the
//! file system. A path must stay inside the template's directory, as written and once
//! resolved.

use std::path::{Component, Path};

/// True when `path` is relative and never climbs above its starting directory (as written;
/// where symlinks lead is checked when the file is read).
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

#[cfg(test)]
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
}
