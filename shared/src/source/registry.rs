//! The one list of providers the poller knows, and what follows from it.
//!
//! Each [`Provider`] names the setting that turns it on and reads its own
//! settings. Which sources run, "no source configured", the tenant and the
//! one-queue-one-source rule are all derived from this list, so a new
//! provider is one line here and never an edit to the poller or the wiring.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{ConfigError, Settings};
use crate::sink::Tenant;
use crate::source::clarity::ClarityConfig;
use crate::source::connect::ConnectConfig;
use crate::source::eight_by_eight::EightByEightConfig;
use crate::source::symbee::SymbeeConfig;
use crate::source::{BuildError, QueueSource, SourceConfig, SourceDeps};

/// Reads one provider's settings: `None` when the provider is off.
pub type ReadSettings = fn(&Settings<'_>) -> Result<Option<Box<dyn SourceConfig>>, ConfigError>;

/// A provider of queue statistics, as the registry sees it.
pub struct Provider {
    /// The setting that turns the source on (named when none is on).
    pub switch: &'static str,
    /// What the provider is, for that message.
    pub title: &'static str,
    /// Its settings, or `None` when it is off.
    pub read: ReadSettings,
}

/// Reads a provider's settings into the trait object the registry keeps.
fn boxed<C: SourceConfig + 'static>(
    read: fn(&Settings<'_>) -> Result<Option<C>, ConfigError>,
    settings: &Settings<'_>,
) -> Result<Option<Box<dyn SourceConfig>>, ConfigError> {
    Ok(read(settings)?.map(|config| Box::new(config) as Box<dyn SourceConfig>))
}

/// Every provider, in the order their sources are polled and listed.
pub const PROVIDERS: &[Provider] = &[
    Provider {
        switch: SymbeeConfig::SWITCH,
        title: "Symbee Connect",
        read: |s| boxed(SymbeeConfig::from_settings, s),
    },
    Provider {
        switch: ConnectConfig::SWITCH,
        title: "Amazon Connect; CONNECT_INSTANCES for several instances",
        read: |s| boxed(ConnectConfig::from_settings, s),
    },
    Provider {
        switch: EightByEightConfig::SWITCH,
        title: "8x8 Work Analytics",
        read: |s| boxed(EightByEightConfig::from_settings, s),
    },
    Provider {
        switch: ClarityConfig::SWITCH,
        title: "Clarity Connect",
        read: |s| boxed(ClarityConfig::from_settings, s),
    },
];

/// The sources the settings turn on, validated. At least one.
#[derive(Debug)]
pub struct SourcesConfig {
    configs: Vec<Box<dyn SourceConfig>>,
}

impl SourcesConfig {
    pub fn from_settings(settings: &Settings<'_>) -> Result<Self, ConfigError> {
        Self::from_providers(PROVIDERS, settings)
    }

    fn from_providers(
        providers: &[Provider],
        settings: &Settings<'_>,
    ) -> Result<Self, ConfigError> {
        let mut configs = Vec::new();
        for provider in providers {
            if let Some(config) = (provider.read)(settings)? {
                configs.push(config);
            }
        }
        if configs.is_empty() {
            let choices: Vec<String> = providers
                .iter()
                .map(|p| format!("{} ({})", p.switch, p.title))
                .collect();
            return Err(ConfigError::new(
                providers.first().map_or("SOURCES", |p| p.switch),
                format!("no source is enabled: set {}", choices.join(" or ")),
            ));
        }
        Ok(Self { configs })
    }

    /// Each enabled source's settings, in registry order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn SourceConfig> {
        self.configs.iter().map(|c| c.as_ref())
    }

    /// The longest any source may take in one cycle (they run at once).
    pub fn cycle_budget(&self) -> Duration {
        self.iter()
            .map(|c| c.cycle_budget())
            .max()
            .unwrap_or(Duration::from_secs(1))
    }

    /// The tenant of the first source that knows one.
    pub fn tenant(&self) -> Option<Tenant> {
        self.iter().find_map(|c| c.tenant())
    }

    /// Every enabled source, built (a Connect instance each).
    pub fn build(&self, deps: &SourceDeps) -> Result<Vec<Arc<dyn QueueSource>>, BuildError> {
        let mut sources = Vec::new();
        for config in self.iter() {
            sources.extend(config.build_all(deps)?);
        }
        Ok(sources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceName;

    fn sources(pairs: &[(&str, &str)]) -> Result<SourcesConfig, ConfigError> {
        SourcesConfig::from_settings(&Settings::from_pairs(pairs))
    }

    #[test]
    fn no_source_fails_naming_every_switch() {
        let err = sources(&[]).unwrap_err();
        for provider in PROVIDERS {
            assert!(err.to_string().contains(provider.switch), "{err}");
        }
    }

    #[test]
    fn each_switch_turns_on_its_source_alone() {
        let symbee = sources(&[
            ("SYMBEE_COMPANY_CODE", "abc"),
            ("SYMBEE_ENVIRONMENT", "prod"),
        ])
        .unwrap();
        let names: Vec<SourceName> = symbee.iter().map(|c| c.name()).collect();
        assert_eq!(names, vec![SourceName::Symbee]);
        assert_eq!(symbee.tenant().unwrap().company_code, "abc");

        let connect = sources(&[("CONNECT_INSTANCE_ID", "abcd")]).unwrap();
        let names: Vec<SourceName> = connect.iter().map(|c| c.name()).collect();
        assert_eq!(names, vec![SourceName::Connect]);
        assert_eq!(connect.tenant(), None);
    }

    #[test]
    fn the_cycle_budget_is_the_longest_sources() {
        let both = sources(&[
            ("SYMBEE_COMPANY_CODE", "abc"),
            ("SYMBEE_ENVIRONMENT", "prod"),
            ("CONNECT_INSTANCE_ID", "abcd"),
            ("CONNECT_TIMEOUT_SECONDS", "30"),
        ])
        .unwrap();
        assert_eq!(both.cycle_budget(), Duration::from_secs(30));
        let names: Vec<SourceName> = both.iter().map(|c| c.name()).collect();
        assert_eq!(names, vec![SourceName::Symbee, SourceName::Connect]);
    }

    #[test]
    fn a_bad_setting_of_any_source_fails_naming_it() {
        let err = sources(&[
            ("CONNECT_INSTANCE_ID", "abcd"),
            ("SYMBEE_COMPANY_CODE", "abc"),
        ])
        .unwrap_err();
        assert_eq!(err.name, "SYMBEE_ENVIRONMENT");
    }
}
