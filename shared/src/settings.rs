//! Settings parsing, a leaf every configuration builds on: a pure lookup
//! (the process environment at cold start, a map in tests), typed readers
//! whose every failure names the variable at fault, and the
//! [`FromSettings`] trait each configuration implements. The shared
//! configuration (`config`), the level rules and every source's own
//! settings read through it; it imports nothing of the crate.

use thiserror::Error;

/// A setting that is missing or does not parse. The message names the variable.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(name: &'static str, problem: impl Into<String>) -> Self {
        Self {
            name,
            problem: problem.into(),
        }
    }
}

/// A function from a variable's name to its value.
type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// Reads settings through a lookup function (`std::env::var` in production).
pub struct Settings<'a> {
    lookup: Lookup<'a>,
}

impl<'a> Settings<'a> {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self {
            lookup: Box::new(lookup),
        }
    }

    pub fn from_env() -> Settings<'static> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Settings from name/value pairs (tests, and tools that build an
    /// environment of their own). A later pair overrides an earlier one.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Settings<'static> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(move |name| map.get(name).cloned())
    }

    /// The trimmed value, with an empty value treated as unset.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The trimmed value, empty included: for settings where "set but
    /// empty" means off and unset means the default.
    pub fn present(&self, name: &str) -> Option<String> {
        (self.lookup)(name).map(|v| v.trim().to_owned())
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name)
            .ok_or_else(|| ConfigError::new(name, "is required but not set"))
    }

    pub fn boolean(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.optional(name).as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ConfigError::new(
                name,
                format!("must be true or false, not {other:?}"),
            )),
        }
    }

    pub fn integer(
        &self,
        name: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        let Some(text) = self.optional(name) else {
            return Ok(default);
        };
        let value: u64 = text
            .parse()
            .map_err(|_| ConfigError::new(name, format!("must be a whole number, not {text:?}")))?;
        if !range.contains(&value) {
            return Err(ConfigError::new(
                name,
                format!(
                    "must be from {} to {}, not {value}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(value)
    }

    pub fn decimal(
        &self,
        name: &'static str,
        default: f64,
        min: f64,
        max: f64,
    ) -> Result<f64, ConfigError> {
        let Some(text) = self.optional(name) else {
            return Ok(default);
        };
        let value: f64 = text
            .parse()
            .map_err(|_| ConfigError::new(name, format!("must be a number, not {text:?}")))?;
        if !(min..=max).contains(&value) {
            return Err(ConfigError::new(
                name,
                format!("must be from {min} to {max}, not {value}"),
            ));
        }
        Ok(value)
    }

    /// A comma-separated list; blanks between commas are dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.optional(name)
            .map(|text| {
                text.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A `scheme://host[:port]` base URL (the path is ours to append),
    /// without its trailing slash.
    pub fn base_url(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        self.optional(name)
            .map(|url| validate_base_url(&url).map_err(|problem| ConfigError::new(name, problem)))
            .transpose()
    }

    /// A `scheme://host[:port][/path]` URL to which paths are appended
    /// (8x8's `/analytics/work`, a SignalR endpoint), without its trailing
    /// slash.
    pub fn url_with_path(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        self.optional(name)
            .map(|url| {
                validate_url_with_path(&url).map_err(|problem| ConfigError::new(name, problem))
            })
            .transpose()
    }

    /// An AWS Region name such as `eu-west-2`, or `default` when unset.
    pub fn aws_region(
        &self,
        name: &'static str,
        default: impl FnOnce() -> String,
    ) -> Result<String, ConfigError> {
        let region = self.optional(name).unwrap_or_else(default);
        if !looks_like_aws_region(&region) {
            return Err(ConfigError::new(
                name,
                format!("must be an AWS Region such as us-east-1, not {region:?}"),
            ));
        }
        Ok(region)
    }
}

fn looks_like_aws_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

/// Accepts `scheme://host[:port]` (the path is ours to append), trimming a
/// trailing slash.
fn validate_base_url(url: &str) -> Result<String, String> {
    let trimmed = url.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| format!("must start with http:// or https://, not {url:?}"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        return Err(format!(
            "must be scheme://host[:port] with no path, not {url:?}"
        ));
    }
    Ok(trimmed.to_owned())
}

fn validate_url_with_path(url: &str) -> Result<String, String> {
    let trimmed = url.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| format!("must start with http:// or https://, not {url:?}"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || rest.contains(['?', '#', ' ']) {
        return Err(format!(
            "must be scheme://host[:port][/path] with no query, not {url:?}"
        ));
    }
    Ok(trimmed.to_owned())
}

/// A configuration read from settings: from the process environment at
/// cold start, or from any lookup in tests.
pub trait FromSettings: Sized {
    fn from_settings(settings: &Settings<'_>) -> Result<Self, ConfigError>;

    fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&Settings::from_env())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_settings(&Settings::from_lookup(lookup))
    }
}
