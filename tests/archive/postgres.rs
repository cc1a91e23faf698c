//! A throwaway PostgreSQL server for the tests: `initdb` into a temporary directory, listening
//! only on a Unix socket in that directory, started and stopped with `pg_ctl`. PostgreSQL
//! refuses to run as root, so as root the server runs as the `postgres` system user that
//! Debian's package creates (through `runuser`). A missing PostgreSQL fails the test; it is
//! never skipped (`.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};

/// The superuser the tests connect as (trusted on the socket).
pub const SUPERUSER: &str = "remedy";
/// A role that must give a password (scram-sha-256).
pub const SECURED_USER: &str = "secured";
/// That role's password.
pub const SECURED_PASSWORD: &str = "s3cr3t-archive-pw";

/// A running server; stopped (immediately) and removed when dropped.
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    running: bool,
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

fn bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").is_file() && p.join("pg_ctl").is_file())
    });
    if let Some(dir) = on_path {
        return dir;
    }
    // Debian keeps the server binaries out of PATH, one directory per major version.
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.retain(|p| p.join("initdb").is_file());
    versions.sort();
    versions.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed: no initdb on PATH or under /usr/lib/postgresql/*/bin \
             (apt-get install -y postgresql; .ci/run does this)"
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// (uid, gid) of the `postgres` system user.
fn postgres_user() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            (f.first() == Some(&"postgres") && f.len() > 3)
                .then(|| (f[2].parse().ok(), f[3].parse().ok()))
                .and_then(|(u, g)| Some((u?, g?)))
        })
        .unwrap_or_else(|| {
            panic!("running as root, but there is no `postgres` user to run PostgreSQL as (apt-get install -y postgresql creates it)")
        })
}

/// Runs a PostgreSQL program, as the `postgres` user when this process is root.
fn pg(bin: &Path, program: &str, args: &[&str]) -> std::process::Output {
    let exe = bin.join(program);
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.arg("-u").arg("postgres").arg("--").arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    cmd.args(args)
        .current_dir("/")
        .env_remove("PGPASSWORD")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
}

impl PgServer {
    /// Initialises and starts a server.
    pub fn start() -> PgServer {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("remedy-pg-")
            .tempdir()
            .expect("temporary directory");
        if is_root() {
            let (uid, gid) = postgres_user();
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown");
        }
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, "unused-superuser-password\n").expect("pwfile");
        if is_root() {
            let (uid, gid) = postgres_user();
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).expect("chown");
        }
        let data = dir.path().join("data");
        let out = pg(
            &bin,
            "initdb",
            &[
                "-D",
                data.to_str().expect("utf-8 path"),
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--no-sync",
                "--auth-local=trust",
                "--auth-host=reject",
                "--pwfile",
                pwfile.to_str().expect("utf-8 path"),
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The superuser is trusted on the socket; every other role gives its password.
        let hba = format!("local all {SUPERUSER} trust\nlocal all all scram-sha-256\n");
        write_as_owner(&data.join("pg_hba.conf"), &hba);
        let port = 20_000
            + (std::process::id() % 20_000) as u16
            + NEXT_PORT.fetch_add(1, Ordering::Relaxed) % 5_000;
        let mut server = PgServer {
            dir,
            bin,
            port,
            running: false,
        };
        server.resume();
        server.psql(&format!(
            "CREATE ROLE {SECURED_USER} LOGIN PASSWORD '{SECURED_PASSWORD}'"
        ));
        server.psql(&format!("CREATE DATABASE remedy OWNER {SECURED_USER}"));
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The socket directory.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A URL of database `remedy` as `user` (no password: that comes from the environment).
    pub fn url_as(&self, user: &str) -> String {
        format!(
            "postgres://{user}@localhost/remedy?host={}&port={}",
            self.socket_dir().display(),
            self.port
        )
    }

    /// The URL the tests use: the trusted superuser, database `remedy`.
    pub fn url(&self) -> String {
        self.url_as(SUPERUSER)
    }

    /// Runs SQL with psql as the superuser on database `postgres`.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_in("postgres", sql)
    }

    /// Runs SQL with psql as the superuser on database `db`.
    pub fn psql_in(&self, db: &str, sql: &str) -> String {
        let psql = self.bin.join("psql");
        let psql = if psql.is_file() {
            psql
        } else {
            PathBuf::from("psql")
        };
        let out = Command::new(psql)
            .args(["-h"])
            .arg(self.socket_dir())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atc",
                sql,
            ])
            .env_remove("PGPASSWORD")
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Stops the server (fast: open connections are cut), as an outage.
    pub fn halt(&mut self) {
        let data = self.data();
        let out = pg(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap_or_default(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.running = false;
    }

    /// Starts the server again on the same data and socket.
    pub fn resume(&mut self) {
        let data = self.data();
        let log = self.dir.path().join("server.log");
        let options = format!(
            "-k {} -p {} -c listen_addresses='' -c fsync=off -c full_page_writes=off -c max_connections=60",
            self.socket_dir().display(),
            self.port
        );
        let out = pg(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap_or_default(),
                "-l",
                log.to_str().unwrap_or_default(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        self.running = true;
    }
}

/// Writes a file in the data directory as its owner would (the server reads it as `postgres`).
fn write_as_owner(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    if is_root() {
        let (uid, gid) = postgres_user();
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.running {
            let data = self.data();
            let _ = pg(
                &self.bin,
                "pg_ctl",
                &[
                    "-D",
                    data.to_str().unwrap_or_default(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            );
        }
    }
}
