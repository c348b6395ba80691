//! # dockpki-provision
//!
//! The provisioning engine of dockpki: everything between the certificate maths of the
//! [`dockpki`] crate and a Docker host's file system. It writes files crash-safely with the
//! modes and owners Docker needs ([`fs`]), knows the layouts dockerd and the docker CLI read
//! ([`layout`]), keeps the CA, the inventory and the lock in a state directory ([`store`]),
//! and speaks Docker's configuration formats ([`docker`]).
//!
//! The engine decides and returns values; it prints nothing and reads no environment
//! variables. What only its caller knows (how to ask for a passphrase, who owns the client
//! files, how long to wait for a lock, where notices go) is passed in through
//! [`store::Settings`] and the [`report::Report`] trait. Errors carry an [`Advice`] instead of
//! naming command-line flags.
//!
//! Unix only: ownership, modes, `flock`, `O_NOFOLLOW` and `/proc/self/fd` are part of what
//! makes the writes safe.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::missing_errors_doc)]

pub mod audit;
pub mod config;
pub mod docker;
mod error;
pub mod fs;
pub mod health;
pub mod layout;
pub mod ops;
mod parallel;
pub mod report;
pub mod store;
#[cfg(test)]
mod test_support;
pub mod text;

pub use dockpki;
pub use error::{Advice, Error, Result};
