//! Realtime queue statistics for Amazon Connect and Symbee Connect.
//!
//! The library behind every function in `functions/`: the normalized model,
//! the sources that fill it, the store and the stream it goes to, and the
//! poll loop that ties them together. Binaries only wire these up.
//!
//! Layers point one way. Leaves: `model` (the vocabulary, `Level`
//! included), `settings` (parsing), `errors`, `gzip`, `backoff`,
//! `limiter`, `aws`. Capabilities above them: `levels`, `estimate`,
//! `secrets`, `source`, `sink`, `store`, `events`, and the readers `api`
//! and `contact_flow`. Then `poller` (the cycle and its report),
//! `telemetry` (observes the report) and, at the top, `wiring` and
//! `handlers`.

pub mod api;
pub mod aws;
pub mod backoff;
pub mod config;
pub mod contact_flow;
pub mod errors;
pub mod estimate;
pub mod events;
pub mod gzip;
pub mod handlers;
pub mod levels;
pub mod limiter;
pub mod model;
pub mod poller;
pub mod secrets;
pub mod settings;
pub mod sink;
pub mod source;
pub mod store;
pub mod telemetry;
pub mod wiring;

#[cfg(test)]
mod layering {
    //! The layers above, checked: no top-level module reaches itself
    //! through `crate::` paths (production code; tests may look anywhere).

    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    fn sources(path: &Path, out: &mut Vec<String>) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                sources(&entry.unwrap().path(), out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(path).unwrap();
            // Production code only: up to the first test module.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            out.push(
                code.lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        }
    }

    #[test]
    fn no_top_level_module_imports_itself_through_another() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let modules: BTreeSet<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter_map(|p| Some(p.file_stem()?.to_str()?.to_owned()))
            .filter(|m| m != "lib")
            .collect();
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for module in &modules {
            let mut texts = Vec::new();
            let dir = root.join(module);
            let path = if dir.is_dir() {
                dir
            } else {
                root.join(format!("{module}.rs"))
            };
            sources(&path, &mut texts);
            for text in texts {
                for (at, _) in text.match_indices("crate::") {
                    let name: String = text[at + 7..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if name != *module && modules.contains(&name) {
                        edges.entry(module.clone()).or_default().insert(name);
                    }
                }
            }
        }
        let reaches = |from: &str, to: &str| {
            let mut seen = BTreeSet::new();
            let mut stack = vec![from.to_owned()];
            while let Some(next) = stack.pop() {
                for target in edges.get(&next).into_iter().flatten() {
                    if target == to {
                        return true;
                    }
                    if seen.insert(target.clone()) {
                        stack.push(target.clone());
                    }
                }
            }
            false
        };
        let cycles: Vec<(String, String)> = edges
            .iter()
            .flat_map(|(from, tos)| tos.iter().map(move |to| (from.clone(), to.clone())))
            .filter(|(from, to)| reaches(to, from))
            .collect();
        assert!(cycles.is_empty(), "imports that point back up: {cycles:?}");
        // The leaves stay leaves.
        for leaf in ["model", "settings", "errors", "gzip", "backoff", "limiter"] {
            assert!(
                edges.get(leaf).is_none_or(BTreeSet::is_empty),
                "{leaf} imports {:?}",
                edges[leaf]
            );
        }
    }
}
