//! The file system, below everything else: the one bounded reader, write plans that stage
//! files with their final modes and move them into place through a journal, the journal's
//! replay after a crash, and the directory-trust rules both obey.

pub mod journal;
pub mod layout_dir;
pub mod lock;
pub mod owner;
pub mod reader;
pub mod write;

pub use layout_dir::LayoutDir;
pub use lock::{lock_dir, DirLock};
pub use owner::{ActingAs, Owner, OwnerPolicy};
pub use write::{Existing, Previous, Replace, Skipped, WritePlan, Written};
