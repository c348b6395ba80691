//! The state directory: the CA (plain or encrypted key), the inventory of every certificate
//! issued and where it was installed, the lock that serializes processes, expiry rules and the
//! re-issuing of recorded certificates.

pub mod ca_key;
pub mod expiry;
pub mod inventory;
pub mod reissue;
pub mod state;

pub use ca_key::{KeyPerms, NoPassphrase, Passphrase, Passphrases, Purpose};
pub use inventory::{Inventory, Record};
pub use state::{Create, FedPlan, KeyProtection, Settings, State};
