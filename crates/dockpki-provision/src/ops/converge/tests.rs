//! The round trips of plan and apply.
