//! Integration tests: the real server on ephemeral ports, real origins, real clients.

mod common;

mod api;
mod edge;
mod fields;
mod foundation;
mod goaccess;
mod localstack_smoke;
mod metering;
mod sign;
mod signers;
