//! The layering of src/ as a test (issue 18): no import circle between source files, the
//! storage layer stays free of HTTP, and no handler file borrows from another. Reads the sources, not the compiled crate: every
//! `crate::`, `super::` and `self::` path (in `use` lines and inline) is resolved to the file that
//! defines the module it names. `#[cfg(test)]` modules and comments, strings and char literals
//! are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`["store", "units"]`) → its file's text, for the library's sources.
type Sources = BTreeMap<Vec<String>, String>;

/// Imports of src/store into HTTP that exist today, to be removed (issue 18); no new ones.
const STORE_HTTP_EXCEPTIONS: &[(&str, &str)] = &[
    ("store/alerts", "http/pagination"),
    ("store/alerts", "http/preconditions"),
    ("store/assessments", "http/preconditions"),
    ("store/assignments", "http/pagination"),
    ("store/briefings", "http/pagination"),
    ("store/categories", "http/pagination"),
    ("store/categories", "http/preconditions"),
    ("store/deadline_policies", "http/pagination"),
    ("store/deadline_policies", "http/preconditions"),
    ("store/deadlines", "http/pagination"),
    ("store/dispatch_rules", "http/pagination"),
    ("store/dispatch_rules", "http/preconditions"),
    ("store/extensions", "http/pagination"),
    ("store/feedback", "http/pagination"),
    ("store/integration_clients", "http/pagination"),
    ("store/integration_clients", "http/preconditions"),
    ("store/leaders", "http/pagination"),
    ("store/leaders", "http/preconditions"),
    ("store/messages", "http/pagination"),
    ("store/messages", "http/preconditions"),
    ("store/regions", "http/pagination"),
    ("store/regions", "http/preconditions"),
    ("store/replies", "http/pagination"),
    ("store/replies", "http/preconditions"),
    ("store/statistics", "http/preconditions"),
    ("store/supervision", "http/pagination"),
    ("store/units", "http/pagination"),
    ("store/units", "http/preconditions"),
    ("store/users", "http/pagination"),
    ("store/users", "http/preconditions"),
    ("store/visits", "http/pagination"),
    ("store/webhooks", "http/pagination"),
    ("store/webhooks", "http/preconditions"),
];

