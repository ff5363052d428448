//! A private PostgreSQL cluster started from the server binaries on the machine:
//! the embedded default of `lanyard dev`, and the test harness's database.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The socket file name's port; each cluster has its own socket directory.
const PORT: u16 = 5432;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install them (`apt-get install postgresql`) or set DATABASE_URL"
    )]
    NoBinaries,
    #[error("{what} failed: {detail}")]
    Command { what: &'static str, detail: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The unprivileged account the server runs as when we are root (`initdb` refuses root).
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

/// A running private cluster. It listens only on a Unix socket.
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    socket_dir: PathBuf,
    run_as: Option<RunAs>,
    durable: bool,
}

impl Cluster {
    /// Starts the cluster under `dir` (creating it on first use) and arranges for
    /// it to stop when this process ends, however it ends. `durable: false`
    /// turns fsync off and deletes `dir` on exit (tests).
    pub fn start(dir: &Path, durable: bool) -> Result<Self, ClusterError> {
        let bin = find_binaries().ok_or(ClusterError::NoBinaries)?;
        let run_as = run_as()?;
        std::fs::create_dir_all(dir)?;
        let dir = dir.canonicalize()?;
        give(&dir, run_as)?;
        let socket_dir = PathBuf::from(format!("/tmp/lanyard-sock-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&socket_dir)?;
        give(&socket_dir, run_as)?;
        let cluster = Self {
            bin,
            data: dir.join("data"),
            log: dir.join("postgres.log"),
            socket_dir,
            run_as,
            durable,
        };
        if !cluster.data.join("PG_VERSION").exists() {
            cluster.initdb(&dir)?;
        }
        // A server left running by a killed process listens on a socket we no longer know.
        if cluster.pg_ctl(&["status"]).is_ok() {
            cluster.pg_ctl(&["-m", "fast", "-w", "stop"])?;
        }
        cluster.start_server()?;
        cluster.watch_this_process(&dir)?;
        Ok(cluster)
    }

    /// A `DATABASE_URL` for one database of this cluster.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres:///{database}?host={}&port={PORT}&user=postgres",
            self.socket_dir.display()
        )
    }

    /// Stops the server (fast shutdown: open sessions are ended).
    pub fn stop(&self) -> Result<(), ClusterError> {
        self.pg_ctl(&["-m", "fast", "-w", "stop"]).map(|_| ())
    }

    /// Starts a stopped server again, on the same socket.
    pub fn start_server(&self) -> Result<(), ClusterError> {
        let mut options = format!("-p {PORT} -k {} -c listen_addresses=''", self.socket_dir.display());
        if !self.durable {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300");
        }
        let log = self.log.display().to_string();
        self.pg_ctl(&["-l", &log, "-w", "-t", "60", "-o", &options, "start"])
            .map(|_| ())
    }

    fn initdb(&self, dir: &Path) -> Result<(), ClusterError> {
        let mut cmd = self.command("initdb", dir);
        cmd.arg("-D")
            .arg(&self.data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"]);
        if !self.durable {
            cmd.arg("--no-sync");
        }
        run(cmd, "initdb")
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), ClusterError> {
        let dir = self.data.parent().unwrap_or(&self.data).to_owned();
        let mut cmd = self.command("pg_ctl", &dir);
        cmd.arg("-D").arg(&self.data).args(args);
        run(cmd, "pg_ctl")
    }

    fn command(&self, program: &str, cwd: &Path) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.current_dir(cwd).env_remove("PGDATA").stdin(Stdio::null());
        // Its own process group: Ctrl-C in the terminal reaches Lanyard, which
        // stops the cluster in order, instead of the server itself.
        cmd.process_group(0);
        if let Some(r) = self.run_as {
            cmd.uid(r.uid).gid(r.gid);
        }
        cmd
    }

