//! `watch/` (the diff engine) and `event/` (the encoders) claim to be pure: no network, no
//! clock, no randomness, no process environment, no command line. The claim is what makes every
//! tricky Jenkins behaviour a plain unit test, so this test holds them to it by reading their
//! source: any of these names in a non-test line is a failure that names the file and line.

const FORBIDDEN: &[(&str, &str)] = &[
    ("tokio", "an async runtime (I/O, timers)"),
    ("reqwest", "HTTP"),
    ("std::net", "the network"),
    ("std::fs", "the file system"),
    ("std::env", "the process environment"),
    ("std::process", "processes"),
    ("SystemTime", "the clock"),
    ("Instant", "the clock"),
    ("now_ms", "the clock"),
    ("OffsetDateTime::now", "the clock"),
    ("rand", "randomness"),
    ("Uuid::new_v4", "randomness"),
    ("clap", "the command line"),
    ("tracing", "logging (the poller logs what the diff notes)"),
];

/// Lines of a file before its `#[cfg(test)]` module (tests may use anything).
fn production_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l))
}

/// Whether `line` uses `name` as a path segment or identifier (not inside a longer word).
fn uses(line: &str, name: &str) -> bool {
    line.match_indices(name).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + name.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !word(before) && !word(after)
    })
}

#[test]
fn the_diff_engine_and_the_encoders_do_no_io_and_read_no_clock() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut checked = 0;
    let mut found = Vec::new();
    for dir in ["watch", "event"] {
        for entry in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            checked += 1;
            for (n, line) in production_lines(&text) {
                for (name, what) in FORBIDDEN {
                    if uses(line, name) {
                        found.push(format!(
                            "{}:{n}: {name} ({what}): {}",
                            path.display(),
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    assert!(checked >= 8, "read the modules ({checked})");
    assert!(found.is_empty(), "not pure:\n{}", found.join("\n"));
}

#[test]
fn the_purity_check_sees_what_it_forbids() {
    assert!(uses("use tokio::time;", "tokio"));
    assert!(uses("let t = std::time::SystemTime::now();", "SystemTime"));
    assert!(!uses("let tokio_like = 1;", "tokio"));
    assert!(!uses("operand", "rand"));
    let text = "fn a() {}\n// tokio in a comment\n#[cfg(test)]\nmod tests { use tokio; }";
    assert_eq!(production_lines(text).count(), 1);
}

/// The top-level modules each file under `src/<module>` names as `crate::<module>` (test
/// modules excluded).
fn imports() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let root = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let mut graph: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("tests.rs") {
                continue;
            }
            let rel = path.strip_prefix(&root).unwrap();
            let first = rel.iter().next().unwrap().to_string_lossy();
            let module = first.trim_end_matches(".rs").to_string();
            if module == "main" || module == "lib" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let deps = graph.entry(module.clone()).or_default();
            for (_, line) in production_lines(&text) {
                for (i, _) in line.match_indices("crate::") {
                    let name: String = line[i + 7..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if name != module && !name.is_empty() {
                        deps.insert(name);
                    }
                }
            }
        }
    }
    graph
}

#[test]
fn modules_import_along_the_flow_and_never_in_a_circle() {
    let graph = imports();
    assert!(graph.len() >= 10, "read the modules: {graph:?}");
    // Each stage may use the ones before it, never one after it.
    let flow = ["jenkins", "watch", "event", "store", "sink"];
    for (i, stage) in flow.iter().enumerate() {
        for later in &flow[i + 1..] {
            assert!(
                !graph[*stage].contains(*later),
                "{stage} imports {later}, against the flow jenkins → watch → event → store → sink"
            );
        }
    }
    // No circle anywhere: a depth-first walk from every module never comes back to it.
    for start in graph.keys() {
        let mut seen = std::collections::BTreeSet::new();
        let mut stack: Vec<&String> = graph[start].iter().collect();
        while let Some(m) = stack.pop() {
            assert_ne!(m, start, "an import circle through {start}: {graph:?}");
            if seen.insert(m.clone()) {
                stack.extend(graph.get(m).into_iter().flatten());
            }
        }
    }
}
