//! rollwatch: a terminal dashboard for feature-flag rollouts. It polls a flag backend and a
//! metrics source, shows the legacy and the new code path side by side with alert rules, and
//! steers the rollout through confirmed, compare-and-set, audited writes.
//!
//! The binary is a thin edge over this library so integration tests can drive the state,
//! the pure `update` and the view without a terminal.

// Unit tests assert exact values from exact arithmetic (0.0, 1.0, x / 1000 of whole numbers).
#![cfg_attr(test, allow(clippy::float_cmp))]

pub mod alerts;
pub mod app;
pub mod audit;
pub mod backends;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod demo;
pub mod flags;
pub mod metrics;
pub mod model;
pub mod net;
pub mod paths;
pub mod record;
pub mod replay;
pub mod rng;
pub mod secret;
pub mod sim;
pub mod stats;
pub mod ui;
