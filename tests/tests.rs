//! Integration tests: the real server on ephemeral ports, real origins, real clients.

mod common;

mod api;
mod api_codes;
mod api_ops;
mod api_readback;
mod api_resources;
mod api_sdk;
mod aws_credentials;
mod collapsing;
mod compress;
mod deploy;
mod disk_cache;
mod edge;
mod errpages;
mod failover;
mod fields;
mod foundation;
mod functions;
mod geo;
mod goaccess;
mod hardening;
mod headers;
mod kvs;
mod localstack_smoke;
mod metering;
mod origin_access;
mod ranges;
mod response_headers;
mod scaleout;
mod shield;
mod sign;
mod signers;
mod stale;
