//! pulsewatch: tells, passively and at once, whether each AI agent on a host is alive,
//! quiet, stalled or orphaned.
//!
//! Data flows config → discover → probe → classify → state → sinks; `monitor` is the engine
//! that runs that flow for every worker, `daemon` drives it over time, `cli` sits on top.

pub mod classify;
pub mod cli;
pub mod config;
pub mod content;
pub mod daemon;
pub mod discover;
pub mod event;
pub mod hooks;
pub mod http;
pub mod identity;
pub mod metrics;
pub mod model;
pub mod monitor;
pub mod probe;
pub mod service;
pub mod sink;
pub mod state;
pub mod timefmt;
pub mod watch;
