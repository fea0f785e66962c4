//! Integration tests: the real application over HTTP against real PostgreSQL.

mod helpers;

mod access;
mod alerts;
mod assessments;
mod auth;
mod bench_data;
mod briefings;
mod cli;
mod errors;
mod faults;
mod handling;
mod handling_catalogues;
mod hardening;
mod health;
mod idempotency;
mod integration_clients;
mod internal_content;
mod jwt;
mod local_db;
mod messages;
mod migrations;
mod office_rules;
mod open311;
mod public_board;
mod reference_data;
mod replicas;
mod replies;
mod revocation;
mod shutdown;
mod spec;
mod statistics;
mod sync;
mod text_hardening;
mod users;
mod webhooks;