    /// A small watchdog stops the server (and, for tests, removes its files)
    /// once this process is gone, even after SIGKILL.
    fn watch_this_process(&self, dir: &Path) -> Result<(), ClusterError> {
        let mut script = format!(
            // Only the server listening on *our* socket directory: a later
            // `lanyard dev` may already run a new one on the same data.
            "while [ -d /proc/{pid} ]; do sleep 1; done; \
             if [ \"$(sed -n 5p '{data}/postmaster.pid' 2>/dev/null)\" = '{sock}' ]; then \
               '{pg_ctl}' -D '{data}' -m fast -w stop >/dev/null 2>&1; fi; rm -rf '{sock}'",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data.display(),
            sock = self.socket_dir.display(),
        );
        if !self.durable {
            script.push_str(&format!("; rm -rf '{}'", dir.display()));
        }
        let mut sh = Command::new("/bin/sh");
        sh.args(["-c", &script])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        sh.process_group(0);
        if let Some(r) = self.run_as {
            sh.uid(r.uid).gid(r.gid);
        }
        sh.spawn()?;
        Ok(())
    }
}

fn run(mut cmd: Command, what: &'static str) -> Result<(), ClusterError> {
    let out = cmd.output().map_err(|e| ClusterError::Command {
        what,
        detail: e.to_string(),
    })?;
    if out.status.success() {
        return Ok(());
    }
    let detail = String::from_utf8_lossy(&out.stderr)
        .trim()
        .lines()
        .last()
        .unwrap_or("no output")
        .to_owned();
    Err(ClusterError::Command { what, detail })
}

/// `initdb` and `pg_ctl`: on PATH, or in the newest `/usr/lib/postgresql/*/bin`.
fn find_binaries() -> Option<PathBuf> {
    find_binaries_in(std::env::var_os("PATH"), Path::new("/usr/lib/postgresql"))
}

fn find_binaries_in(path: Option<std::ffi::OsString>, versioned: &Path) -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(path) = path
        && let Some(dir) = std::env::split_paths(&path).find(|d| has_both(d))
    {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(versioned)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| has_both(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// When root, the `postgres` account (or `nobody`); otherwise ourselves.
fn run_as() -> Result<Option<RunAs>, ClusterError> {
    let euid = std::fs::metadata("/proc/self")?.uid();
    if euid != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    let account = |name: &str| {
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&name) && fields.len() > 3)
                .then(|| {
                    Some(RunAs {
                        uid: fields[2].parse().ok()?,
                        gid: fields[3].parse().ok()?,
                    })
                })
                .flatten()
        })
    };
    account("postgres")
        .or_else(|| account("nobody"))
        .map(Some)
        .ok_or(ClusterError::Command {
            what: "finding an unprivileged account",
            detail: "initdb refuses root and there is no `postgres` or `nobody` account".into(),
        })
}

/// Hands a directory to the account the server runs as, private to it.
fn give(dir: &Path, run_as: Option<RunAs>) -> Result<(), ClusterError> {
    if let Some(r) = run_as {
        std::os::unix::fs::chown(dir, Some(r.uid), Some(r.gid))?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// Whether the server's account can reach `dir`: when we are root, every
/// ancestor must let it pass. Otherwise `lanyard dev` keeps its cluster elsewhere.
pub fn reachable_by_server(dir: &Path) -> bool {
    let Ok(Some(r)) = run_as() else { return true };
    let Ok(abs) = std::path::absolute(dir) else {
        return false;
    };
    abs.ancestors().skip(1).all(|a| match std::fs::metadata(a) {
        Ok(m) => {
            let mode = m.mode();
            (m.uid() == r.uid && mode & 0o100 != 0) || (m.gid() == r.gid && mode & 0o010 != 0) || mode & 0o001 != 0
        }
        Err(_) => true, // not created yet: we will create it ourselves below a reachable one
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_binaries_the_error_says_how_to_install_them() {
        let nowhere = std::env::temp_dir().join(format!("lanyard-no-pg-{}", uuid::Uuid::new_v4().simple()));
        assert_eq!(find_binaries_in(Some(nowhere.clone().into_os_string()), &nowhere), None);
        let message = ClusterError::NoBinaries.to_string();
        assert!(
            message.contains("apt-get install postgresql") && message.contains("DATABASE_URL"),
            "{message}"
        );
    }

    #[test]
    fn binaries_are_found_on_path_first() {
        let dir = std::env::temp_dir().join(format!("lanyard-fake-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        for tool in ["initdb", "pg_ctl"] {
            std::fs::write(dir.join(tool), "").unwrap();
        }
        assert_eq!(
            find_binaries_in(Some(dir.clone().into_os_string()), Path::new("/nonexistent")),
            Some(dir.clone())
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
