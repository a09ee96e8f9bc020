//! Positional parameter parsing with geth's rules and messages.
//!
//! Parameters are an array (or absent/null, meaning none). Trailing optional parameters may
//! be left out; a missing required one, an extra one, or one of the wrong type is an
//! "Invalid params" error naming the position.

use crate::error::RpcError;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A tuple of positional parameters.
pub trait FromParams: Sized {
    /// Number of positions.
    const ARITY: usize;
    /// Builds the tuple from exactly `ARITY` values (missing ones are null).
    fn from_items(items: Vec<Value>) -> Result<Self, RpcError>;
}

fn arg<T: DeserializeOwned>(value: Value, index: usize) -> Result<T, RpcError> {
    serde_json::from_value(value)
        .map_err(|e| RpcError::invalid_params(format!("invalid argument {index}: {e}")))
}

macro_rules! tuple_params {
    ($n:expr; $($t:ident $i:tt),+) => {
        impl<$($t: DeserializeOwned),+> FromParams for ($($t,)+) {
            const ARITY: usize = $n;
            fn from_items(items: Vec<Value>) -> Result<Self, RpcError> {
                let mut items = items.into_iter();
                Ok(($(arg::<$t>(items.next().unwrap_or(Value::Null), $i)?,)+))
            }
        }
    };
}

tuple_params!(1; A 0);
tuple_params!(2; A 0, B 1);
tuple_params!(3; A 0, B 1, C 2);
tuple_params!(4; A 0, B 1, C 2, D 3);

/// Parses `params` as the tuple `T`, of which the first `required` positions must be given.
pub fn parse<T: FromParams>(params: Value, required: usize) -> Result<T, RpcError> {
    let items = match params {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        Value::Object(_) => {
            return Err(RpcError::invalid_params(
                "parameters must be given as an array (by position)",
            ));
        }
        other => return Err(RpcError::invalid_params(format!("non-array parameters: {other}"))),
    };
    if items.len() > T::ARITY {
        return Err(RpcError::invalid_params(format!(
            "too many arguments, want at most {}",
            T::ARITY
        )));
    }
    if let Some(missing) = (0..required).find(|i| items.get(*i).is_none_or(Value::is_null)) {
        return Err(RpcError::invalid_params(format!(
            "missing value for required argument {missing}"
        )));
    }
    T::from_items(items)
}

/// Checks that a method that takes no parameters got none.
pub fn none(params: &Value) -> Result<(), RpcError> {
    match params {
        Value::Null => Ok(()),
        Value::Array(items) if items.is_empty() => Ok(()),
        Value::Array(_) => Err(RpcError::invalid_params("too many arguments, want at most 0")),
        _ => Err(RpcError::invalid_params("parameters must be given as an array (by position)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::Address;
    use serde_json::json;

    /// Optional trailing parameters may be omitted; the tuple gets `None`.
    #[test]
    fn optional_trailing() {
        let (a, b): (Address, Option<String>) =
            parse(json!(["0x0000000000000000000000000000000000000001"]), 1).unwrap();
        assert_eq!(a, Address::with_last_byte(1));
        assert_eq!(b, None);
    }

    /// Missing, extra and mistyped arguments are refused with messages naming the position.
    #[test]
    fn bad_arguments() {
        let e = parse::<(Address,)>(json!([]), 1).unwrap_err();
        assert_eq!(e.message, "Invalid params: missing value for required argument 0");
        let e = parse::<(Address,)>(json!(["0x00", 1]), 1).unwrap_err();
        assert_eq!(e.message, "Invalid params: too many arguments, want at most 1");
        let e =
            parse::<(Address, u64)>(json!(["0x0000000000000000000000000000000000000001", "x"]), 2)
                .unwrap_err();
        assert!(e.message.starts_with("Invalid params: invalid argument 1:"), "{}", e.message);
        let e = parse::<(Address,)>(json!({"a": 1}), 1).unwrap_err();
        assert_eq!(e.code, crate::error::INVALID_PARAMS);
        assert!(none(&json!([1])).is_err());
        assert!(none(&json!([])).is_ok());
    }
}
