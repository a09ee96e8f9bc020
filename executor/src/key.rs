//! An executor's secp256k1 key: loaded from a key file or an environment variable, derived
//! from a mnemonic for dev committees, and never logged.
//!
//! - **Key file**: one line, 64 hex digits, `0x` optional, surrounding whitespace ignored. On
//!   unix a file that every user can read (mode `o+r`) is refused: `chmod 600` it.
//! - **Environment**: [`KEY_ENV`] (`ANH_EXECUTOR_KEY`), same format.
//! - **Dev keys**: [`dev_executor_keys`] derives executor `i` at `m/44'/60'/1'/0/i` of a BIP-39
//!   mnemonic — account 1 of the BIP-44 Ethereum tree, so dev executors never share a key
//!   with the dev accounts (account 0) that `anh node` funds.
//!
//! `Debug` prints the address only; errors name the file or variable, never the key.

use crate::error::{ExecutorError, Result};
use alloy_primitives::{Address, hex};
use alloy_signer_local::MnemonicBuilder;
use anh_primitives::signature::address_of;
use k256::ecdsa::SigningKey;
use std::{fmt, path::Path};

/// The environment variable an executor's key can come from.
pub const KEY_ENV: &str = "ANH_EXECUTOR_KEY";

/// The derivation path prefix of dev executor keys (`m/44'/60'/1'/0/i`).
pub const DEV_EXECUTOR_PATH: &str = "m/44'/60'/1'/0/";

/// An executor's signing key. `Debug` shows only its address.
#[derive(Clone)]
pub struct ExecutorKey {
    key: SigningKey,
    address: Address,
}

impl fmt::Debug for ExecutorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExecutorKey({})", self.address)
    }
}

impl ExecutorKey {
    /// The key `key`.
    pub fn new(key: SigningKey) -> Self {
        let address = address_of(&key);
        Self { key, address }
    }

    /// Parses 64 hex digits (`0x` optional, whitespace around ignored); `origin` names where
    /// they came from in errors.
    pub fn from_hex(text: &str, origin: &str) -> Result<Self> {
        let invalid = |reason: &str| ExecutorError::InvalidKey {
            origin: origin.to_string(),
            reason: reason.to_string(),
        };
        let text = text.trim();
        let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
        if digits.len() != 64 {
            return Err(invalid(&format!(
                "expected 64 hex digits (32 bytes), found {} characters",
                digits.len()
            )));
        }
        let bytes = hex::decode(digits).map_err(|_| invalid("not hexadecimal"))?;
        let key = SigningKey::from_slice(&bytes)
            .map_err(|_| invalid("zero or not below the secp256k1 group order"))?;
        Ok(Self::new(key))
    }

