//! Protocol flows: the rules of the RFCs as plain functions over typed inputs.

pub mod discovery;
