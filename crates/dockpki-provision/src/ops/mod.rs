//! The operations: each takes an opened [`State`](crate::store::State) and a request value,
//! decides, writes through one journaled [`WritePlan`](crate::fs::WritePlan), and returns an
//! outcome value saying what was written, which daemons need a restart and what comes next.
//! Nothing here prints; the CLI turns outcomes into text or JSON.

pub mod bootstrap;
pub mod ca;
pub mod context;
pub mod converge;
pub mod crl;
pub mod export;
pub mod install;
pub mod issue;
pub mod renew;
pub mod request;
pub mod revoke;
pub mod rotate;
pub mod sign;
pub mod status;
#[cfg(test)]
mod test_fixtures;

pub use bootstrap::{bootstrap, BootstrapRequest, Bootstrapped, CaSource, NextSteps};
pub use ca::{CaCreated, CaInitRequest, Converted, PassphraseChanged};
pub use context::{ContextCreateRequest, ContextUpdateRequest, ContextWritten, Tracking};
pub use converge::{apply, plan, Action, ActionKind, Applied, Plan};
pub use crl::{crl, CrlGenerated, CrlRequest};
pub use export::{export_pkcs12, Pkcs12Exported, Pkcs12Request};
pub use install::{install, InstallRequest, Installed};
pub use issue::{issue, IssueRequest, Issued, LeafRequest};
pub use renew::{renew, RenewRequest, Renewal, Renewed, Selection};
pub use request::{request, CsrRequest, CsrSubject, KeyChoice, KeyOrigin, Requested};
pub use revoke::{revoke, Revocation, RevokeRequest, RevokedCertificate, Selector};
pub use sign::{sign, SignRequest, Signed};
pub use status::{
    status, CaStatus, CertStatus, DuplicateSerial, InstalledStatus, StatusReport, Verdict,
};
