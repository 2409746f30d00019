//! The Prometheus text exposition format (0.0.4), checked line by line; a checked exposition
//! can then be queried by metric name and labels.

use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Default)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    /// Family name → type, as declared by `# TYPE`.
    pub types: HashMap<String, String>,
}

impl Exposition {
    /// The value of the series `name{labels}` (exactly these labels).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.samples.iter().find(|s| s.name == name && s.labels == want).map(|s| s.value)
    }

    pub fn series(&self, name: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.name == name).collect()
    }
}

fn valid_name(n: &str, colon: bool) -> bool {
    let mut c = n.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || (colon && f == ':'))
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || (colon && x == ':'))
}

/// The family a sample belongs to, given the declared types: its own name, or a histogram's
/// or summary's with the suffix of a series of it.
fn family_of<'a>(name: &'a str, types: &HashMap<String, String>) -> Option<&'a str> {
    if types.contains_key(name) {
        return Some(name);
    }
    let suffixes = [
        ("_bucket", "histogram"),
        ("_sum", "histogram"),
        ("_count", "histogram"),
        ("_sum", "summary"),
        ("_count", "summary"),
    ];
    suffixes.into_iter().find_map(|(suffix, kind)| {
        let base = name.strip_suffix(suffix)?;
        (types.get(base).map(String::as_str) == Some(kind)).then_some(base)
    })
}

/// Parses `{a="x",b="y\"z"}` starting at `rest[0] == '{'`; returns the labels and the rest.
fn parse_labels(rest: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut s = &rest[1..];
    loop {
        if let Some(r) = s.strip_prefix('}') {
            return Ok((labels, r));
        }
        let eq = s.find('=').ok_or("label without '='")?;
        let name = &s[..eq];
        if !valid_name(name, false) {
            return Err(format!("invalid label name {name:?}"));
        }
        s = s[eq + 1..].strip_prefix('"').ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    c => return Err(format!("invalid escape \\{c}")),
                },
                (_, '\n') => return Err("raw newline in label value".into()),
                (_, c) => value.push(c),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("duplicate label {name}"));
        }
        s = &s[end + 1..];
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => v.parse::<f64>().map_err(|_| format!("bad value {v:?}")),
    }
}

/// Checks `text` and returns its samples. Timestamps are rejected: pulsewatch writes none.
pub fn parse(text: &str) -> Result<Exposition, String> {
    let mut out = Exposition::default();
    let mut helped = HashSet::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut series = HashSet::new();
    if !text.ends_with('\n') {
        return Err("does not end with a newline".into());
    }
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", i + 1);
        if line.is_empty() {
            return Err(at("empty line".into()));
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, ' ');
            let kind = parts.next().unwrap_or("");
            if kind != "HELP" && kind != "TYPE" {
                continue; // any other comment is allowed
            }
            let name = parts.next().ok_or_else(|| at("no metric name".into()))?;
            if !valid_name(name, true) {
                return Err(at("invalid metric name".into()));
            }
            if finished.contains(name) {
                return Err(at("family declared again after its samples".into()));
            }
            if current.as_deref() != Some(name) {
                if let Some(c) = current.take() {
                    finished.insert(c);
                }
                current = Some(name.to_string());
            }
            if kind == "HELP" && !helped.insert(name.to_string()) {
                return Err(at("second HELP".into()));
            }
            if kind == "TYPE" {
                let t = parts.next().ok_or_else(|| at("TYPE without a type".into()))?;
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&t) {
                    return Err(at(format!("unknown type {t}")));
                }
                if out.types.insert(name.to_string(), t.to_string()).is_some() {
                    return Err(at("second TYPE".into()));
                }
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        if !valid_name(name, true) {
            return Err(at("invalid metric name".into()));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..]).map_err(at)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let fields: Vec<&str> = rest.split(' ').collect();
        if fields.len() != 2 || !fields[0].is_empty() {
            return Err(at("expected exactly one space and a value (no timestamp)".into()));
        }
        let value = parse_value(fields[1]).map_err(at)?;
        let family = family_of(name, &out.types).ok_or_else(|| at("sample of an undeclared family".into()))?;
        if current.as_deref() != Some(family) {
            return Err(at(format!("sample of {family} outside its family's block")));
        }
        if !series.insert((name.to_string(), labels.clone())) {
            return Err(at("duplicate series".into()));
        }
        out.samples.push(Sample { name: name.to_string(), labels, value });
    }
    check_histograms(&out)?;
    Ok(out)
}

/// Buckets are cumulative, and the `+Inf` bucket equals `_count`.
fn check_histograms(e: &Exposition) -> Result<(), String> {
    for (family, t) in &e.types {
        if t != "histogram" {
            continue;
        }
        let mut groups: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for s in e.series(&format!("{family}_bucket")) {
            let le = parse_value(s.labels.get("le").ok_or(format!("{family}: bucket without le"))?)?;
            let mut rest = s.labels.clone();
            rest.remove("le");
            groups.entry(format!("{rest:?}")).or_default().push((le, s.value));
        }
        for (key, mut buckets) in groups {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            if buckets.windows(2).any(|w| w[1].1 < w[0].1) {
                return Err(format!("{family}{key}: buckets not cumulative"));
            }
            let inf = buckets.last().filter(|b| b.0.is_infinite()).ok_or(format!("{family}{key}: no +Inf bucket"))?;
            let count = e.series(&format!("{family}_count")).first().map(|s| s.value);
            if count != Some(inf.1) {
                return Err(format!("{family}{key}: +Inf bucket {} != count {count:?}", inf.1));
            }
        }
    }
    Ok(())
}
