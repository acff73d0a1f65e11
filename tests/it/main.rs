//! End-to-end tests: one binary, one module per boundary.

mod apply;
mod cf_http;
mod cf_v2;
mod cf_v3;
mod cli;
mod examples;
mod logs;
mod observe;
mod reconcile;
mod registry;
mod robustness;
mod schema;
mod tidy;
