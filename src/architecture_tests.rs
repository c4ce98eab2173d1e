//! The layering, checked on every `cargo test`: no cycle between top-level modules, and no axum
//! outside the HTTP edge. Every `crate::<module>` path in `src/**/*.rs` counts, in code, tests and
//! doc comments alike: a doc link upwards is a dependency a reader follows too.
use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    fs,
    path::{Path, PathBuf},
};

/// The modules that may speak axum: the API, the server's wiring, the simulator (an HTTP server
/// of its own) and the command line (the demo's pretend website).
const AXUM_ALLOWED: &[&str] = &["http", "startup", "sim", "cli"];

/// `lib.rs` and `main.rs` only declare and start the modules; this file names them in its own
/// text.
const NOT_MODULES: &[&str] = &["lib", "main", "architecture_tests"];

/// module -> module it names -> where it first does (`src/...:line`).
type Graph = BTreeMap<String, BTreeMap<String, String>>;

struct Source {
    /// Relative to the crate root, e.g. `src/orders/service.rs`.
    path: String,
    module: String,
    text: String,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    collect(&root.join("src"), &mut files);
    files
        .into_iter()
        .filter_map(|file| {
            let relative = file.strip_prefix(root).expect("under the crate root");
            let first = relative.components().nth(1)?.as_os_str().to_str()?;
            let module = first.trim_end_matches(".rs").to_owned();
            if NOT_MODULES.contains(&module.as_str()) {
                return None;
            }
            Some(Source {
                path: relative.display().to_string(),
                module,
                text: fs::read_to_string(&file).expect("a readable source file"),
            })
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("a readable directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The top-level modules `text` names after `crate::`, with the byte offset of each:
/// `crate::a::b`, and every first segment of `crate::{a, b::c, d::{e, f}}`.
fn crate_references(text: &str) -> Vec<(String, usize)> {
    let identifier = |at: usize| -> String {
        text[at..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        let start = at + "crate::".len();
        if !text[start..].starts_with('{') {
            found.push((identifier(start), at));
            continue;
        }
        let mut depth = 0;
        let mut segment_starts = true;
        for (offset, c) in text[start..].char_indices() {
            match c {
                '{' => {
                    depth += 1;
                    segment_starts = depth == 1;
                }
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                ',' if depth == 1 => segment_starts = true,
                c if depth == 1 && segment_starts && (c.is_alphanumeric() || c == '_') => {
                    found.push((identifier(start + offset), start + offset));
                    segment_starts = false;
                }
                c if depth == 1 && !c.is_whitespace() => segment_starts = false,
                _ => {}
            }
        }
    }
    found.retain(|(name, _)| !name.is_empty() && name != "self");
    found
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

fn graph(sources: &[Source]) -> Graph {
    let mut graph = Graph::new();
    for source in sources {
        let edges = graph.entry(source.module.clone()).or_default();
        for (target, offset) in crate_references(&source.text) {
            if target != source.module {
                edges.entry(target).or_insert_with(|| {
                    format!("{}:{}", source.path, line_of(&source.text, offset))
                });
            }
        }
    }
    graph
}

/// The shortest path `from` ->* `to`, both included.
fn path(graph: &Graph, from: &str, to: &str) -> Option<Vec<String>> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([from]);
    while let Some(at) = queue.pop_front() {
        if at == to {
            let mut path = vec![to.to_owned()];
            let mut step = to;
            while step != from {
                step = came_from[step];
                path.push(step.to_owned());
            }
            path.reverse();
            return Some(path);
        }
        for next in graph.get(at).into_iter().flat_map(BTreeMap::keys) {
            if next != from && !came_from.contains_key(next.as_str()) {
                came_from.insert(next, at);
                queue.push_back(next);
            }
        }
    }
    None
}

/// Every cycle through some edge, as `a -> b (src/a.rs:3) -> a (src/b.rs:7)`, once each.
fn cycles(graph: &Graph) -> BTreeSet<String> {
    let mut cycles = BTreeSet::new();
    for (from, edges) in graph {
        for to in edges.keys() {
            let Some(back) = path(graph, to, from) else {
                continue;
            };
            let mut cycle = vec![from.clone()];
            cycle.extend(back);
            // One rotation per cycle: starting at its smallest module.
            cycle.pop();
            let first = (0..cycle.len()).min_by_key(|&i| &cycle[i]).unwrap_or(0);
            cycle.rotate_left(first);
            cycle.push(cycle[0].clone());
            let mut text = cycle[0].clone();
            for pair in cycle.windows(2) {
                text.push_str(&format!(" -> {} ({})", pair[1], graph[&pair[0]][&pair[1]]));
            }
            cycles.insert(text);
        }
    }
    cycles
}

#[test]
fn no_top_level_module_depends_on_itself_through_others() {
    let cycles = cycles(&graph(&sources()));
    assert!(
        cycles.is_empty(),
        "top-level modules in a cycle (move what points the wrong way down a layer, \
         see ARCHITECTURE.md):\n{}",
        cycles.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn only_the_http_edge_the_wiring_the_simulator_and_the_cli_know_axum() {
    let mut found = Vec::new();
    for source in sources() {
        if AXUM_ALLOWED.contains(&source.module.as_str()) {
            continue;
        }
        for (at, _) in source.text.match_indices("axum") {
            found.push(format!("{}:{}", source.path, line_of(&source.text, at)));
        }
    }
    assert!(
        found.is_empty(),
        "axum outside {AXUM_ALLOWED:?}:\n{}",
        found.join("\n")
    );
}

#[test]
fn references_are_read_from_paths_and_groups() {
    let text = "use crate::{\n    config::Config,\n    orders::{self, Order},\n    self as me,\n};\n\
                let x = crate::store::Store::open(); // [`crate::menu`]";
    let names: Vec<String> = crate_references(text).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["config", "orders", "store", "menu"]);
}

#[test]
fn a_cycle_is_named_with_where_each_step_is() {
    let mut graph = Graph::new();
    let mut edge = |from: &str, to: &str, at: &str| {
        graph
            .entry(from.to_owned())
            .or_default()
            .insert(to.to_owned(), at.to_owned());
    };
    edge("orders", "notify", "src/orders/a.rs:1");
    edge("notify", "store", "src/notify/b.rs:2");
    edge("store", "orders", "src/store/c.rs:3");
    edge("http", "orders", "src/http/d.rs:4");
    assert_eq!(
        cycles(&graph).into_iter().collect::<Vec<_>>(),
        [
            "notify -> store (src/notify/b.rs:2) -> orders (src/store/c.rs:3) -> notify (src/orders/a.rs:1)"
        ]
    );
}

/// The operator bot's place: it reads and acts through the domain and the store, and only the
/// edge that runs it (the server's wiring, its webhook route, the command line) names it.
#[test]
fn the_bot_sits_below_the_edge_and_above_the_domain() {
    const ABOVE: &[&str] = &["http", "startup", "cli"];
    const BELOW: &[&str] = &[
        "status", "fallback", "orders", "menu", "notify", "duties", "store",
    ];
    let graph = graph(&sources());
    let mut wrong: Vec<String> = graph
        .get("bot")
        .into_iter()
        .flatten()
        .filter(|(to, _)| ABOVE.contains(&to.as_str()))
        .map(|(to, at)| format!("bot -> {to} ({at})"))
        .collect();
    for from in BELOW {
        if let Some(at) = graph.get(*from).and_then(|edges| edges.get("bot")) {
            wrong.push(format!("{from} -> bot ({at})"));
        }
    }
    assert!(
        wrong.is_empty(),
        "the bot out of its layer:\n{}",
        wrong.join("\n")
    );
}
