//! Rust bindings of the precompiles' Solidity interface, `contracts/src/dnn/IDnn.sol`.
//!
//! The `.sol` file is the one definition of the ABI; `sol!` derives the types, call and
//! return encodings, events and errors from it.

#![allow(missing_docs)]

alloy_sol_types::sol!(
    #[sol(all_derives)]
    "../contracts/src/dnn/IDnn.sol"
);
