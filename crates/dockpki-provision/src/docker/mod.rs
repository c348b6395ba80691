//! Docker's own formats and addresses: docker contexts and daemon endpoints.

pub mod api;
pub mod context;
pub mod endpoint;

pub use endpoint::TcpEndpoint;
pub mod daemon_json;
pub mod host_file;
pub mod probe;
pub mod systemd;
pub mod userns;