    /// Reads a key file (see the module docs), refusing one every user can read.
    pub fn from_file(path: &Path) -> Result<Self> {
        let io = |e: std::io::Error| ExecutorError::KeyFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let metadata = std::fs::metadata(path).map_err(io)?;
        if !metadata.is_file() {
            return Err(ExecutorError::KeyFile {
                path: path.to_path_buf(),
                reason: "not a regular file".into(),
            });
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o004 != 0 {
                return Err(ExecutorError::KeyFileWorldReadable { path: path.to_path_buf(), mode });
            }
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let (Some(line), None) = (lines.next(), lines.next()) else {
            return Err(ExecutorError::InvalidKey {
                origin: format!("key file {}", path.display()),
                reason: "expected exactly one non-empty line".into(),
            });
        };
        Self::from_hex(line, &format!("key file {}", path.display()))
    }

    /// The key in [`KEY_ENV`]; [`ExecutorError::NoKey`] if it is unset or empty.
    pub fn from_env() -> Result<Self> {
        Self::from_env_var(KEY_ENV)
    }

    /// The key in the environment variable `var`.
    pub fn from_env_var(var: &str) -> Result<Self> {
        match std::env::var(var) {
            Ok(text) if !text.trim().is_empty() => {
                Self::from_hex(&text, &format!("environment variable {var}"))
            }
            Ok(_) | Err(std::env::VarError::NotPresent) => Err(ExecutorError::NoKey),
            Err(std::env::VarError::NotUnicode(_)) => Err(ExecutorError::InvalidKey {
                origin: format!("environment variable {var}"),
                reason: "not valid UTF-8".into(),
            }),
        }
    }

    /// The key's Ethereum address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The secret key. Do not log it.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The secret key as `0x` and 64 hex digits — for printing *dev* keys only (`anh node`
    /// prints the deterministic dev committee's keys, as anvil prints its accounts').
    pub fn secret_hex(&self) -> String {
        hex::encode_prefixed(self.key.to_bytes())
    }
}

/// The keys of `n` dev executors: executor `i` at `m/44'/60'/1'/0/i` of `mnemonic`.
pub fn dev_executor_keys(mnemonic: &str, n: usize) -> Result<Vec<ExecutorKey>> {
    (0..n)
        .map(|i| {
            let signer = MnemonicBuilder::english()
                .phrase(mnemonic)
                .derivation_path(format!("{DEV_EXECUTOR_PATH}{i}"))
                .and_then(|b| b.build())
                .map_err(|e| {
                    ExecutorError::Config(format!("cannot derive dev executor {i}: {e}"))
                })?;
            Ok(ExecutorKey::new(signer.into_credential()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const KEY: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";

    fn key_file(contents: &str, mode: u32) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(contents.as_bytes()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = mode;
        file
    }

    /// A private key file loads with or without `0x`, with a trailing newline, and gives the
    /// same key.
    #[test]
    fn loads_key_files() {
        let plain = ExecutorKey::from_file(key_file(KEY, 0o600).path()).unwrap();
        let prefixed =
            ExecutorKey::from_file(key_file(&format!("0x{KEY}\n"), 0o400).path()).unwrap();
        assert_eq!(plain.address(), prefixed.address());
        assert_eq!(plain.secret_hex(), format!("0x{KEY}"));
    }

    /// Malformed files are refused with the file named, and the key never appears in an
    /// error or in `Debug`.
    #[test]
    fn refuses_bad_key_files() {
        for (name, contents) in [
            ("short", "0x1234"),
            ("not hex", &"zz".repeat(32)),
            ("zero", &"00".repeat(32)),
            ("two lines", &format!("{KEY}\n{KEY}\n")),
            ("empty", ""),
        ] {
            let file = key_file(contents, 0o600);
            let error = ExecutorKey::from_file(file.path()).expect_err(name).to_string();
            assert!(error.contains(&file.path().display().to_string()), "{name}: {error}");
            assert!(!error.contains(KEY), "{name}: the key leaks");
        }
        let key = ExecutorKey::from_hex(KEY, "test").unwrap();
        assert!(!format!("{key:?}").contains(KEY));
        assert!(format!("{key:?}").contains(&key.address().to_string()));
        let missing = ExecutorKey::from_file(Path::new("/nonexistent/anh-key")).unwrap_err();
        assert!(matches!(missing, ExecutorError::KeyFile { .. }), "{missing}");
    }

    /// A key file every user can read is refused with a message that says how to fix it.
    #[cfg(unix)]
    #[test]
    fn refuses_world_readable_key_file() {
        let file = key_file(KEY, 0o644);
        let error = ExecutorKey::from_file(file.path()).unwrap_err();
        assert!(matches!(error, ExecutorError::KeyFileWorldReadable { mode: 0o644, .. }));
        assert!(error.to_string().contains("chmod 600"), "{error}");
        assert!(ExecutorKey::from_file(key_file(KEY, 0o640).path()).is_ok(), "group-readable");
    }

    /// The environment variable is read like a key file; unset means "no key".
    #[test]
    fn loads_key_from_env() {
        // A variable of this test's own, so that tests running in parallel do not race.
        let var = "ANH_EXECUTOR_KEY_UNIT_TEST";
        // SAFETY: no other thread reads or writes this variable.
        unsafe { std::env::set_var(var, format!(" 0x{KEY}\n")) };
        let key = ExecutorKey::from_env_var(var).unwrap();
        assert_eq!(key.secret_hex(), format!("0x{KEY}"));
        unsafe { std::env::set_var(var, "nonsense") };
        let error = ExecutorKey::from_env_var(var).unwrap_err().to_string();
        assert!(error.contains(var), "{error}");
        unsafe { std::env::remove_var(var) };
        assert!(matches!(ExecutorKey::from_env_var(var), Err(ExecutorError::NoKey)));
    }

    /// Dev keys are deterministic, distinct, and not the dev accounts' keys.
    #[test]
    fn dev_keys_are_deterministic() {
        let mnemonic = "test test test test test test test test test test test junk";
        let a = dev_executor_keys(mnemonic, 3).unwrap();
        let b = dev_executor_keys(mnemonic, 3).unwrap();
        let addresses: Vec<_> = a.iter().map(ExecutorKey::address).collect();
        assert_eq!(addresses, b.iter().map(ExecutorKey::address).collect::<Vec<_>>());
        assert_eq!(addresses.iter().collect::<std::collections::HashSet<_>>().len(), 3);
        // Account 0 of the dev mnemonic (anvil's first account) is not an executor.
        let first_account: Address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".parse().unwrap();
        assert!(!addresses.contains(&first_account));
    }
}
