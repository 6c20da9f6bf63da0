//! Control-plane state: the durable [`store`] and the in-memory registry built from it, with
//! their one [`error`] type.

pub mod error;
pub mod record;
pub mod registry;
pub mod shared;
pub mod store;

pub use error::StateError;
pub use store::{Kind, S3StoreError, StateStore, StoreError};
