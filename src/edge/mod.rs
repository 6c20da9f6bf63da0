//! The data plane: what happens to a viewer request between the listener and the origin.
//!
//! Stages, in order (each a module):
//! 1. `pattern`: path normalisation and behavior path patterns (used by routing);
//! 2. `pages`: the bodies of responses the edge generates itself.

pub mod compile;
pub mod headers;
pub mod pages;
pub mod pattern;
pub mod pipeline;
pub mod routing;

pub use pipeline::Edge;
