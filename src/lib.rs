//! liuyan: the API behind a provincial leadership message board.
//!
//! The crate is a library so that the binary (`src/main.rs`) and the integration tests build the
//! very same application: [`startup::Application`] wires configuration, database, router and spec.

pub mod app;
pub mod auth;
#[cfg(feature = "bench-seed")]
pub mod bench;
pub mod clock;
pub mod configuration;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod openapi;
pub mod routes;
pub mod scheduler;
pub mod schema;
pub mod seed;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod webhooks;
