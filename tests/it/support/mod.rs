//! Shared helpers of the integration tests, included once by `main.rs`.
pub mod fault_config;
pub mod fault_server;
pub mod prom_engine;
pub mod prom_fake;
pub mod state;
pub mod tmux;
pub mod wait;
