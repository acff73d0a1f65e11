//! driftless: a declarative GitOps reconciler for docker-image apps on Cloud Foundry and
//! HP Stackato. See `docs/ARCHITECTURE.md` for the map of modules and the flow of a reconcile.

pub mod apply;
pub mod cf;
pub mod cli;
pub mod diag;
pub mod load;
pub mod model;
pub mod plan;
pub mod reconcile;
pub mod registry;
pub mod render;
pub mod secret;
pub mod yaml;
