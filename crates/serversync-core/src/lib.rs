//! serversync-core: the pure heart of serversync.
//!
//! Domain types ([`model`]), the module contract and its WHMCS wire form ([`module`]),
//! identifier normalisation ([`normalize`]), the analysis of one server ([`analysis`]),
//! plans ([`plan`]), the miss counter's meaning ([`misses`]) and the shrunken-listing check ([`shrink`]). No IO, no async runtime: every function here is deterministic.

pub mod analysis;
pub mod changes;
pub mod json_text;
pub mod misses;
pub mod model;
pub mod module;
pub mod normalize;
pub mod plan;
pub mod shrink;

/// Errors of the core crate: invalid values, each naming what was wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// A value broke a rule; the message names the value and the rule.
    #[error("{0}")]
    Invalid(String),
}
