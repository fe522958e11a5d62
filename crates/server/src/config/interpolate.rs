//! `${VAR}` and `${VAR:-default}` in config strings, resolved from the environment. A missing
//! variable without a default is an error at its path, never a silent empty string.

use serde_yaml::Value;

use super::ConfigError;

pub fn interpolate(value: &mut Value, path: &str, env: &dyn Fn(&str) -> Option<String>, errors: &mut Vec<ConfigError>) {
    match value {
        Value::String(s) if s.contains("${") => match expand(s, env) {
            Ok(expanded) => *s = expanded,
            Err(message) => errors.push(ConfigError::new(path, message)),
        },
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let key = k.as_str().map(str::to_string).unwrap_or_else(|| format!("{k:?}"));
                interpolate(v, &join(path, &key), env, errors);
            }
        }
        Value::Sequence(seq) => {
            for (i, v) in seq.iter_mut().enumerate() {
                interpolate(v, &format!("{path}[{i}]"), env, errors);
            }
        }
        _ => {}
    }
}

pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn expand(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| "unclosed `${` in value".to_string())?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`${{{inner}}}` is not a valid variable reference; use ${{NAME}} or ${{NAME:-default}}"));
        }
        match (env(name).filter(|v| !v.is_empty()), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => return Err(format!("environment variable `{name}` is not set (write ${{{name}:-default}} for a default)")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        (k == "KEY").then(|| "sk-1".to_string())
    }

    #[test]
    fn expands_and_reports_missing_variables() {
        let mut v: Value = serde_yaml::from_str("a: ${KEY}\nb: ['x-${MISSING:-dflt}-y']\nc: ${NOPE}\nd: ${bad name}").unwrap();
        let mut errors = Vec::new();
        interpolate(&mut v, "", &env, &mut errors);
        assert_eq!(v["a"], Value::from("sk-1"));
        assert_eq!(v["b"][0], Value::from("x-dflt-y"));
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["c", "d"]);
        assert!(errors[0].message.contains("`NOPE` is not set"));
    }
}
