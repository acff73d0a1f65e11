//! Integration tests: the simulator over real HTTP on loopback, driven with reqwest, with a
//! manual clock so time moves only when a test says so.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // reason: test helpers outside #[test] fns fail loudly and print skip notices

mod auth;
#[allow(dead_code)] // reason: not every test module uses every helper
mod common;
mod conformance;
mod durations;
mod filters;
mod images;
mod knobs;
mod lifecycle;
mod listing;
mod media_types;
mod python_client;
mod real_registry;
mod routes;
mod selector;
mod smoke;
mod stackato;
mod strictness;
