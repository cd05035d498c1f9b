//! Which state_dir a config names, read leniently: an invalid config (exit 2) runs no gate,
//! and must not leave an earlier gate's markers standing in that directory.

use std::path::{Path, PathBuf};

use super::guard::DEFAULT_LISTEN;
use super::{DEFAULT_STATE_DIR, Environment, yaml};

/// The state_dir the config at `path` names, even when the config as a whole is invalid: an
/// invalid config must not leave an earlier gate's markers standing in it. `None` when the
/// file cannot tell (unreadable, or not YAML yet mentioning `state_dir`, or a value that is not
/// a plain path).
pub fn state_dir_of(path: &Path, env: &dyn Environment) -> Option<PathBuf> {
    if let Some(dir) = env.var("BOOTGATE_STATE_DIR") {
        return (!dir.is_empty()).then(|| PathBuf::from(dir));
    }
    let text = crate::files::read_text(path, super::MAX_CONFIG_BYTES).ok()?;
    let declared = match yaml::parse(&text) {
        Ok(yaml::Node {
            value: yaml::Value::Map(entries),
            ..
        }) => entries
            .iter()
            .find(|(key, _, _)| key == "state_dir")
            .map(|(_, _, node)| node.value.clone()),
        Ok(_) => None,
        // Unparsable: the default holds only if the text never names another directory.
        Err(_) if text.contains("state_dir") => return None,
        Err(_) => None,
    };
    match declared {
        None => Some(PathBuf::from(DEFAULT_STATE_DIR)),
        Some(yaml::Value::Scalar(dir)) if !dir.is_empty() && !dir.contains("${") => {
            Some(PathBuf::from(dir))
        }
        Some(_) => None,
    }
}

/// The address the config's guard listens on, read as leniently as [`state_dir_of`]: where
/// `explain` finds the guard beside a gate that has passed. `None` when the file cannot tell.
pub fn listen_of(path: &Path) -> Option<String> {
    let text = crate::files::read_text(path, super::MAX_CONFIG_BYTES).ok()?;
    let yaml::Node {
        value: yaml::Value::Map(entries),
        ..
    } = yaml::parse(&text).ok()?
    else {
        return None;
    };
    match entries.iter().find(|(key, _, _)| key == "listen") {
        None => Some(DEFAULT_LISTEN.to_string()),
        Some((_, _, node)) => match &node.value {
            yaml::Value::Scalar(listen) if !listen.is_empty() && !listen.contains("${") => {
                Some(listen.clone())
            }
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn of(text: &str, vars: &[(&str, &str)]) -> Option<PathBuf> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bootgate.yaml");
        std::fs::write(&path, text).unwrap();
        let env: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        state_dir_of(&path, &env)
    }

    #[test]
    fn the_declared_directory_survives_other_mistakes() {
        let declared = Some(PathBuf::from("/srv/gate"));
        assert_eq!(
            of(
                "state_dir: /srv/gate
checks: {a: {kind: flie}}
",
                &[]
            ),
            declared
        );
        assert_eq!(
            of(
                "checks: {}
",
                &[]
            ),
            Some(PathBuf::from(DEFAULT_STATE_DIR))
        );
        assert_eq!(
            of(
                "state_dir: /srv/gate
",
                &[("BOOTGATE_STATE_DIR", "/env/dir")]
            ),
            Some(PathBuf::from("/env/dir"))
        );
        // Not YAML: the default only if the text names no directory of its own.
        assert_eq!(
            of(
                "checks: [unclosed
",
                &[]
            ),
            Some(PathBuf::from(DEFAULT_STATE_DIR))
        );
        assert_eq!(
            of(
                "state_dir: /srv/gate
checks: [unclosed
",
                &[]
            ),
            None
        );
        assert_eq!(
            of(
                "state_dir: [a, b]
",
                &[]
            ),
            None
        );
        assert_eq!(
            of(
                "state_dir: ${DIR}
",
                &[]
            ),
            None
        );
    }
}
