//! Reading input files safely, for every command that reads templates, modules or
//! rehearsals: a file is read only when its real path (symlinks resolved) lies inside the
//! directory it belongs to, it is a regular file (not a FIFO, a device or a directory), and it
//! is no larger than a limit; directory walks skip hidden entries and visit each real
//! directory once, so a symlink to an ancestor cannot make them loop.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest template (`.wf`), module (`.rhai`) or rehearsal file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 256 * 1024;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The path resolves (through a symlink) outside the directory it must stay in.
    #[error(
        "{} resolves to {}, outside {} (files must stay inside the template directory)",
        path.display(), real.display(), dir.display()
    )]
    Outside {
        /// The path as given.
        path: PathBuf,
        /// Where it resolves to.
        real: PathBuf,
        /// The directory it must stay inside.
        dir: PathBuf,
    },
    /// The path is not a regular file.
    #[error("{} is not a regular file (it is {kind})", path.display())]
    NotRegular {
        /// The path as given.
        path: PathBuf,
        /// What it is: a directory, a FIFO, a device…
        kind: &'static str,
    },
    /// The file is larger than the limit.
    #[error("{} is larger than the limit of {limit} bytes", path.display())]
    TooLarge {
        /// The path as given.
        path: PathBuf,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The file is not UTF-8 text.
    #[error("{} is not UTF-8 text (invalid bytes at offset {offset})", path.display())]
    NotUtf8 {
        /// The path as given.
        path: PathBuf,
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// The file or directory cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path as given.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl FileError {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            FileError::Outside { path, .. }
            | FileError::NotRegular { path, .. }
            | FileError::TooLarge { path, .. }
            | FileError::NotUtf8 { path, .. }
            | FileError::Io { path, .. } => path,
        }
    }

    /// True when the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, FileError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn kind_of(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// Read `path` as bytes: it must resolve inside `dir`, be a regular file and hold at most
/// `limit` bytes.
pub fn read_inside(dir: &Path, path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let real_dir = dir.canonicalize().map_err(io(dir))?;
    let real = path.canonicalize().map_err(io(path))?;
    if !real.starts_with(&real_dir) {
        return Err(FileError::Outside {
            path: path.to_path_buf(),
            real,
            dir: real_dir,
        });
    }
    read_regular(path, &real, limit)
}

/// [`read_inside`], as UTF-8 text.
pub fn read_text_inside(dir: &Path, path: &Path, limit: u64) -> Result<String, FileError> {
    text(path, read_inside(dir, path, limit)?)
}

/// Read a file the user named (no directory to stay in): a regular file of at most `limit`
/// bytes.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let real = path.canonicalize().map_err(io(path))?;
    read_regular(path, &real, limit)
}

/// [`read_file`], as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> Result<String, FileError> {
    text(path, read_file(path, limit)?)
}

fn text(path: &Path, bytes: Vec<u8>) -> Result<String, FileError> {
    String::from_utf8(bytes).map_err(|e| FileError::NotUtf8 {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// Read the resolved file `real` (known to readers as `path`).
fn read_regular(path: &Path, real: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    // Looked at before opening: opening a FIFO for reading blocks until a writer comes.
    let meta = std::fs::metadata(real).map_err(io(path))?;
    if !meta.is_file() {
        return Err(FileError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(meta.file_type()),
        });
    }
    let file = std::fs::File::open(real).map_err(io(path))?;
    // And again on the open file, in case it was swapped in between.
    let meta = file.metadata().map_err(io(path))?;
    if !meta.is_file() {
        return Err(FileError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(meta.file_type()),
        });
    }
    let too_large = || FileError::TooLarge {
        path: path.to_path_buf(),
        limit,
    };
    if meta.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // The size can change while reading: never read past the limit.
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io(path))?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// The files a walk found, sorted, and what it could not read.
#[derive(Debug, Default)]
pub struct Walk {
    /// The files whose names matched, sorted by path.
    pub files: Vec<PathBuf>,
    /// Directories that could not be read.
    pub errors: Vec<FileError>,
}

/// Every file below `dir` whose path `wanted` accepts, sorted. Hidden entries (names starting
/// with `.`) are skipped: a mounted ConfigMap keeps a second copy of every file under
/// `..<timestamp>/`. Directory symlinks are followed when they stay inside `dir` (one that
/// leads out is an error, and is not walked), and each real directory is walked once, so a
/// symlink cycle ends. Files are not checked here; read them with [`read_inside`].
pub fn walk(dir: &Path, wanted: &dyn Fn(&Path) -> bool) -> Walk {
    let mut out = Walk::default();
    let root = match dir.canonicalize() {
        Ok(root) => root,
        Err(source) => {
            out.errors.push(FileError::Io {
                path: dir.to_path_buf(),
                source,
            });
            return out;
        }
    };
    let mut walker = Walker {
        root,
        wanted,
        seen: HashSet::new(),
        out,
    };
    walker.walk(dir);
    let mut out = walker.out;
    out.files.sort();
    out
}

struct Walker<'a> {
    root: PathBuf,
    wanted: &'a dyn Fn(&Path) -> bool,
    seen: HashSet<PathBuf>,
    out: Walk,
}

