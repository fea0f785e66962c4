//! Integration tests: the real application over HTTP against real PostgreSQL.

mod helpers;

mod auth;
mod errors;
mod health;
mod idempotency;
mod jwt;
mod migrations;
mod reference_data;
mod spec;
mod users;