#[test]
fn no_import_circles_between_source_files() {
    let sources = library_sources();
    let graph = import_graph(&sources);
    let cycles = cycles(&graph);
    assert!(
        cycles.is_empty(),
        "import circles between files of src/ (break each, e.g. by moving the shared item to the \
         lower module):\n{}",
        cycles
            .iter()
            .map(|c| format!("  {}", c.join(" -> ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn store_imports_no_http_routes_or_actix() {
    let sources = library_sources();
    let graph = import_graph(&sources);
    let mut found = BTreeSet::new();
    let mut actix = Vec::new();
    for (module, targets) in &graph {
        let from = module.join("/");
        if module.first().map(String::as_str) != Some("store") {
            continue;
        }
        for to in targets {
            if matches!(to.first().map(String::as_str), Some("http" | "routes")) {
                found.insert((from.clone(), to.join("/")));
            }
        }
        if contains_ident_prefix(&sources[module], "actix") {
            actix.push(from);
        }
    }
    assert!(actix.is_empty(), "src/store uses actix: {actix:?}");
    assert_only_listed(
        &found,
        STORE_HTTP_EXCEPTIONS,
        "STORE_HTTP_EXCEPTIONS",
        "src/store must not import crate::http or crate::routes",
    );
}

/// Handler files that still borrow from another handler file (issue 18): DTOs and helpers that
/// belong in `app/` or beside the wire types. To be removed; no new ones.
const HANDLER_IMPORT_EXCEPTIONS: &[(&str, &str)] = &[
    ("routes/alerts", "routes/dispatch_rules"),
    ("routes/briefings", "routes/supervision"),
    ("routes/feedback", "routes/messages"),
    ("routes/handling", "routes/deadlines"),
    ("routes/open311", "routes/public"),
    ("routes/public", "routes/messages"),
    ("routes/replies", "routes/messages"),
    ("routes/sync", "routes/messages"),
    ("routes/users", "routes/auth"),
];

#[test]
fn no_handler_file_imports_another() {
    let sources = library_sources();
    let graph = import_graph(&sources);
    let mut found = BTreeSet::new();
    // A resource is `routes/<name>` (a file, or a folder whose files are one resource);
    // routes/mod.rs holds the shared helpers of the folder.
    let resource = |m: &[String]| (m.len() >= 2 && m[0] == "routes").then(|| m[..2].join("/"));
    for (module, targets) in &graph {
        let Some(from) = resource(module) else {
            continue;
        };
        for to in targets {
            if let Some(to) = resource(to).filter(|to| *to != from) {
                found.insert((from.clone(), to));
            }
        }
    }
    assert_only_listed(
        &found,
        HANDLER_IMPORT_EXCEPTIONS,
        "HANDLER_IMPORT_EXCEPTIONS",
        "a handler file must not import another (move the shared item to app/, domain/ or http/)",
    );
}

/// `found` imports against a list of today's exceptions: none outside it, and none in it that
/// is gone (a removed import leaves the list, so that it cannot come back unnoticed).
fn assert_only_listed(
    found: &BTreeSet<(String, String)>,
    list: &[(&str, &str)],
    list_name: &str,
    rule: &str,
) {
    let known: BTreeSet<(String, String)> = list
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    let new: Vec<_> = found.difference(&known).collect();
    assert!(new.is_empty(), "{rule}; new: {new:?}");
    let gone: Vec<_> = known.difference(found).collect();
    assert!(
        gone.is_empty(),
        "remove these from {list_name}, they are gone: {gone:?}"
    );
}

/// The checker itself: it sees `use` trees, inline paths, `super::` and leaves out comments,
/// strings and test modules.
#[test]
fn the_checker_resolves_paths_and_finds_a_circle() {
    let mut sources = Sources::new();
    let m = |s: &str| s.split('/').map(str::to_owned).collect::<Vec<_>>();
    sources.insert(vec![], String::new());
    sources.insert(m("a"), "use crate::{b::{self, X}, c};\n".into());
    sources.insert(
        m("b"),
        "// crate::a\nconst S: &str = \"crate::a // \"; fn f() { let c = '\"'; crate::d::g(); }\n\
         #[cfg(test)]\nmod tests { use crate::a; }\n"
            .into(),
    );
    sources.insert(m("c"), String::new());
    sources.insert(m("d"), String::new());
    sources.insert(m("d/e"), "fn f() { super::f::x(); }\n".into());
    sources.insert(
        m("d/f"),
        "pub fn x<'a>(_: &'a str) { self::y(); } use super::e;".into(),
    );
    let graph = import_graph(&sources);
    let edges = |k: &str| graph[&m(k)].iter().map(|t| t.join("/")).collect::<Vec<_>>();
    assert_eq!(edges("a"), ["b", "c"]);
    assert_eq!(edges("b"), ["d"]);
    assert_eq!(edges("d/e"), ["d/f"]);
    assert_eq!(edges("d/f"), ["d/e"]);
    assert_eq!(cycles(&graph), [vec!["d/e", "d/f", "d/e"]]);
}

fn library_sources() -> Sources {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Sources::new();
    collect(&src, &src, &mut out);
    out
}

fn collect(root: &Path, dir: &Path, out: &mut Sources) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src/")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(root, &path, out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = path.strip_prefix(root).expect("under src/");
        let mut module: Vec<String> = rel
            .with_extension("")
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        match module.as_slice() {
            // The binary is its own crate: `crate::` there is main.rs.
            [m] if m == "main" => continue,
            [first, ..] if first == "bin" => continue,
            [m] if m == "lib" => module.clear(),
            [.., last] if last == "mod" => {
                module.pop();
            }
            _ => {}
        }
        let text = std::fs::read_to_string(&path).expect("read a source file");
        out.insert(module, text);
    }
}

/// File → the files it names (itself and the crate root left out).
fn import_graph(sources: &Sources) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut graph = BTreeMap::new();
    for (module, text) in sources {
        let code = drop_test_modules(&strip_comments_and_literals(text));
        let mut targets = BTreeSet::new();
        for path in paths(&code) {
            let Some(absolute) = absolute(module, &path) else {
                continue;
            };
            // The longest prefix that is a file; the rest are items inside it.
            let file = (1..=absolute.len())
                .rev()
                .map(|n| absolute[..n].to_vec())
                .find(|p| sources.contains_key(p));
            if let Some(file) = file
                && &file != module
            {
                targets.insert(file);
            }
        }
        graph.insert(module.clone(), targets);
    }
    graph
}

/// `crate::`/`super::`/`self::` paths relative to `module` made absolute.
fn absolute(module: &[String], path: &[String]) -> Option<Vec<String>> {
    let mut base: Vec<String>;
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => {
            base = Vec::new();
            rest = &path[1..];
        }
        Some("self") => {
            base = module.to_vec();
            rest = &path[1..];
        }
        Some("super") => {
            base = module.to_vec();
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    base.extend(rest.iter().filter(|s| *s != "self" && *s != "*").cloned());
    Some(base)
}

/// Every path that starts with `crate`, `super` or `self`: `use` trees expanded, inline paths as
/// written.
fn paths(code: &str) -> Vec<Vec<String>> {
    let tokens = tokenize(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i] == "use" {
            let end = tokens[i..]
                .iter()
                .position(|t| t == ";")
                .map_or(tokens.len(), |p| i + p);
            use_tree(&tokens[i + 1..end], &[], &mut out);
            i = end;
            continue;
        }
        let starts = matches!(tokens[i].as_str(), "crate" | "super" | "self")
            && tokens.get(i + 1).map(String::as_str) == Some("::")
            && (i == 0 || (tokens[i - 1] != "::" && tokens[i - 1] != "$"));
        if starts {
            let mut path = vec![tokens[i].clone()];
            let mut j = i + 1;
            while tokens.get(j).map(String::as_str) == Some("::")
                && tokens.get(j + 1).is_some_and(|t| is_ident(t))
            {
                path.push(tokens[j + 1].clone());
                j += 2;
            }
            out.push(path);
            i = j;
            continue;
        }
        i += 1;
    }
    out
}

/// Expands `a::{b, c::{self, d}}` into its paths.
fn use_tree(tokens: &[String], prefix: &[String], out: &mut Vec<Vec<String>>) {
    for part in split_top_level(tokens) {
        let mut p = prefix.to_vec();
        let mut k = 0;
        while k < part.len() {
            match part[k].as_str() {
                "::" | "pub" | "(" | ")" => k += 1,
                "as" => break,
                "{" => {
                    let close = matching_brace(part, k);
                    use_tree(&part[k + 1..close], &p, out);
                    p.clear();
                    break;
                }
                t => {
                    p.push(t.to_owned());
                    k += 1;
                }
            }
        }
        if !p.is_empty() {
            out.push(p);
        }
    }
}

fn split_top_level(tokens: &[String]) -> Vec<&[String]> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (k, t) in tokens.iter().enumerate() {
        match t.as_str() {
            "{" => depth += 1,
            "}" => depth = depth.saturating_sub(1),
            "," if depth == 0 => {
                parts.push(&tokens[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    parts.push(&tokens[start..]);
    parts
}

fn matching_brace(tokens: &[String], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, t) in tokens.iter().enumerate().skip(open) {
        match t.as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Identifiers, `::` and single punctuation characters.
fn tokenize(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push("::".to_owned());
            i += 2;
        } else {
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
            i += 1;
        }
    }
    out
}

/// Whether `ident` or `ident_…` appears as an identifier (e.g. `actix` covers `actix_web`).
fn contains_ident_prefix(text: &str, ident: &str) -> bool {
    let code = drop_test_modules(&strip_comments_and_literals(text));
    tokenize(&code)
        .iter()
        .any(|t| t == ident || t.starts_with(&format!("{ident}_")))
}

/// Blanks comments, string and char literals (lifetimes stay), keeping the rest as written.
fn strip_comments_and_literals(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '/' if c.get(i + 1) == Some(&'/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            '/' if c.get(i + 1) == Some(&'*') => {
                let mut depth = 0;
                while i < c.len() {
                    if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                out.push(' ');
            }
            'r' if (c.get(i + 1) == Some(&'"') || c.get(i + 1) == Some(&'#'))
                && (i == 0 || !(c[i - 1].is_alphanumeric() || c[i - 1] == '_')) =>
            {
                // Raw string r"…", r#"…"#: ends at a quote followed by as many #.
                let mut j = i + 1;
                let mut hashes = 0;
                while c.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                if c.get(j) != Some(&'"') {
                    out.push(c[i]);
                    i += 1;
                    continue;
                }
                j += 1;
                while j < c.len() {
                    if c[j] == '"' && (1..=hashes).all(|h| c.get(j + h) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j;
            }
            '"' => {
                i += 1;
                while i < c.len() && c[i] != '"' {
                    if c[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                out.push_str("\"\"");
            }
            '\'' => {
                // A char literal ('x', '\n', '\u{..}') or a lifetime ('a, 'static).
                if c.get(i + 1) == Some(&'\\') {
                    let mut j = i + 2;
                    while j < c.len() && c[j] != '\'' {
                        j += 1;
                    }
                    i = j + 1;
                    out.push_str("' '");
                } else if c.get(i + 2) == Some(&'\'') {
                    i += 3;
                    out.push_str("' '");
                } else {
                    out.push('\'');
                    i += 1;
                }
            }
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

/// Removes `#[cfg(test)] mod name { … }` blocks: tests may reach anywhere.
fn drop_test_modules(code: &str) -> String {
    let mut out = code.to_owned();
    while let Some(at) = out.find("#[cfg(test)]") {
        let after = &out[at + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        let is_mod = trimmed.starts_with("mod ") || trimmed.starts_with("pub mod ");
        let open = trimmed.find(['{', ';']);
        let (Some(open), true) = (open, is_mod) else {
            // Another item under cfg(test): keep it, drop only the attribute.
            out.replace_range(at..at + "#[cfg(test)]".len(), "");
            continue;
        };
        let start_of_trimmed = at + "#[cfg(test)]".len() + (after.len() - trimmed.len());
        let open = start_of_trimmed + open;
        if out.as_bytes()[open] == b';' {
            out.replace_range(at..=open, "");
            continue;
        }
        let mut depth = 0usize;
        let mut end = out.len();
        for (k, b) in out.bytes().enumerate().skip(open) {
            match b {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.replace_range(at..end, "");
    }
    out
}

/// Every strongly connected set of two or more files, as one circle through it
/// (`a -> b -> a`).
fn cycles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    let nodes: Vec<&Vec<String>> = graph.keys().collect();
    let index: BTreeMap<&Vec<String>, usize> =
        nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let adj: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| {
            graph[*n]
                .iter()
                .filter_map(|t| index.get(t).copied())
                .collect()
        })
        .collect();
    // Tarjan, iteratively.
    let n = nodes.len();
    let (mut idx, mut low, mut on) = (vec![usize::MAX; n], vec![0; n], vec![false; n]);
    let (mut stack, mut counter, mut sccs) = (Vec::new(), 0, Vec::new());
    for root in 0..n {
        if idx[root] != usize::MAX {
            continue;
        }
        let mut work = vec![(root, 0usize)];
        while let Some((v, child)) = work.pop() {
            if child == 0 {
                idx[v] = counter;
                low[v] = counter;
                counter += 1;
                stack.push(v);
                on[v] = true;
            }
            if let Some(&w) = adj[v].get(child) {
                work.push((v, child + 1));
                if idx[w] == usize::MAX {
                    work.push((w, 0));
                } else if on[w] {
                    low[v] = low[v].min(idx[w]);
                }
                continue;
            }
            if low[v] == idx[v] {
                let mut scc = Vec::new();
                while let Some(w) = stack.pop() {
                    on[w] = false;
                    scc.push(w);
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    sccs.push(scc);
                }
            }
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
        }
    }
    sccs.into_iter()
        .map(|scc| circle_through(&scc, &adj))
        .map(|c| c.iter().map(|&i| nodes[i].join("/")).collect())
        .collect()
}

/// A shortest circle from the smallest member of a strongly connected set back to it.
fn circle_through(scc: &[usize], adj: &[Vec<usize>]) -> Vec<usize> {
    let members: BTreeSet<usize> = scc.iter().copied().collect();
    let start = *members.first().expect("non-empty");
    let mut prev = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in &adj[v] {
            if !members.contains(&w) {
                continue;
            }
            if w == start {
                let mut path = vec![v];
                while let Some(&p) = prev.get(path.last().expect("non-empty")) {
                    path.push(p);
                }
                path.reverse();
                path.push(start);
                return path;
            }
            if let std::collections::btree_map::Entry::Vacant(e) = prev.entry(w) {
                e.insert(v);
                queue.push_back(w);
            }
        }
    }
    vec![start, start]
}
