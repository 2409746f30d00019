//! Preset files: the versioned TOML files embedded in the binary and those in
//! `[daemon] presets_dir` (which replace embedded ones of the same name), parsed and
//! validated like config, with errors naming the file, line and key.

use super::load::{ConfigError, Doc};
use crate::content::{AgentPatterns, PatternError, Preset};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use toml::Spanned;

/// The preset file format this pulsewatch reads.
pub const FORMAT: u32 = 1;

/// Presets compiled into the binary: (name, file text).
pub const EMBEDDED: &[(&str, &str)] = &[
    ("aider", include_str!("../../config/presets/aider.toml")),
    ("claude", include_str!("../../config/presets/claude.toml")),
    ("codex", include_str!("../../config/presets/codex.toml")),
    ("gemini", include_str!("../../config/presets/gemini.toml")),
    ("none", include_str!("../../config/presets/none.toml")),
    ("spinners", include_str!("../../config/presets/spinners.toml")),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPreset {
    format: Spanned<u32>,
    version: u32,
    #[serde(default)]
    #[allow(dead_code)]
    description: String,
    /// Another preset whose patterns come first (one level: that one may not extend).
    extends: Option<Spanned<String>>,
    #[serde(default)]
    redraw: RawRedraw,
    #[serde(default)]
    busy: RawLines,
    #[serde(default)]
    awaiting_input: RawLines,
    #[serde(default)]
    idle: RawLines,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRedraw {
    strip: Vec<Spanned<String>>,
    lines: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLines {
    lines: Vec<Spanned<String>>,
}

impl RawPreset {
    /// Each pattern list by the name errors use.
    fn lists(&self) -> [(&'static str, &[Spanned<String>]); 5] {
        [
            ("redraw.strip", &self.redraw.strip),
            ("redraw.lines", &self.redraw.lines),
            ("busy.lines", &self.busy.lines),
            ("awaiting_input.lines", &self.awaiting_input.lines),
            ("idle.lines", &self.idle.lines),
        ]
    }
}

/// Every preset a config can name.
#[derive(Debug, Clone, Default)]
pub struct PresetLibrary {
    presets: BTreeMap<String, Arc<Preset>>,
}

impl PresetLibrary {
    pub fn get(&self, name: &str) -> Option<&Arc<Preset>> {
        self.presets.get(name)
    }

    pub fn presets(&self) -> impl Iterator<Item = &Arc<Preset>> {
        self.presets.values()
    }

    pub fn names(&self) -> String {
        self.presets.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
    }

    /// The embedded presets alone.
    pub fn embedded() -> &'static PresetLibrary {
        static LIB: OnceLock<PresetLibrary> = OnceLock::new();
        LIB.get_or_init(|| {
            let files = EMBEDDED.iter().map(|(name, text)| (name.to_string(), Source::embedded(name, text))).collect();
            build(&files).expect("embedded presets are valid")
        })
    }

    /// The embedded presets, overridden and extended by `*.toml` files in `dir` (a missing `dir`
    /// adds nothing).
    pub fn load(dir: Option<&Path>) -> Result<PresetLibrary, ConfigError> {
        let Some(dir) = dir else {
            return Ok(PresetLibrary::embedded().clone());
        };
        // Like a registry directory, one that does not exist (yet) holds nothing; `config
        // check` lists the presets in effect and where each came from.
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(PresetLibrary::embedded().clone()),
            Err(source) => return Err(ConfigError::Read { path: dir.display().to_string(), source }),
        };
        let mut paths: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        let mut files = Vec::new();
        for path in paths {
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let text = std::fs::read_to_string(&path)
                .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
            files.push((name, path.display().to_string(), text));
        }
        PresetLibrary::with_files(files)
    }

    /// The embedded presets, overridden and extended by preset files given as (name, file,
    /// text), checked and built exactly as `load` does with the files of a directory (the
    /// preset fuzz target's entry point).
    pub fn with_files(files: Vec<(String, String, String)>) -> Result<PresetLibrary, ConfigError> {
        let mut all: BTreeMap<String, Source> =
            EMBEDDED.iter().map(|(name, text)| (name.to_string(), Source::embedded(name, text))).collect();
        for (name, label, text) in files {
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                let doc = Doc { path: &label, text: &text };
                return Err(doc.error(0..0, "(file name)", "preset names use only A-Z a-z 0-9 _ -"));
            }
            all.insert(name, Source { label: label.clone(), text, origin: label });
        }
        build(&all)
    }
}

/// One preset file's text and where it came from.
struct Source {
    /// What errors name: the file, or "(embedded preset NAME)".
    label: String,
    text: String,
    /// "embedded" or the file.
    origin: String,
}

impl Source {
    fn embedded(name: &str, text: &str) -> Source {
        Source { label: format!("(embedded preset {name})"), text: text.to_string(), origin: "embedded".into() }
    }

    fn doc(&self) -> Doc<'_> {
        Doc { path: &self.label, text: &self.text }
    }
}

