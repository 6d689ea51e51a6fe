//! The README's table of defaults, checked against the code: a file that
//! sets a setting to its documented default must read exactly like a file
//! that leaves it out.

use super::parse;

const README: &str = include_str!("../../README.md");
const MINIMAL: &str = "listen: { address: \"127.0.0.1:8443\", tls: { cert: a.pem, key: a.key } }\nupstream: { url: \"http://127.0.0.1:8080\" }\n";

/// (setting path, documented default) for each row of "### Defaults".
fn documented() -> Vec<(String, String)> {
    let table = README
        .split("### Defaults")
        .nth(1)
        .expect("the README has a Defaults section");
    table
        .lines()
        .skip_while(|l| !l.starts_with("| `"))
        .take_while(|l| l.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(|c| c.trim().trim_matches('`')).collect();
            (cells[1].to_owned(), cells[2].to_owned())
        })
        .collect()
}

/// `yaml` with the sections on `path` present (empty if new) and, with
/// `value`, the setting itself.
fn set(yaml: &mut serde_yaml::Value, path: &str, value: Option<&str>) {
    let parts: Vec<&str> = path.split('.').collect();
    let mut at = yaml;
    for part in &parts[..parts.len() - 1] {
        let map = at.as_mapping_mut().expect("a section");
        let key = serde_yaml::Value::from(*part);
        if !map.contains_key(&key) {
            map.insert(key.clone(), serde_yaml::Mapping::new().into());
        }
        at = map.get_mut(&key).expect("just inserted");
    }
    if let Some(value) = value {
        let map = at.as_mapping_mut().expect("a section");
        map.insert(
            parts[parts.len() - 1].into(),
            serde_yaml::from_str(value).expect("a YAML value"),
        );
    }
}

/// The config read from MINIMAL with `path` set to `value` (or its
/// sections only), plus what its section needs to exist at all.
fn read(path: &str, value: Option<&str>) -> Result<super::RawConfig, super::ConfigError> {
    let mut yaml: serde_yaml::Value = serde_yaml::from_str(MINIMAL).expect("MINIMAL is YAML");
    let needs = [
        ("codes.email.smtp.", "codes.email.smtp.host", "smtp.example"),
        ("codes.email.", "codes.email.console", "true"),
        ("codes.sms.", "codes.sms.webhook.url", "https://sms.example"),
    ];
    if let Some((_, needed, with)) = needs.iter().find(|(prefix, ..)| path.starts_with(prefix)) {
        set(&mut yaml, needed, Some(with));
    }
    set(&mut yaml, path, value);
    parse(&serde_yaml::to_string(&yaml).expect("YAML out"))
}

#[test]
fn every_documented_default_is_the_real_one() {
    let rows = documented();
    assert!(rows.len() >= 25, "the table was not found whole: {rows:?}");
    for (path, value) in rows {
        let set = read(&path, Some(&value)).unwrap_or_else(|e| panic!("{path}: {e}"));
        // Left out: its sections empty, or, where they cannot be, left out too.
        let left_out = read(&path, None)
            .or_else(|_| parse(MINIMAL))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(
            format!("{left_out:?}"),
            format!("{set:?}"),
            "README says {path} defaults to {value}, but setting it to that changes the config"
        );
    }
}
