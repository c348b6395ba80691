//! The `dockpki.toml` format as written: what serde reads, before any value is checked.
//!
//! Every table refuses unknown keys (a misspelt `validty` would otherwise be ignored and the
//! default silently used), and every value that [`super::validate`] checks is kept with its
//! span, so that its error can name the line and column.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    pub ca: Spanned<Ca>,
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub profiles: BTreeMap<Spanned<String>, Profile>,
    #[serde(default)]
    pub policy: Policy,
    #[serde(default)]
    pub server: Vec<Spanned<Server>>,
    #[serde(default)]
    pub client: Vec<Spanned<Client>>,
}

/// `[ca]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Ca {
    pub name: Option<Spanned<String>>,
    pub key_type: Option<Spanned<String>>,
    pub validity: Option<Spanned<String>>,
    #[serde(default)]
    pub permit_dns: Vec<Spanned<String>>,
    #[serde(default)]
    pub permit_ip: Vec<Spanned<String>>,
}

/// `[defaults]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Defaults {
    pub key_type: Option<Spanned<String>>,
    pub server_validity: Option<Spanned<String>>,
    pub client_validity: Option<Spanned<String>>,
    pub renew_before: Option<Spanned<String>>,
}

/// `[profiles.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Profile {
    pub key_type: Option<Spanned<String>>,
    pub validity: Option<Spanned<String>>,
    pub renew_before: Option<Spanned<String>>,
}

/// `[policy]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Policy {
    pub removed: Option<Spanned<String>>,
}

/// One `[[server]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Server {
    pub name: Spanned<String>,
    pub sans: Spanned<Vec<Spanned<String>>>,
    pub install: Spanned<String>,
    pub profile: Option<Spanned<String>>,
    pub key_type: Option<Spanned<String>>,
    pub validity: Option<Spanned<String>>,
    pub renew_before: Option<Spanned<String>>,
    pub daemon_config: Option<DaemonConfig>,
}

/// A server's `daemon_config = { file = "...", harden = true, listen = [...] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DaemonConfig {
    pub file: Spanned<String>,
    #[serde(default)]
    pub harden: bool,
    pub listen: Option<Spanned<Vec<Spanned<String>>>>,
}

/// One `[[client]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Client {
    pub name: Spanned<String>,
    pub install: Spanned<String>,
    pub owner: Option<Spanned<String>>,
    pub profile: Option<Spanned<String>>,
    pub key_type: Option<Spanned<String>>,
    pub validity: Option<Spanned<String>>,
    pub renew_before: Option<Spanned<String>>,
    pub context: Option<Context>,
}

/// A client's `context = { name = "...", host = "tcp://..." }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Context {
    pub name: Spanned<String>,
    pub host: Spanned<String>,
}
