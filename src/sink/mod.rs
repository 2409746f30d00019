//! Where results go: the status file, the event log, and the atomic writes they share.

pub mod atomic;
pub mod events;
pub mod status;
pub mod status_writer;
