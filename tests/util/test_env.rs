//! Where the tests find the independent programs they check our output with.
//!
//! `cargo xtask test` (xtask/) prepares them inside the project: a virtualenv with the pinned
//! Python packages in `target/test-env/venv` (kubectl and hadolint come from PyPI wheels there),
//! `node_modules` of `tests/interop/js`, and Debian's `nats-server` and `openssl` on the machine.
//! A test run before that set-up stops with one line naming what is missing and the command that
//! provides it: nothing skips silently. Compiled into the root crate's tests, the mock-jenkins
//! tests and the benchmark (by `#[path]`), so that the layout is written down once.
#![allow(dead_code)] // each crate that includes this file uses a part of it

use std::path::{Path, PathBuf};

/// What a test prints when the set-up has not been done.
pub const SET_UP: &str =
    "run `cargo xtask test` once (it installs the tests' tools inside the project, see README)";

/// The workspace root: the nearest folder with `Cargo.lock` above this crate.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|d| d.join("Cargo.lock").exists())
        .expect("the workspace has a Cargo.lock")
        .to_path_buf()
}

/// The project's virtualenv.
pub fn venv() -> PathBuf {
    root().join("target/test-env/venv")
}

/// The virtualenv's Python, or why it cannot be used.
pub fn try_python() -> Result<PathBuf, String> {
    let python = venv().join("bin/python3");
    if python.exists() {
        Ok(python)
    } else {
        Err(format!(
            "the test virtualenv {} is missing: {SET_UP}",
            venv().display()
        ))
    }
}

/// The virtualenv's Python, whose `bin/` (kubectl, hadolint) its children find first on `PATH`.
pub fn python() -> std::process::Command {
    let python = try_python().unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = std::process::Command::new(python);
    cmd.env("PATH", path_with_venv());
    cmd
}

/// `PATH` with the virtualenv's `bin/` first.
pub fn path_with_venv() -> std::ffi::OsString {
    let mut dirs = vec![venv().join("bin")];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH entries are joinable")
}

/// A Debian tool: on `PATH`, or in `/usr/sbin` (where Debian puts `nats-server`, and which is not
/// on every user's `PATH`).
pub fn tool(name: &str, package: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is not installed: {SET_UP}, or `sudo apt-get install {package}`")
        })
}

/// `node`, once `npm ci` has installed the JavaScript receiver's packages.
pub fn node_for(script_dir: &Path) -> PathBuf {
    let modules = script_dir.join("node_modules");
    if !modules.is_dir() {
        panic!("{} is missing: {SET_UP}", modules.display());
    }
    tool("node", "nodejs")
}
