//! The Dockerfile and deploy/ as far as they can be checked without a cluster or a container
//! engine: hadolint, COPY sources, non-root users, kustomize renders, Kubernetes schemas, and
//! the examples pointing at each other (tests/deploy/check_deploy.py); and every config.toml
//! under deploy/ loads with the shim's own config loader.
//!
//! kubectl, hadolint and kubernetes-validate come from the project's virtualenv (`cargo xtask
//! test`).

mod util;

use jenkins_event_shim::config::Options;

#[test]
fn dockerfile_and_manifests_pass_hadolint_kustomize_and_the_kubernetes_schemas() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/deploy/check_deploy.py");
    let out = util::test_env::python()
        .arg(script)
        .output()
        .expect("the virtualenv's python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "deploy checks failed\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all deploy checks passed"));
    assert!(
        stdout.lines().filter(|l| l.starts_with("ok")).count() >= 40,
        "{stdout}"
    );
}

#[test]
fn every_config_file_under_deploy_loads() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");
    let mut found = 0;
    let mut dirs = vec![std::path::PathBuf::from(root)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().is_some_and(|n| n == "config.toml") {
                let options = Options {
                    config: Some(path.clone()),
                    ..Options::default()
                };
                // The token comes from the mounted Secret in the cluster.
                let options = Options {
                    jenkins_token: Some("from-the-secret".into()),
                    ..options
                };
                options
                    .resolve(true)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                found += 1;
            }
        }
    }
    assert_eq!(found, 4, "base, knative, mock-jenkins and kubesphere");
}
