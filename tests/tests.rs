//! Integration tests: the real server on ephemeral ports, real origins, real clients.

mod common;

mod api;
mod collapsing;
mod compress;
mod edge;
mod errpages;
mod failover;
mod fields;
mod foundation;
mod functions;
mod geo;
mod goaccess;
mod headers;
mod localstack_smoke;
mod metering;
mod sign;
mod signers;
mod stale;
