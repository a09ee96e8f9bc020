//! Tracing: re-executing transactions and calls with an inspector (`debug_trace*`).
