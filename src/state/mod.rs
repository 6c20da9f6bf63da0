//! Control-plane state: the durable [`store`] and the in-memory registry built from it.

pub mod record;
pub mod store;

pub use store::{Kind, StateStore, StoreError};