/// Compiles every preset; one that `extends` another gets that one's patterns first, so an
/// override of `spinners` reaches the agent presets built on it.
fn build(files: &BTreeMap<String, Source>) -> Result<PresetLibrary, ConfigError> {
    let raws = files
        .iter()
        .map(|(name, src)| Ok((name.as_str(), parse(&src.doc())?)))
        .collect::<Result<BTreeMap<&str, RawPreset>, ConfigError>>()?;
    let mut lib = PresetLibrary::default();
    // Bases first: a bad pattern a preset inherits is then reported in the base's own file.
    let mut order: Vec<(&&str, &RawPreset)> = raws.iter().collect();
    order.sort_by_key(|(name, raw)| (raw.extends.is_some(), **name));
    for (name, raw) in order {
        let doc = files[*name].doc();
        let base = match &raw.extends {
            None => None,
            Some(b) => match raws.get(b.get_ref().as_str()) {
                Some(base) if base.extends.is_none() => Some(base),
                // An embedded preset is fine as shipped: the fault is in the presets_dir file
                // that replaced its base with one that extends another.
                Some(base) if files[*name].origin == "embedded" => {
                    let span = base.extends.as_ref().map_or(0..0, Spanned::span);
                    let msg = format!("preset {name:?} extends this one, so it may not extend another itself");
                    return Err(files[b.get_ref().as_str()].doc().error(span, "extends", msg));
                }
                Some(_) => {
                    return Err(doc.error(
                        b.span(),
                        "extends",
                        format!("{:?} extends another preset itself", b.get_ref()),
                    ));
                }
                None => {
                    let names = raws.keys().copied().collect::<Vec<_>>().join(", ");
                    return Err(doc.error(
                        b.span(),
                        "extends",
                        format!("unknown preset {:?} (available: {names})", b.get_ref()),
                    ));
                }
            },
        };
        let lists = raw.lists();
        let merged: Vec<Vec<String>> = lists
            .iter()
            .enumerate()
            .map(|(i, (_, own))| {
                let inherited = base.map_or(&[][..], |b| b.lists()[i].1);
                inherited.iter().chain(own.iter()).map(|s| s.get_ref().clone()).collect()
            })
            .collect();
        let [strip, lines, busy, awaiting_input, idle] = <[Vec<String>; 5]>::try_from(merged).expect("five lists");
        let agent = AgentPatterns { busy, awaiting_input, idle };
        // The embedded files are validated by the tests; a file from presets_dir (itself or
        // as a base) is checked now, so `config check` names its errors.
        let validate = files[*name].origin != "embedded"
            || raw.extends.as_ref().is_some_and(|b| files[b.get_ref().as_str()].origin != "embedded");
        let preset = Preset::new(name, raw.version, &files[*name].origin, strip, lines, agent, validate).map_err(
            |e: PatternError| {
                // Inherited patterns compiled with their own preset; the fault is in this file.
                let (i, own) =
                    lists.iter().enumerate().find(|(_, (l, _))| *l == e.list).map_or((0, &[][..]), |(i, l)| (i, l.1));
                let skip = base.map_or(0, |b| b.lists()[i].1.len());
                let span = e.index.checked_sub(skip).and_then(|k| own.get(k)).map_or(0..0, |s| s.span());
                doc.error(span, e.list, format!("invalid regex {:?}: {}", e.pattern, e.message))
            },
        )?;
        lib.presets.insert(name.to_string(), Arc::new(preset));
    }
    Ok(lib)
}