impl Walker<'_> {
    fn walk(&mut self, dir: &Path) {
        let out = &mut self.out;
        match dir.canonicalize() {
            Ok(real) if !real.starts_with(&self.root) => {
                out.errors.push(FileError::Outside {
                    path: dir.to_path_buf(),
                    real,
                    dir: self.root.clone(),
                });
                return;
            }
            Ok(real) => {
                if !self.seen.insert(real) {
                    return;
                }
            }
            Err(source) => {
                out.errors.push(FileError::Io {
                    path: dir.to_path_buf(),
                    source,
                });
                return;
            }
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(source) => {
                out.errors.push(FileError::Io {
                    path: dir.to_path_buf(),
                    source,
                });
                return;
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .collect();
        paths.sort();
        for path in paths {
            // Follows symlinks: a symlink to a directory is walked (once), a symlink to a
            // file is a file (read_inside then checks where it leads).
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => self.walk(&path),
                _ if (self.wanted)(&path) => self.out.files.push(path),
                _ => {}
            }
        }
    }
}

/// The directory a file lies in, as given: `.` for a bare file name.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// True for a path ending in `.EXT`.
pub fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension().is_some_and(|e| e == ext)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn reads_a_regular_file_inside() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "lib/m.rhai", "fn f() { 1 }");
        assert_eq!(
            read_text_inside(dir.path(), &path, MAX_FILE_BYTES).unwrap(),
            "fn f() { 1 }"
        );
        let missing =
            read_inside(dir.path(), &dir.path().join("none"), MAX_FILE_BYTES).expect_err("missing");
        assert!(missing.is_not_found(), "{missing}");
    }

    #[test]
    fn refuses_files_over_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "big.wf", &"x".repeat(101));
        assert!(read_inside(dir.path(), &path, 101).is_ok());
        assert!(matches!(
            read_inside(dir.path(), &path, 100),
            Err(FileError::TooLarge { limit: 100, .. })
        ));
    }

    #[test]
    fn refuses_text_that_is_not_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.rhai");
        std::fs::write(&path, b"fn f() { \"\xff\" }").unwrap();
        assert!(matches!(
            read_text_inside(dir.path(), &path, MAX_FILE_BYTES),
            Err(FileError::NotUtf8 { offset: 10, .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_directory_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        let secret = write(outside.path(), "secret.rhai", "fn f() { 1 }");
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&secret, dir.path().join("file-link.rhai")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("dir-link")).unwrap();
        for rel in ["file-link.rhai", "dir-link/secret.rhai"] {
            let err = read_inside(dir.path(), &dir.path().join(rel), MAX_FILE_BYTES)
                .expect_err("outside");
            assert!(matches!(err, FileError::Outside { .. }), "{rel}: {err}");
        }
        // A symlink that stays inside is fine (a mounted ConfigMap is made of them).
        std::os::unix::fs::symlink(dir.path().join("file-link.rhai"), dir.path().join("x"))
            .unwrap();
        write(dir.path(), "real/m.rhai", "1");
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("lib")).unwrap();
        assert!(read_inside(dir.path(), &dir.path().join("lib/m.rhai"), MAX_FILE_BYTES).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn devices_fifos_and_directories_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.rhai")).unwrap();
        let err = read_file(&dir.path().join("zero.rhai"), MAX_FILE_BYTES).expect_err("device");
        assert!(
            matches!(
                err,
                FileError::NotRegular {
                    kind: "a device",
                    ..
                }
            ),
            "{err}"
        );
        let fifo = dir.path().join("fifo.rhai");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let err = read_inside(dir.path(), &fifo, MAX_FILE_BYTES).expect_err("fifo");
        assert!(
            matches!(err, FileError::NotRegular { kind: "a FIFO", .. }),
            "{err}"
        );
        std::fs::create_dir(dir.path().join("d.wf")).unwrap();
        let err = read_inside(dir.path(), &dir.path().join("d.wf"), MAX_FILE_BYTES)
            .expect_err("directory");
        assert!(
            matches!(
                err,
                FileError::NotRegular {
                    kind: "a directory",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_walk_ends_on_a_symlink_cycle_and_skips_hidden_entries() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.wf", "");
        write(dir.path(), "sub/b.wf", "");
        write(dir.path(), "sub/notes.txt", "");
        write(dir.path(), "..2026_01_01/a.wf", "");
        std::os::unix::fs::symlink(dir.path(), dir.path().join("sub/up")).unwrap();
        let found = walk(dir.path(), &|p| has_extension(p, "wf"));
        let rel: Vec<_> = found
            .files
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().to_path_buf())
            .collect();
        assert_eq!(rel, [PathBuf::from("a.wf"), PathBuf::from("sub/b.wf")]);
        assert!(found.errors.is_empty(), "{:?}", found.errors);
        // A directory symlink out of the walked directory is reported, not walked.
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "c.wf", "");
        std::os::unix::fs::symlink(outside.path(), dir.path().join("sub/away")).unwrap();
        let found = walk(dir.path(), &|p| has_extension(p, "wf"));
        assert_eq!(found.files.len(), 2);
        assert!(
            matches!(found.errors.as_slice(), [FileError::Outside { .. }]),
            "{:?}",
            found.errors
        );
    }
}
