//! Control-plane state: the durable [`store`] and the in-memory registry built from it.

pub mod record;
pub mod registry;
pub mod store;

pub use store::{Kind, StateStore, StoreError};
