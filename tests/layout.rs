//! The code's layout, checked from the source text: the modules form layers (no cycle of imports between
//! sibling modules or folders), and README.md's file map names every source file and nothing that is not
//! there.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` (relative to the crate root) whose name ends in `ext`, as `/`-joined paths.
fn files(dir: &str, ext: &str) -> Vec<String> {
    fn walk(path: &Path, ext: &str, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(path).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, ext, out);
            } else if path.to_string_lossy().ends_with(ext) {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join(dir), ext, &mut out);
    let mut names: Vec<String> = out
        .iter()
        .map(|p| {
            p.strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect();
    names.sort();
    names
}

/// The module path of a library source file: `src/deep/ops/conv.rs` → `[deep, ops, conv]`,
/// `src/deep/mod.rs` → `[deep]`, `src/lib.rs` → `[]`.
fn module_of(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_start_matches("src/")
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The paths a file names through `crate::`, `super::` or `self::`, with `use` groups
/// (`crate::{a::b, c}`) expanded to their first segment after the group's prefix. A file's test module
/// (`#[cfg(test)] mod tests`, at its end) is left out: tests may reach across layers.
fn paths_named(source: &str) -> Vec<String> {
    let source = source.split("#[cfg(test)]\nmod tests").next().unwrap();
    let bytes = source.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let at_word = i == 0 || !ident(bytes[i - 1]);
        let starts = ["crate::", "super::", "self::"]
            .iter()
            .any(|p| bytes[i..].starts_with(p.as_bytes()));
        if !(at_word && starts) {
            i += 1;
            continue;
        }
        // The path: identifiers joined by `::`, possibly ending in a `{` group.
        let mut j = i;
        while j < bytes.len() && (ident(bytes[j]) || bytes[j..].starts_with(b"::")) {
            j += if bytes[j] == b':' { 2 } else { 1 };
        }
        let prefix = source[i..j].trim_end_matches("::").to_string();
        if j < bytes.len() && bytes[j] == b'{' {
            // Top-level items of the group, each joined to the prefix.
            let (mut depth, mut k, mut item) = (1, j + 1, String::new());
            while k < bytes.len() && depth > 0 {
                match bytes[k] {
                    b'{' => depth += 1,
                    b'}' => depth -= 1,
                    _ => {}
                }
                if (depth == 1 && bytes[k] == b',') || depth == 0 {
                    let first: String = item
                        .trim()
                        .chars()
                        .take_while(|&c| c.is_ascii_alphanumeric() || c == '_')
                        .collect();
                    if !first.is_empty() {
                        out.push(format!("{prefix}::{first}"));
                    }
                    item.clear();
                } else if depth >= 1 {
                    item.push(bytes[k] as char);
                }
                k += 1;
            }
            i = k;
        } else {
            out.push(prefix);
            i = j;
        }
    }
    out
}

/// The module a path names, from module `current`: the longest prefix of the resolved path that is a
/// module of the crate.
fn resolve(current: &[String], path: &str, modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let mut segments = path.split("::").peekable();
    let mut full: Vec<String> = match *segments.peek()? {
        "crate" => {
            segments.next();
            Vec::new()
        }
        "self" => {
            segments.next();
            current.to_vec()
        }
        _ => current.to_vec(),
    };
    for s in segments {
        if s == "super" {
            full.pop()?;
        } else {
            full.push(s.to_string());
        }
    }
    (0..=full.len())
        .rev()
        .map(|n| full[..n].to_vec())
        .find(|m| modules.contains(m))
}

/// The import edges between siblings: for a file of module `a` naming module `b`, the edge between the
/// children of their nearest common ancestor on the way to each. A module and its own descendants are
/// not siblings (a `mod.rs` uses its children, and they may use its items).
fn sibling_edges() -> BTreeSet<(Vec<String>, Vec<String>)> {
    let sources: Vec<String> = files("src", ".rs")
        .into_iter()
        .filter(|f| f != "src/main.rs")
        .collect();
    let modules: BTreeSet<Vec<String>> = sources.iter().map(|f| module_of(f)).collect();
    let mut edges = BTreeSet::new();
    for file in &sources {
        let from = module_of(file);
        let text = fs::read_to_string(root().join(file)).unwrap();
        for path in paths_named(&text) {
            let Some(to) = resolve(&from, &path, &modules) else {
                continue;
            };
            let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common == from.len() || common == to.len() {
                continue;
            }
            edges.insert((from[..=common].to_vec(), to[..=common].to_vec()));
        }
    }
    edges
}

/// A cycle in `edges`, as the modules along it, if there is one.
fn find_cycle(edges: &BTreeSet<(Vec<String>, Vec<String>)>) -> Option<Vec<String>> {
    let mut next: BTreeMap<&Vec<String>, Vec<&Vec<String>>> = BTreeMap::new();
    for (a, b) in edges {
        next.entry(a).or_default().push(b);
    }
    // Depth-first search with the path on a stack: 0 unseen, 1 on the path, 2 done.
    fn visit<'a>(
        node: &'a Vec<String>,
        next: &BTreeMap<&'a Vec<String>, Vec<&'a Vec<String>>>,
        state: &mut BTreeMap<&'a Vec<String>, u8>,
        path: &mut Vec<&'a Vec<String>>,
    ) -> Option<Vec<String>> {
        state.insert(node, 1);
        path.push(node);
        for &to in next.get(node).into_iter().flatten() {
            match state.get(to).copied().unwrap_or(0) {
                1 => {
                    let start = path.iter().position(|&p| p == to).unwrap();
                    let mut cycle: Vec<String> =
                        path[start..].iter().map(|m| m.join("::")).collect();
                    cycle.push(to.join("::"));
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(to, next, state, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(node, 2);
        None
    }
    let mut state = BTreeMap::new();
    for (a, _) in edges {
        if state.get(a).copied().unwrap_or(0) == 0
            && let Some(c) = visit(a, &next, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_cycle_of_imports_between_sibling_modules() {
    let edges = sibling_edges();
    // The reader sees the layers: these are some of the edges the code has, so a reader that found none
    // would not pass.
    let top = |a: &str, b: &str| edges.contains(&(vec![a.to_string()], vec![b.to_string()]));
    assert!(top("deep", "data") && top("web", "deep") && top("cli", "classical"));
    assert!(edges.contains(&(
        vec!["deep".into(), "train".into()],
        vec!["deep".into(), "input".into()]
    )));
    assert_eq!(find_cycle(&edges), None);
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let m = |s: &str| vec![s.to_string()];
    let mut edges: BTreeSet<_> = [(m("a"), m("b")), (m("b"), m("c")), (m("a"), m("c"))]
        .into_iter()
        .collect();
    assert_eq!(find_cycle(&edges), None);
    edges.insert((m("c"), m("a")));
    let cycle = find_cycle(&edges).unwrap();
    assert_eq!(cycle.first(), cycle.last());
    assert!(cycle.len() >= 3, "{cycle:?}");
    let paths = paths_named("use crate::{a::b, c, d::{e, f}};\nuse super::super::g::h;\nx::y");
    assert_eq!(
        paths,
        ["crate::a", "crate::c", "crate::d", "super::super::g::h"]
    );
}

/// README.md's "What is here" table: each row's backquoted names.
fn file_map_rows() -> Vec<Vec<String>> {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("## What is here")
        .nth(1)
        .expect("README.md has a section \"What is here\"");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.split('`').skip(1).step_by(2).map(String::from).collect())
        .collect()
}

/// Every Rust file of the crate and every script of the page is named in the file map: by its path, or
/// by its name (with or without its extension) in a row that names its folder. Every path the map names
/// exists.
#[test]
fn the_readme_file_map_names_every_source_file() {
    let rows = file_map_rows();
    assert!(rows.len() >= 10, "{rows:?}");
    let mut named = BTreeSet::new();
    for row in &rows {
        let folders: Vec<&String> = row
            .iter()
            .filter(|n| n.ends_with('/') && !n.contains(' '))
            .collect();
        let exists = |name: &str| {
            let name = name.trim_end_matches('/');
            root().join(name).exists() || folders.iter().any(|f| root().join(f).join(name).exists())
        };
        for name in row {
            let file = [".rs", ".js", ".mjs"].iter().any(|e| name.ends_with(e));
            if name.contains('/') || file {
                assert!(
                    exists(name),
                    "README.md's file map names {name}, which is not there"
                );
                named.insert(name.clone());
            }
            for folder in &folders {
                named.insert(format!("{folder}{name}"));
                for ext in [".rs", ".js"] {
                    named.insert(format!("{folder}{name}{ext}"));
                }
            }
        }
    }
    let sources: Vec<String> = files("src", ".rs")
        .into_iter()
        .chain(files("www", ".js"))
        .collect();
    assert!(sources.len() > 50, "{sources:?}");
    let missing: Vec<&String> = sources.iter().filter(|f| !named.contains(*f)).collect();
    assert!(
        missing.is_empty(),
        "README.md's file map does not name {missing:?}"
    );
}

/// The file map lists the crate's top-level modules one row each, in the order of their layers: each
/// module imports only modules listed in rows above its own.
#[test]
fn the_file_map_lists_the_modules_in_the_order_of_their_layers() {
    let rows = file_map_rows();
    let row_of = |module: &str| {
        let names = [format!("src/{module}/"), format!("src/{module}.rs")];
        rows.iter()
            .position(|row| row.first().is_some_and(|first| names.contains(first)))
            .unwrap_or_else(|| panic!("README.md's file map has no row of its own for {module}"))
    };
    let edges = sibling_edges();
    let top: BTreeSet<(&str, &str)> = edges
        .iter()
        .filter(|(a, _)| a.len() == 1)
        .map(|(a, b)| (a[0].as_str(), b[0].as_str()))
        .collect();
    assert!(top.len() > 20, "{top:?}");
    for (from, to) in top {
        assert!(
            row_of(to) < row_of(from),
            "{from} imports {to}, which README.md's file map lists below it"
        );
    }
}

/// The static imports between the page's scripts (`from "./x.js"`), as edges between their paths.
fn script_edges() -> BTreeSet<(Vec<String>, Vec<String>)> {
    let mut edges = BTreeSet::new();
    for file in files("www", ".js") {
        let text = fs::read_to_string(root().join(&file)).unwrap();
        let dir = Path::new(&file).parent().unwrap().to_path_buf();
        for part in text.split("from \"").skip(1) {
            let target = part.split('"').next().unwrap();
            if !target.starts_with('.') {
                continue;
            }
            let mut path: Vec<&str> = dir.to_str().unwrap().split('/').collect();
            for segment in target.split('/') {
                match segment {
                    "." => {}
                    ".." => {
                        path.pop();
                    }
                    s => path.push(s),
                }
            }
            let to = path.join("/");
            assert!(
                root().join(&to).exists(),
                "{file} imports {to}, which is not there"
            );
            edges.insert((vec![file.clone()], vec![to]));
        }
    }
    edges
}

/// No cycle of static imports among the page's scripts: `app.js` wires the sections, the sections use
/// `lib/` and sections before them, and `lib/` uses only `lib/`.
#[test]
fn no_cycle_of_imports_between_the_pages_scripts() {
    let edges = script_edges();
    let has = |a: &str, b: &str| edges.contains(&(vec![a.to_string()], vec![b.to_string()]));
    assert!(has("www/app.js", "www/sections/classify.js"));
    assert!(has("www/sections/map.js", "www/sections/classify.js"));
    assert!(has("www/worker.js", "www/lib/protocol.js"));
    assert_eq!(find_cycle(&edges), None);
    for (from, to) in &edges {
        if from[0].starts_with("www/lib/") {
            assert!(to[0].starts_with("www/lib/"), "{from:?} imports {to:?}");
        }
    }
}