fn parse(doc: &Doc) -> Result<RawPreset, ConfigError> {
    let raw: RawPreset = toml::from_str(doc.text).map_err(|e| doc.toml_error(e))?;
    if *raw.format.get_ref() != FORMAT {
        return Err(doc.error(
            raw.format.span(),
            "format",
            format!("preset format {} is not {FORMAT} (written for another pulsewatch version)", raw.format.get_ref()),
        ));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_presets_load() {
        let lib = PresetLibrary::embedded();
        assert_eq!(lib.names(), "aider, claude, codex, gemini, none, spinners");
        assert_eq!(lib.get("spinners").unwrap().version, 2);
        // Compiled lazily in the daemon: every embedded pattern must compile.
        for p in lib.presets() {
            p.validate().unwrap();
        }
    }

    #[test]
    fn directory_overrides_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("spinners.toml"), "format = 1\nversion = 7\n").unwrap();
        std::fs::write(dir.path().join("mine.toml"), "format = 1\nversion = 1\n[redraw]\nlines = ['^x']\n").unwrap();
        let lib = PresetLibrary::load(Some(dir.path())).unwrap();
        assert_eq!(lib.get("spinners").unwrap().version, 7);
        assert_eq!(lib.names(), "aider, claude, codex, gemini, mine, none, spinners");

        std::fs::write(
            dir.path().join("bad.toml"),
            "format = 1\nversion = 1\n[redraw]\nstrip = [\n  'ok',\n  '(',\n]\n",
        )
        .unwrap();
        let e = PresetLibrary::load(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("bad.toml:6:3: `redraw.strip`: invalid regex \"(\""), "{e}");
        std::fs::write(dir.path().join("bad.toml"), "format = 2\nversion = 1\n").unwrap();
        let e = PresetLibrary::load(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("bad.toml:1:10: `format`"), "{e}");
        std::fs::write(dir.path().join("bad.toml"), "format = 1\nversion = 1\n[redraw]\nstirp = []\n").unwrap();
        let e = PresetLibrary::load(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("bad.toml:4:1") && e.contains("stirp"), "{e}");
        assert_eq!(
            PresetLibrary::load(Some(&dir.path().join("nope"))).unwrap().names(),
            "aider, claude, codex, gemini, none, spinners"
        );
        assert!(PresetLibrary::load(Some(&dir.path().join("mine.toml"))).is_err(), "not a directory");
    }

    /// Errors in a base that other presets extend name the base's file, not the first
    /// embedded preset built on it.
    #[test]
    fn a_bad_base_is_blamed_for_itself() {
        let lib = |text: &str| {
            let files = vec![("spinners".into(), "/p/spinners.toml".into(), text.into())];
            PresetLibrary::with_files(files).unwrap_err().to_string()
        };
        let e = lib("format = 1\nversion = 3\n[redraw]\nstrip = ['(']\n");
        assert!(e.starts_with("/p/spinners.toml:4:10: `redraw.strip`: invalid regex \"(\""), "{e}");
        let e = lib("format = 1\nversion = 3\nextends = \"none\"\n");
        assert!(e.starts_with("/p/spinners.toml:3:11: `extends`: preset \"aider\" extends this one"), "{e}");
        let files = vec![("bad name".into(), "/p/bad name.toml".into(), "format = 1\nversion = 1\n".into())];
        assert!(PresetLibrary::with_files(files).unwrap_err().to_string().starts_with("/p/bad name.toml"));
    }

    #[test]
    fn config_names_bad_content_settings() {
        use crate::config::load_str;
        #[rustfmt::skip]
        let cases: &[(&str, &str)] = &[
            ("[defaults]\nignore = [\n  '^ok',\n  '([a-z]',\n]\n",
             "x.toml:4:3: `defaults.ignore`: invalid regex \"([a-z]\""),
            ("[[worker]]\nid = \"w\"\nlog = \"/l\"\nignore_preset = \"claud\"\n",
             "x.toml:4:17: `worker.ignore_preset`: unknown preset \"claud\" (available: aider, claude, codex, gemini, none, spinners)"),
            ("[[discover]]\nlogs = \"/l/*.log\"\nmin_new_chars = 0\n",
             "x.toml:3:17: `discover.min_new_chars`: must be at least 1"),
            ("[defaults]\nactivity = \"contnet\"\n", "x.toml:2:12: `defaults.activity`: unknown activity"),
        ];
        for (text, want) in cases {
            let e = load_str(text, Some("x.toml".into())).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e}\nwanted: {want}");
        }
    }

    #[test]
    fn config_compiles_rules_once_per_table() {
        use crate::config::{Activity, load_str};
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("spinners.toml"), "format = 1\nversion = 9\n").unwrap();
        let text = format!(
            "[daemon]\npresets_dir = {:?}\n[defaults]\nactivity = \"content\"\n\
             [[worker]]\nid = \"a\"\nlog = \"/a\"\n[[worker]]\nid = \"b\"\nlog = \"/b\"\nignore = ['^x']\n",
            dir.path()
        );
        let cfg = load_str(&text, None).unwrap();
        let (a, b) = (&cfg.workers[0].settings, &cfg.workers[1].settings);
        assert_eq!(a.activity, Activity::Content);
        // The directory's spinners replaces the embedded one, in the defaults too.
        assert_eq!(a.rules.preset.version, 9);
        assert!(Arc::ptr_eq(&a.rules, &cfg.defaults.rules));
        assert_eq!(b.rules.ignore_src, ["^x"]);
        assert_eq!(b.rules.preset.version, 9);
    }
}
