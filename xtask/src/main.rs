//! `cargo xtask test`: one command from a fresh clone to every test passing.
//!
//! The tests check our output with independent programs (the Python and JavaScript CloudEvents
//! SDKs, python-jenkins and api4jenkins, kubectl, hadolint, a real `nats-server`). This installs
//! them *inside the project* and then runs `cargo test --workspace --locked`:
//!
//! - Debian tools (`nats-server`, `promtool`, `openssl`, `node`/`npm`, Python's `venv`) are
//!   used from `PATH`;
//!   missing ones are installed with `apt-get` when running as root, otherwise the run stops at
//!   once with one line naming them and the command that installs them.
//! - Python packages go into a virtualenv at `target/test-env/venv`, pinned exactly in
//!   `tests/requirements.txt`, created on first use and reinstalled only when that file changes.
//! - npm packages: `npm ci` in `tests/interop/js`, again only when its lock file changes.
//!
//! The layout is shared with the tests through `tests/util/test_env.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Project tasks: the tests' set-up, then the tests")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Set up what the tests need inside the project, then run every test.
    Test {
        /// Passed on to `cargo test --workspace --locked` (e.g. a test name, or `-- --nocapture`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Only the set-up: Debian tools, the virtualenv, the npm packages.
    Setup,
}

/// A Debian tool the tests run, and the package that provides it.
const TOOLS: &[(&str, &str)] = &[
    ("python3", "python3"),
    ("node", "nodejs"),
    ("npm", "npm"),
    ("openssl", "openssl"),
    ("nats-server", "nats-server"),
    // promtool checks /metrics (tests/metrics.rs).
    ("promtool", "prometheus"),
];

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = workspace_root();
    let result = set_up(&root).and_then(|()| match cli.task {
        Task::Test { args } => run_tests(&root, &args),
        Task::Setup => Ok(()),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ sits in the workspace")
        .to_path_buf()
}

fn set_up(root: &Path) -> Result<(), String> {
    debian_tools()?;
    virtualenv(root)?;
    npm_packages(root)
}

/// Finds a program on `PATH` or in `/usr/sbin` (Debian's `nats-server`).
fn find(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Installs Debian packages as root, or says which command would.
fn apt_install(packages: &[&str], why: &str) -> Result<(), String> {
    let list = packages.join(" ");
    if !is_root() {
        return Err(format!(
            "{why}; install with `sudo apt-get install {list}`, then run `cargo xtask test` again"
        ));
    }
    eprintln!("xtask: {why}; installing with apt-get: {list}");
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn debian_tools() -> Result<(), String> {
    let missing: Vec<_> = TOOLS
        .iter()
        .filter(|(tool, _)| find(tool).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let tools: Vec<_> = missing.iter().map(|(t, _)| *t).collect();
    let mut packages: Vec<_> = missing.iter().map(|(_, p)| *p).collect();
    packages.dedup();
    apt_install(&packages, &format!("missing: {}", tools.join(", ")))
}

/// Re-does `work` only when `input`'s content differs from what `stamp` recorded.
fn when_changed(
    stamp: &Path,
    input: &Path,
    work: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    let wanted = std::fs::read(input).map_err(|e| format!("reading {}: {e}", input.display()))?;
    if std::fs::read(stamp).is_ok_and(|done| done == wanted) {
        return Ok(());
    }
    work()?;
    std::fs::write(stamp, wanted).map_err(|e| format!("writing {}: {e}", stamp.display()))
}

fn virtualenv(root: &Path) -> Result<(), String> {
    let venv = root.join("target/test-env/venv");
    let python = venv.join("bin/python3");
    if !python.exists() {
        eprintln!("xtask: creating the tests' virtualenv {}", venv.display());
        let create = || run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
        if create().is_err() {
            // Debian splits `venv` (and its ensurepip) into python3-venv.
            let _ = std::fs::remove_dir_all(&venv);
            apt_install(&["python3-venv"], "python3 cannot create a virtualenv")?;
            create()?;
        }
    }
    when_changed(
        &venv.join("requirements.stamp"),
        &root.join("tests/requirements.txt"),
        || {
            eprintln!("xtask: installing tests/requirements.txt into the virtualenv");
            run(Command::new(&python)
                .args(["-m", "pip", "install", "--require-virtualenv", "--quiet"])
                .args(["--disable-pip-version-check", "-r"])
                .arg(root.join("tests/requirements.txt")))
            .map_err(|e| format!("{e} (a broken virtualenv? remove target/test-env and retry)"))
        },
    )
}

fn npm_packages(root: &Path) -> Result<(), String> {
    let dir = root.join("tests/interop/js");
    let stamp = root.join("target/test-env/npm.stamp");
    if !dir.join("node_modules").is_dir() {
        let _ = std::fs::remove_file(&stamp);
    }
    when_changed(&stamp, &dir.join("package-lock.json"), || {
        eprintln!("xtask: npm ci in tests/interop/js");
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&dir))
    })
}

fn run_tests(root: &Path, args: &[String]) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(cargo)
        .current_dir(root)
        .args(["test", "--workspace", "--locked"])
        .args(args))
}

/// Runs a command, its output going to ours; fails with the command line and its status.
fn run(cmd: &mut Command) -> Result<(), String> {
    let line = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("`{line}` failed ({s})")),
        Err(e) => Err(format!("`{line}` could not start: {e}")),
    }
}
